package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/safetext"
	"github.com/proffconnect/proffsync/internal/store"
)

func historySpec() spec {
	return spec{name: "history", args: "[show RUN_ID]", summary: "list recent runs, or show one run in full", maxArgs: 2,
		help: `Without arguments: the most recent runs, newest first (short id, start, trigger, status, duration,
counts, and the error of a failed or interrupted run on the line below). --wide shows every column.
'history show RUN_ID': one run in full: its summary, how often each field changed, every record that
was not updated or unchanged with its reason and whether its data was fresh from Proff or stored, and
every field change (old -> new). RUN_ID may be the full id, a unique prefix of 4 or more of its
characters, or 'latest'.

'history show RUN_ID --csv' prints the records that were not updated or unchanged as a CSV that Data
Loader reads: Id, the org number field and the country field under their API names (from the run's
settings), then Outcome, Error and Data (fresh or stored). Fix the values in a spreadsheet and update
the records with Data Loader, mapping Id and the fields you fixed. '--csv=changes' prints every field
change instead: Id, Field, Old, New. Values starting with = + - or @ that are not numbers are prefixed
with ' so that a spreadsheet does not run them as formulas.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &historyCmd{app: a}
			fs.IntVar(&c.limit, "limit", 20, "how many runs to list")
			fs.BoolVar(&c.json, "json", false, "print JSON (an array of run summaries; with show, the run in full)")
			fs.BoolVar(&c.wide, "wide", false, "list every column: full ids, every count, lookups, API calls, the whole error")
			fs.StringVar(&c.statusArg, "status", "", "list only runs with these statuses, comma-separated (succeeded, partial, failed, interrupted, running)")
			fs.StringVar(&c.sinceArg, "since", "", "list only runs started since: a duration back (24h, 7d) or a date (2026-11-28, or RFC 3339)")
			fs.Var(&c.csv, "csv", "with show: print the records (or, --csv=changes, the field changes) as CSV for Data Loader")
			fs.StringVar(&c.format, "format", "", "text, json or csv (csv: with show, as --csv)")
			return c
		}}
}

// csvPart is `--csv` (the records), `--csv=records` or `--csv=changes`: a flag that may stand alone.
type csvPart string

func (p *csvPart) String() string   { return string(*p) }
func (p *csvPart) IsBoolFlag() bool { return true }
func (p *csvPart) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "records":
		*p = "records"
	case "false":
		*p = ""
	case "changes":
		*p = "changes"
	default:
		return fmt.Errorf("%q is not records or changes", s)
	}
	return nil
}

type historyCmd struct {
	*app
	limit     int
	json      bool
	wide      bool
	statusArg string
	sinceArg  string
	csv       csvPart
	format    string
	pos       []string
	showRef   string
	filter    store.RunFilter
}

func (c *historyCmd) setArgs(pos []string) { c.pos = pos }

func (c *historyCmd) Validate() error {
	if c.limit < 1 {
		return usageError("history: --limit must be at least 1")
	}
	switch pos := c.pos; {
	case len(pos) == 0:
	case pos[0] == "show" && len(pos) == 2:
		c.showRef = pos[1]
	case pos[0] == "show":
		return usageError("history show: RUN_ID is required (an id, a unique prefix of it, or latest)")
	default:
		return usageError("history: unknown argument %q (did you mean 'history show %s'?)", pos[0], pos[0])
	}
	switch strings.ToLower(c.format) {
	case "", "text":
	case "json":
		c.json = true
	case "csv":
		if c.csv == "" {
			c.csv = "records"
		}
	default:
		return usageError("history: --format %q is not text, json or csv", c.format)
	}
	if c.csv != "" && c.showRef == "" {
		return usageError("history: --csv goes with 'history show RUN_ID'")
	}
	if c.csv != "" && c.json {
		return usageError("history show: --csv and --json cannot be combined")
	}
	statuses, err := parseStatuses(c.statusArg)
	if err != nil {
		return usageError("history: --status: %v", err)
	}
	since, err := parseSince(c.sinceArg, c.now())
	if err != nil {
		return usageError("history: --since: %v", err)
	}
	c.filter = store.RunFilter{Limit: c.limit, Statuses: statuses, Since: since}
	return nil
}

// runStatuses are the statuses --status accepts, in the order help names them.
var runStatuses = []massupdate.Status{massupdate.Succeeded, massupdate.Partial, massupdate.StatusFail,
	massupdate.Interrupted, massupdate.Running}

func parseStatuses(arg string) ([]massupdate.Status, error) {
	var out []massupdate.Status
	for _, part := range strings.Split(arg, ",") {
		s := massupdate.Status(strings.ToLower(strings.TrimSpace(part)))
		if s == "" {
			continue
		}
		known := false
		for _, k := range runStatuses {
			known = known || k == s
		}
		if !known {
			return nil, fmt.Errorf("%q is not a status (succeeded, partial, failed, interrupted, running)", part)
		}
		out = append(out, s)
	}
	return out, nil
}

var daysBack = regexp.MustCompile(`^(\d{1,5})d$`)

// parseSince reads --since: a duration back from now (Go's 90m, 24h, or days as 7d), a date (midnight UTC)
// or an RFC 3339 time. "" is no bound.
func parseSince(arg string, now time.Time) (time.Time, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		return time.Time{}, nil
	}
	if m := daysBack.FindStringSubmatch(arg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return now.AddDate(0, 0, -n), nil
	}
	if d, err := time.ParseDuration(arg); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.DateOnly, arg); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, arg); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration back (24h, 7d) nor a date (2026-11-28, 2026-11-28T02:00:00Z)", arg)
}

func (c *historyCmd) Run(ctx context.Context) error {
	env, err := c.loadEnv()
	if err != nil {
		return err
	}
	st, err := c.openStore(ctx, env, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if c.showRef != "" {
		return c.show(ctx, st)
	}
	runs, err := st.FindRuns(ctx, c.filter)
	if err != nil {
		return err
	}
	if c.json {
		out := make([]massupdate.Summary, 0, len(runs))
		for _, r := range runs {
			out = append(out, r.Summary())
		}
		return writeJSON(c.stdout, out)
	}
	if len(runs) == 0 && (len(c.filter.Statuses) > 0 || !c.filter.Since.IsZero()) {
		fmt.Fprintln(c.stdout, "No runs match.")
		return nil
	}
	colour := c.colour(c.stdout)
	if c.wide {
		printRunsWide(c.stdout, runs, colour)
	} else {
		printRuns(c.stdout, runs, colour)
	}
	return nil
}

// resolveRun turns what the operator typed (an id, a unique prefix, latest) into a run id, with a message
// that says what to do when it names no run or several.
func (a *app) resolveRun(ctx context.Context, st *store.Store, ref string) (string, error) {
	id, err := st.ResolveRunID(ctx, ref)
	var amb *store.AmbiguousRunIDError
	switch {
	case errors.As(err, &amb):
		return "", fmt.Errorf("%w (see 'proffsync history')", amb)
	case errors.Is(err, massupdate.ErrRunNotFound):
		return "", fmt.Errorf("no run with id %q (see 'proffsync history'; an id, a unique prefix of %d or more characters, or latest)",
			ref, store.MinRunIDPrefix)
	}
	return id, err
}

// shownRun is `history show --json`: the run in full as README: Contract shapes it, plus the mapped data
// points that had no value in any document of the run (most likely a misspelt path).
type shownRun struct {
	massupdate.Detail
	NeverValued []string `json:"never_valued"`
}

func (c *historyCmd) show(ctx context.Context, st *store.Store) error {
	id, err := c.resolveRun(ctx, st, c.showRef)
	if err != nil {
		return err
	}
	run, d, err := st.RunInFull(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case c.json:
		nv := run.NeverValued
		if nv == nil {
			nv = []string{}
		}
		return writeJSON(c.stdout, shownRun{Detail: d, NeverValued: nv})
	case c.csv == "changes":
		return writeChangesCSV(c.stdout, d.Changes)
	case c.csv != "":
		return writeRecordsCSV(c.stdout, d.Records, csvFieldNames(run.Settings))
	}
	printDetail(c.stdout, d)
	printNeverValued(c.stdout, run.NeverValued)
	if continueCommand(run, "") != "" {
		fmt.Fprintln(c.stdout) // after the lists, the way on stands apart
	}
	printResumeHint(c.stdout, run, "")
	return nil
}

// writeJSON prints v as one JSON document. encoding/json escapes C0 controls but writes C1 controls raw;
// safetext.JSON escapes those too, so JSON read on a terminal is as safe as the text output (README: Contract, "Text output").
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	_, err := w.Write(safetext.JSON(buf.Bytes()))
	return err
}

// shortIDLen is how much of a run id the narrow list shows: a run id is a UUIDv7, whose first 13 characters
// are its start to the millisecond, unique in practice and accepted wherever a run id is taken.
const shortIDLen = 13

func shortID(id string) string {
	if len(id) <= shortIDLen {
		return id
	}
	return id[:shortIDLen]
}

// maxErrorLine bounds the error line under a run in the narrow list, so that the list fits 100 columns.
const maxErrorLine = 96

// printRuns is the list that fits an 80–100 column terminal: short ids, the counts that matter, and a
// failed or interrupted run's error on the line below it.
func printRuns(w io.Writer, runs []massupdate.Run, colour bool) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "No runs yet. Start one with 'proffsync run' (or try 'proffsync demo').")
		return
	}
	t := &table{head: []string{"RUN", "STARTED (UTC)", "TRIGGER", "STATUS", "TOOK", "SEL", "UPD", "FAIL"},
		right: map[int]bool{4: true, 5: true, 6: true, 7: true}}
	for _, r := range runs {
		c := r.Counts
		t.add(row{cells: []string{shortID(r.ID), r.StartedAt.UTC().Format("2006-01-02 15:04"), string(r.Trigger),
			statusText(r), duration(r), itoa(c.Selected), itoa(c.Updated), itoa(c.Failed)},
			colour: map[int]string{3: statusColour(r.Status)}, below: errorLine(r.Error, maxErrorLine)})
	}
	t.write(w, colour)
}

// printRunsWide is every column of every run, the whole error last: wider than a terminal, made for a
// log or a pager.
func printRunsWide(w io.Writer, runs []massupdate.Run, colour bool) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "No runs yet. Start one with 'proffsync run' (or try 'proffsync demo').")
		return
	}
	t := &table{head: []string{"RUN ID", "TRIGGER", "STATUS", "STARTED (UTC)", "DURATION", "SELECTED", "UPDATED",
		"UNCHANGED", "NOT FOUND", "MISSING", "INVALID", "FAILED", "FRESH", "CACHED", "DEFERRED", "PROFF CALLS",
		"SF CALLS", "RESUMES", "ERROR"}, right: map[int]bool{}}
	for i := 4; i <= 16; i++ {
		t.right[i] = true
	}
	for _, r := range runs {
		c, l := r.Counts, r.Lookups
		t.add(row{cells: []string{r.ID, string(r.Trigger), statusText(r), r.StartedAt.UTC().Format(time.DateTime),
			duration(r), itoa(c.Selected), itoa(c.Updated), itoa(c.Unchanged), itoa(c.NotFound),
			itoa(c.MissingOrgNumber), itoa(c.InvalidOrgNumber), itoa(c.Failed), itoa(l.Fresh), itoa(l.Cached),
			itoa(l.Deferred), itoa(r.APICalls.Proff), itoa(r.APICalls.Salesforce), orDash(r.ResumedFrom),
			orDash(safetext.Escape(oneLine(r.Error)))},
			colour: map[int]string{2: statusColour(r.Status)}})
	}
	t.write(w, colour)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func statusText(r massupdate.Run) string {
	s := string(r.Status)
	if r.DryRun {
		s += " (dry)"
	}
	return s
}

// errorLine is the line under a run in the narrow list: its error, escaped (it may quote Salesforce or
// Proff), on one line and cut to max runes.
func errorLine(e string, max int) string {
	if e == "" {
		return ""
	}
	return cut("  error: "+safetext.Escape(oneLine(e)), max)
}

func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// ANSI colours of the statuses; used only when stdout is a terminal.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

func statusColour(s massupdate.Status) string {
	switch s {
	case massupdate.Succeeded:
		return ansiGreen
	case massupdate.Partial, massupdate.Interrupted:
		return ansiYellow
	case massupdate.StatusFail:
		return ansiRed
	case massupdate.Running:
		return ansiCyan
	}
	return ""
}

// colour says whether w gets coloured text: a terminal, unless NO_COLOR is set (no-color.org).
func (a *app) colour(w io.Writer) bool { return isTerminal(w) && a.getenv("NO_COLOR") == "" }

// table lays out columns by their printed width, so that colour codes (which tabwriter would count)
// never shift a column.
type table struct {
	head  []string
	right map[int]bool // right-aligned (numeric) columns
	rows  []row
}

type row struct {
	cells  []string
	colour map[int]string // ANSI colour of a cell, applied when colour is on
	below  string         // a line printed under the row ("" for none)
}

func (t *table) add(r row) { t.rows = append(t.rows, r) }

func (t *table) write(w io.Writer, colour bool) {
	width := make([]int, len(t.head))
	for i, h := range t.head {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r.cells {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	t.line(w, row{cells: t.head}, width, false)
	for _, r := range t.rows {
		t.line(w, r, width, colour)
		if r.below != "" {
			fmt.Fprintln(w, r.below)
		}
	}
}

func (t *table) line(w io.Writer, r row, width []int, colour bool) {
	var b strings.Builder
	for i, c := range r.cells {
		pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
		if t.right[i] {
			c = pad + c
		} else if i < len(r.cells)-1 {
			c += pad
		}
		if code := r.colour[i]; colour && code != "" {
			c = code + c + ansiReset
		}
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(c)
	}
	fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
}

func duration(r massupdate.Run) string {
	if r.FinishedAt == nil {
		return "-"
	}
	d := r.FinishedAt.Sub(r.StartedAt)
	if d < time.Minute {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// printSummary prints a run's summary: what `run` ends with and what `history show` starts with.
func printSummary(w io.Writer, s massupdate.Summary) {
	fmt.Fprintf(w, "Run %s (%s", s.RunID, s.Trigger)
	if s.DryRun {
		fmt.Fprint(w, ", dry run")
	}
	fmt.Fprintf(w, "): %s\n", s.Status)
	fmt.Fprintf(w, "  started   %s\n", time.Time(s.StartedAt).UTC().Format(time.RFC3339))
	if s.FinishedAt != nil {
		fmt.Fprintf(w, "  finished  %s (%s)\n", time.Time(*s.FinishedAt).UTC().Format(time.RFC3339),
			time.Time(*s.FinishedAt).Sub(time.Time(s.StartedAt)).Round(time.Millisecond))
	}
	if s.ResumedFrom != nil {
		fmt.Fprintf(w, "  resumes   %s\n", *s.ResumedFrom)
	}
	if s.Reverts != nil {
		fmt.Fprintf(w, "  reverts   %s\n", *s.Reverts)
	}
	c := s.Counts
	fmt.Fprintf(w, "  records   %d selected: %d updated, %d unchanged, %d not found, %d missing org number, %d invalid org number, %d failed\n",
		c.Selected, c.Updated, c.Unchanged, c.NotFound, c.MissingOrgNumber, c.InvalidOrgNumber, c.Failed)
	l := s.Lookups
	fmt.Fprintf(w, "  lookups   %d fresh from Proff, %d from stored values, %d deferred to a later run\n", l.Fresh, l.Cached, l.Deferred)
	fmt.Fprintf(w, "  API calls %d Proff, %d Salesforce\n", s.APICalls.Proff, s.APICalls.Salesforce)
	if s.Error != nil {
		// The reason may quote Salesforce, Proff or PostgreSQL.
		fmt.Fprintf(w, "  error     %s\n", safetext.Escape(oneLine(*s.Error)))
	}
}

// printResumeHint ends the output about an interrupted run that can be continued with how to continue it.
// retried is the run a retry took the failed records of ("" when not known).
func printResumeHint(w io.Writer, r massupdate.Run, retried string) {
	if cmd := continueCommand(r, retried); cmd != "" {
		fmt.Fprintln(w, "  continue  "+cmd)
	}
}

// continueCommand is the command that continues r, "" when none does: r is not interrupted, a dry run, or
// continued already. `run --resume` takes only sync runs (an interrupted revert is continued by the same
// revert, a retry by the same retry), so pointing a revert or a retry at it would resume another run or
// none; a retry whose retried run is not known gets no hint.
func continueCommand(r massupdate.Run, retried string) string {
	if r.Status != massupdate.Interrupted || r.DryRun || r.ResumedBy != "" {
		return ""
	}
	switch {
	case r.Trigger == massupdate.Revert && r.Reverts != "":
		return "proffsync revert " + r.Reverts
	case r.Trigger == massupdate.Revert:
		return ""
	case r.Trigger == massupdate.Retry && retried != "":
		return "proffsync run --retry " + retried
	case r.Trigger == massupdate.Retry:
		return ""
	}
	return "proffsync run --resume"
}

// printNeverValued lists the mapped points no document of the run had a value for.
func printNeverValued(w io.Writer, points []string) {
	if len(points) == 0 {
		return
	}
	fmt.Fprintln(w, "\nMapped points with no value in any company of this run (a misspelt path? see proffsync check --catalogue):")
	for _, p := range points {
		fmt.Fprintf(w, "  %s\n", safetext.Escape(p))
	}
}

func printDetail(w io.Writer, d massupdate.Detail) { printDetailCapped(w, d, 0) }

// printDetailCapped prints a run in full, but at most max lines of records and of changes (0: all).
func printDetailCapped(w io.Writer, d massupdate.Detail, max int) {
	more := func(n int) bool {
		if max > 0 && n >= max {
			return true
		}
		return false
	}
	printSummary(w, d.Run)
	if len(d.FieldChanges) > 0 {
		fields := make([]string, 0, len(d.FieldChanges))
		for f := range d.FieldChanges {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		fmt.Fprintln(w, "\nField changes:")
		for _, f := range fields {
			fmt.Fprintf(w, "  %-30s %d\n", safetext.Escape(f), d.FieldChanges[f])
		}
	}
	if problems(d.Records) > 0 {
		fmt.Fprintln(w, "\nRecords not updated or unchanged:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  RECORD\tCOUNTRY\tORG NUMBER\tOUTCOME\tDATA\tREASON")
		shown := map[massupdate.Outcome]int{}
		hidden := 0
		for _, r := range d.Records {
			if r.Outcome == massupdate.Updated {
				continue // listed with its changes below
			}
			// Capped, show a few of each outcome rather than the first few of one.
			if more(shown[r.Outcome] * 4) {
				hidden++
				continue
			}
			shown[r.Outcome]++
			// Every cell but the outcome comes from Salesforce or Proff: escaped, so a record cannot drive the
			// operator's terminal (README: Contract, "Text output").
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", safetext.Escape(r.RecordID), safetext.Escape(r.Country),
				safetext.Escape(r.OrgNumber), r.Outcome, orDash(r.Lookup), safetext.Escape(oneLine(r.Reason)))
		}
		if hidden > 0 {
			fmt.Fprintf(tw, "  ... %d more (proffsync history show %s)\n", hidden, d.Run.RunID)
		}
		tw.Flush()
	}
	if len(d.Changes) > 0 {
		// Where each written record's data came from: a lookup in this run, or the values stored at its
		// company's last lookup.
		source := map[string]string{}
		for _, r := range d.Records {
			if r.Outcome == massupdate.Updated && r.Lookup != "" {
				source[r.RecordID] = "  [" + r.Lookup + "]"
			}
		}
		fmt.Fprintln(w, "\nChanges (old -> new) [data fresh from Proff or stored]:")
		for i, c := range d.Changes {
			if more(i) {
				fmt.Fprintf(w, "  ... %d more (proffsync history show %s)\n", len(d.Changes)-i, d.Run.RunID)
				break
			}
			fmt.Fprintf(w, "  %s %s: %s -> %s%s\n", safetext.Escape(c.RecordID), safetext.Escape(c.Field),
				jsonValue(c.Old), jsonValue(c.New), source[c.RecordID])
		}
	}
}

// problems counts the records with a reason: every one listed but the updated ones.
func problems(records []massupdate.RecordResult) int {
	n := 0
	for _, r := range records {
		if r.Outcome != massupdate.Updated {
			n++
		}
	}
	return n
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// jsonValue prints a field value as JSON, escaped for the terminal: encoding/json leaves C1 controls raw.
func jsonValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return safetext.Escape(fmt.Sprint(v))
	}
	return safetext.Escape(string(b))
}
