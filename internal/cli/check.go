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
	"github.com/proffconnect/proffsync/internal/notify"
	"github.com/proffconnect/proffsync/internal/orgnr"
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
	fmt.Fprintln(tw, "DATA POINT\tTYPE\tUNIT\tDESCRIPTION")
	for _, p := range proff.Catalogue() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.Kind, p.Unit, p.Description)
	}
	tw.Flush()
	fmt.Fprintln(w, `
Any other path of the Proff register document can be mapped too (dots for objects, [i] for array items,
matched case-insensitively); it arrives as text. Data about persons (personRoles, contactPerson,
procuration..., signatories, person shareholders) is never mappable.`)
}

// checkReport collects check's results and prints each as it comes (text), or all at the end (--json).
type checkReport struct {
	c       *checkCmd
	results []checkResult
	failed  bool // a check failed: exit 1
	config  bool // a check failed on the configuration (what run would refuse with 78): exit 78
}

func (r *checkReport) add(name, status, detail string) {
	r.results = append(r.results, checkResult{Name: name, Status: status, Detail: detail})
	if !r.c.json {
		printCheck(r.c.stdout, r.results[len(r.results)-1])
	}
}

// report adds a check's outcome: ok, or failed with the error scrubbed and escaped. A configuration error
// marks the report as one run would refuse.
func (r *checkReport) report(name string, err error, ok string) {
	if err == nil {
		r.add(name, checkOK, ok)
		return
	}
	r.failed = true
	r.config = r.config || config.IsError(err)
	r.add(name, checkFailed, r.c.printable(oneLine(err.Error())))
}

