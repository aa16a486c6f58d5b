package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/safetext"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/transport"
)

func checkSpec() spec {
	return spec{name: "check", summary: "validate config, database, Salesforce and the Proff token",
		help: `Validates the config file and the environment, reaches PostgreSQL, logs in to Salesforce and checks
every mapped field against describe (exists, editable by the integration user, type can hold the
data point), validates the Proff token and reads its quota. Secrets are shown masked (****+last 4).
--offline checks the config file and the environment only; --catalogue lists the mappable Proff data
points with their types (and needs nothing else). --json prints the checks as a JSON array of
{"name","status","detail"}, status ok, warning, failed or skipped.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &checkCmd{app: a}
			fs.BoolVar(&c.offline, "offline", false, "check the config file and environment only; reach no service")
			fs.BoolVar(&c.catalogue, "catalogue", false, "list the mappable Proff data points with their types")
			fs.BoolVar(&c.json, "json", false, `print the checks as a JSON array of {"name","status","detail"}`)
			return c
		}}
}

type checkCmd struct {
	*app
	offline, catalogue, json bool
}

func (c *checkCmd) Validate() error { return nil }

func (c *checkCmd) Run(ctx context.Context) error {
	if c.catalogue {
		printCatalogue(c.stdout)
		return nil
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	res, err := resolveMapping(cfg)
	if err != nil {
		return err
	}
	return c.check(ctx, cfg, res)
}

// Statuses of a check.
const (
	checkOK      = "ok"
	checkWarning = "warning"
	checkFailed  = "failed"
	checkSkipped = "skipped"
)

// checkResult is one line of check's report; under --json, one element of its array.
type checkResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

func printCatalogue(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATA POINT\tTYPE\tDESCRIPTION")
	for _, p := range proff.Catalogue() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Kind, p.Description)
	}
	tw.Flush()
	fmt.Fprintln(w, `
Any other path of the Proff register document can be mapped too (dots for objects, [i] for array items,
matched case-insensitively); it arrives as text. Data about persons (personRoles, contactPerson,
procuration..., signatories, person shareholders) is never mappable.`)
}

// check runs every check it can and reports each; it fails (exit 1, or 78 for configuration) when any did.
// Every detail that may quote Salesforce, Proff or PostgreSQL is scrubbed and escaped before it is printed.
func (c *checkCmd) check(ctx context.Context, cfg *config.Config, res resolved) error {
	var results []checkResult
	add := func(name, status, detail string) {
		results = append(results, checkResult{Name: name, Status: status, Detail: detail})
		if !c.json {
			printCheck(c.stdout, results[len(results)-1])
		}
	}
	schedule := "disabled"
	if cfg.Schedule.Enabled {
		schedule = fmt.Sprintf("enabled, %q in %s", cfg.Schedule.Cron, cfg.Schedule.Timezone)
	}
	add("config", checkOK, fmt.Sprintf("%s: %s, %d mapped fields, schedule %s", c.printable(cfg.Path), cfg.Salesforce.Object, len(cfg.Mapping), schedule))
	if !c.json {
		fmt.Fprintln(c.stdout, "environment")
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, row := range cfg.Env.Describe() {
			fmt.Fprintf(tw, "  %s\t%s\n", row[0], safetext.Escape(row[1]))
		}
		tw.Flush()
	}
	for _, s := range cfg.Env.Warnings {
		add("environment", checkWarning, c.printable(s))
	}
	var cfgIssues []string
	if err := cfg.Env.RequireSalesforce(); err != nil {
		cfgIssues = append(cfgIssues, err.Error())
	}
	if err := cfg.Env.RequireProff(); err != nil && (cfg.Schedule.Enabled || !c.offline) {
		cfgIssues = append(cfgIssues, err.Error())
	}
	for _, s := range cfgIssues {
		add("credentials", checkFailed, c.printable(s))
	}
	if c.offline {
		for _, name := range []string{"postgresql", "salesforce", "proff"} {
			add(name, checkSkipped, "--offline")
		}
		if err := c.writeResults(results); err != nil {
			return err
		}
		if len(cfgIssues) > 0 {
			return &ExitError{Code: ExitConfig, Err: errors.New("configuration is incomplete")}
		}
		if !c.json {
			fmt.Fprintln(c.stdout, "offline check passed: the config file and the environment are valid")
		}
		return nil
	}
	failed := len(cfgIssues) > 0
	report := func(name string, err error, ok string) {
		if err != nil {
			failed = true
			add(name, checkFailed, c.printable(oneLine(err.Error())))
			return
		}
		add(name, checkOK, ok)
	}

	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var rec transport.Recorder
	pgNote := "reachable, migrations applied"
	st, err := store.OpenWith(cctx, cfg.Env.DatabaseURL, c.log, store.Options{})
	if err == nil {
		defer st.Close()
		if rerr := st.Ready(cctx); rerr != nil {
			// run, serve and demo migrate by themselves: pending migrations are not a failure.
			pgNote = "reachable; migrations pending (run, serve and migrate apply them)"
		} else {
			rec = st.CallLog()
		}
	} else if isNoDatabase(err) {
		err, pgNote = nil, "reachable; the database does not exist yet (run, serve and migrate create it)"
	}
	report("postgresql", err, pgNote)

	if cfg.Env.RequireSalesforce() == nil {
		report("salesforce", c.checkSalesforce(cctx, cfg, res, rec), "logged in ("+cfg.Env.SFAuthFlow+"); every mapped field exists, is editable and can hold its data point")
	} else {
		add("salesforce", checkSkipped, "no Salesforce credentials")
	}
	if cfg.Env.RequireProff() == nil {
		quota, err := c.checkProff(cctx, cfg, res, rec)
		report("proff", err, "token accepted; "+quota)
	} else {
		add("proff", checkSkipped, "no Proff token")
	}
	if err := c.writeResults(results); err != nil {
		return err
	}
	if failed {
		return &ExitError{Code: ExitFailed, Err: errors.New("some checks failed")}
	}
	if !c.json {
		fmt.Fprintln(c.stdout, "all checks passed")
	}
	return nil
}

// printCheck prints one result as a line of the text report. A skipped check prints nothing there: the
// report says what was checked.
func printCheck(w io.Writer, r checkResult) {
	switch r.Status {
	case checkOK:
		fmt.Fprintf(w, "%-11s ok    %s\n", r.Name, r.Detail)
	case checkFailed:
		fmt.Fprintf(w, "%-11s FAIL  %s\n", r.Name, r.Detail)
	case checkWarning:
		fmt.Fprintf(w, "warning     %s\n", r.Detail)
	}
}

// writeResults prints the whole report as JSON under --json.
func (c *checkCmd) writeResults(results []checkResult) error {
	if !c.json {
		return nil
	}
	return writeJSON(c.stdout, results)
}

// isNoDatabase says whether err is PostgreSQL's "database does not exist" (SQLSTATE 3D000).
func isNoDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}

func (a *app) checkSalesforce(ctx context.Context, cfg *config.Config, res resolved, rec transport.Recorder) error {
	sf, err := a.newSalesforce(cfg, rec)
	if err != nil {
		return err
	}
	if err := sf.Login(ctx); err != nil {
		return err
	}
	fields, err := sf.Describe(ctx)
	if err != nil {
		return err
	}
	var problems []string
	mapErr := mapping.Check(res.rules, res.kinds, fields)
	if mapErr != nil {
		problems = append(problems, mapErr.Error())
	}
	if err := sf.ValidateFields(fields); err != nil {
		fe := &salesforce.FieldsError{Problems: []string{err.Error()}}
		errors.As(err, &fe)
		for _, p := range fe.Problems {
			// The mapping check above already speaks of the mapped fields, in its own words.
			if mapErr == nil || !strings.HasPrefix(p, "mapped field") {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func (a *app) checkProff(ctx context.Context, cfg *config.Config, res resolved, rec transport.Recorder) (string, error) {
	pc, err := a.newProff(cfg, res, rec)
	if err != nil {
		return "", err
	}
	ti, err := pc.TokenInfo(ctx)
	if errors.Is(err, massupdate.ErrUnauthorized) {
		return "", errors.New("the Proff API rejected the token (401): check PROFF_API_TOKEN")
	}
	if err != nil {
		return "", err
	}
	l, p := ti.CallLimit, ti.CallsPerformed
	var parts []string
	add := func(name string, used, limit int64) {
		if limit > 0 {
			parts = append(parts, fmt.Sprintf("%d of %d per %s used", used, limit, name))
		}
	}
	add("minute", p.LastMinute, l.PerMinute)
	add("hour", p.LastHour, l.PerHour)
	add("day", p.LastDay, l.PerDay)
	add("month", p.LastMonth, l.PerMonth)
	if len(parts) == 0 {
		return "no call limits reported", nil
	}
	return "quota: " + strings.Join(parts, ", "), nil
}