// check runs every check it can and reports each; it fails (exit 1, or 78 for configuration) when any did.
// Every detail that may quote Salesforce, Proff or PostgreSQL is scrubbed and escaped before it is printed.
// What run would refuse as configuration (exit 78) check refuses the same way, so that nothing check passes
// makes run exit 78.
func (c *checkCmd) check(ctx context.Context, cfg *config.Config, res resolved) error {
	r := &checkReport{c: c}
	c.checkConfig(r, cfg)
	if c.offline {
		for _, name := range []string{"postgresql", "salesforce", "proff"} {
			r.add(name, checkSkipped, "--offline")
		}
		return c.finish(r, "offline check passed: the config file and the environment are valid")
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	st, rec := c.checkDatabase(cctx, r, cfg)
	if st != nil {
		defer st.Close()
	}
	if cfg.Env.RequireSalesforce() == nil {
		warnings, err := c.checkSalesforce(cctx, cfg, res, rec)
		r.report("salesforce", err, "logged in ("+cfg.Env.SFAuthFlow+"); every mapped field exists, is editable and can hold its data point; the selection query runs")
		for _, w := range warnings {
			r.add("mapping", checkWarning, c.printable(w))
		}
	} else {
		r.add("salesforce", checkSkipped, "no Salesforce credentials")
	}
	if cfg.Env.RequireProff() == nil {
		quota, err := c.checkProff(cctx, cfg, res, rec)
		r.report("proff", err, "token accepted; "+quota)
	} else {
		r.add("proff", checkSkipped, "no Proff token")
	}
	return c.finish(r, "all checks passed")
}

// finish prints the JSON report and turns the results into the exit code: 78 when run would refuse the
// configuration, 1 when another check failed.
func (c *checkCmd) finish(r *checkReport, passed string) error {
	if err := c.writeResults(r.results); err != nil {
		return err
	}
	switch {
	case r.config:
		return &ExitError{Code: ExitConfig, Err: errors.New("the configuration is not complete or not accepted (see the FAIL lines)")}
	case r.failed:
		return &ExitError{Code: ExitFailed, Err: errors.New("some checks failed")}
	}
	if !c.json {
		fmt.Fprintln(c.stdout, passed)
	}
	return nil
}

// checkConfig reports what needs no network: the file, the environment (masked), the credentials the
// flow needs, the JWT key, and the mapping's warnings.
func (c *checkCmd) checkConfig(r *checkReport, cfg *config.Config) {
	schedule := "disabled"
	if cfg.Schedule.Enabled {
		schedule = fmt.Sprintf("enabled, %q in %s", cfg.Schedule.Cron, cfg.Schedule.Timezone)
	}
	r.add("config", checkOK, fmt.Sprintf("%s: %s, %d mapped fields, schedule %s", c.printable(cfg.Path), cfg.Salesforce.Object, len(cfg.Mapping), schedule))
	r.add("sync", checkOK, syncText(cfg.Sync))
	r.add("notify", checkOK, notifyText(cfg))
	if !c.json {
		fmt.Fprintln(c.stdout, "environment")
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, row := range cfg.Env.Describe() {
			fmt.Fprintf(tw, "  %s\t%s\n", row[0], safetext.Escape(row[1]))
		}
		tw.Flush()
	}
	for _, s := range cfg.Env.Warnings {
		r.add("environment", checkWarning, c.printable(s))
	}
	// run needs both services' credentials whatever --offline says: a check that passed without them would
	// let run exit 78.
	for _, err := range []error{cfg.Env.RequireSalesforce(), cfg.Env.RequireProff(), checkJWTKey(cfg.Env)} {
		if err != nil {
			r.report("credentials", err, "")
		}
	}
	for _, rule := range cfg.Mapping {
		for _, w := range proff.PathWarnings(rule.Proff) {
			r.add("mapping", checkWarning, c.printable(w))
		}
	}
}

// checkJWTKey parses the JWT flow's key as the Salesforce client will, without logging in.
func checkJWTKey(e config.Env) error {
	if e.SFAuthFlow != config.FlowJWT || len(e.SFJWTKey) == 0 {
		return nil
	}
	if err := salesforce.ParseJWTKey(e.SFJWTKey); err != nil {
		return &config.Error{Source: "environment", Issues: []string{"SF_JWT_KEY_FILE: " + e.SFJWTKeyFile + ": " + err.Error()}}
	}
	return nil
}

func syncText(s config.Sync) string {
	feed := "off"
	if s.ChangeFeed {
		feed = "on"
	}
	refresh := "every company looked up on every run"
	if s.RefreshDays > 0 {
		refresh = fmt.Sprintf("looked up again after %d days", s.RefreshDays)
	}
	limit := "no lookup cap"
	if s.MaxLookups > 0 {
		limit = fmt.Sprintf("at most %d lookups per run", s.MaxLookups)
	}
	return fmt.Sprintf("change feed %s; elsewhere %s; %s", feed, refresh, limit)
}

func notifyText(cfg *config.Config) string {
	on := make([]string, 0, len(cfg.Notify.On))
	for _, s := range cfg.Notify.On {
		on = append(on, string(s))
	}
	switch {
	case cfg.Env.NotifyWebhookURL == "":
		return "off (NOTIFY_WEBHOOK_URL is not set)"
	case len(on) == 0:
		return "off (notify.on is empty)"
	}
	return fmt.Sprintf("runs that end %s are posted to %s", strings.Join(on, " or "), notify.MaskURL(cfg.Env.NotifyWebhookURL))
}

// checkDatabase reaches PostgreSQL; it returns the store (to close) and its technical log when migrated.
func (c *checkCmd) checkDatabase(ctx context.Context, r *checkReport, cfg *config.Config) (*store.Store, transport.Recorder) {
	var rec transport.Recorder
	pgNote := "reachable, migrations applied"
	st, err := store.OpenWith(ctx, cfg.Env.DatabaseURL, c.log, store.Options{})
	if err == nil {
		if rerr := st.Ready(ctx); rerr != nil {
			// run, serve and demo migrate by themselves: pending migrations are not a failure.
			pgNote = "reachable; migrations pending (run, serve and migrate apply them)"
		} else {
			rec = st.CallLog()
		}
	} else if isNoDatabase(err) {
		err, pgNote = nil, "reachable; the database does not exist yet (run, serve and migrate create it)"
	}
	r.report("postgresql", err, pgNote)
	return st, rec
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

// checkSalesforce logs in, checks the mapping against describe as a run will, and runs the selection query
// with LIMIT 1, so that a filter Salesforce refuses is found now, not by the first run. It returns the
// mapping's currency warnings: an amount into a currency field of an org whose currency is not the
// companies' is written as it is.
func (a *app) checkSalesforce(ctx context.Context, cfg *config.Config, res resolved, rec transport.Recorder) ([]string, error) {
	sf, err := a.newSalesforce(cfg, rec)
	if err != nil {
		return nil, configErr(err)
	}
	if err := sf.Login(ctx); err != nil {
		return nil, err
	}
	fields, err := sf.Describe(ctx)
	if err != nil {
		return nil, err
	}
	if err := mappingProblems(sf, res, fields); err != nil {
		return nil, err
	}
	if err := sf.CheckSelection(ctx); err != nil {
		return nil, err
	}
	return a.currencyWarnings(ctx, sf, cfg, res, fields), nil
}

// currencyWarnings compares the org's currency with the reporting currency of the countries the records
// can be in: the default country, or all four when a country field says.
func (a *app) currencyWarnings(ctx context.Context, sf *salesforce.Client, cfg *config.Config, res resolved, fields map[string]mapping.Field) []string {
	types := map[string]string{}
	for _, r := range res.rules {
		types[r.Point] = fields[r.Field].Type
	}
	countries := []orgnr.Country{orgnr.Country(cfg.Salesforce.DefaultCountry)}
	if cfg.Salesforce.CountryField != "" {
		countries = orgnr.Countries
	}
	if len(proff.CurrencyWarnings(res.points, types, "", countries)) == 0 {
		return nil // no amount goes to a currency field: the org's currency does not matter
	}
	cur, err := sf.OrgCurrency(ctx)
	if err != nil {
		return []string{"amounts are mapped to currency fields, but the org's currency could not be read to compare: " + oneLine(err.Error())}
	}
	return proff.CurrencyWarnings(res.points, types, cur, countries)
}

// checkMapping asks describe, before the engine records a run, whether the mapping fits the object: a
// mapping describe rejects is a configuration error (exit 78) and no run is recorded for it. A describe that
// fails is left to the run, which records why.
func (a *app) checkMapping(ctx context.Context, sf *salesforce.Client, res resolved) error {
	fields, err := sf.Describe(ctx)
	if err != nil {
		return nil
	}
	return mappingProblems(sf, res, fields)
}

// mappingProblems checks the mapping and the configured fields against describe; every problem is listed in
// one *config.Error.
func mappingProblems(sf *salesforce.Client, res resolved, fields map[string]mapping.Field) error {
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
		return &config.Error{Source: "Salesforce describe", Issues: problems}
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
