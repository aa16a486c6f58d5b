package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/safetext"
)

func historySpec() spec {
	return spec{name: "history", args: "[show RUN_ID]", summary: "list recent runs, or show one run in full", maxArgs: 2,
		help: `Without arguments: the most recent runs, newest first (id, trigger, status, started, duration, counts).
'history show RUN_ID': one run in full: its summary, how often each field changed, every record that
was not updated or unchanged with its reason, and every field change (old -> new).`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &historyCmd{app: a}
			fs.IntVar(&c.limit, "limit", 20, "how many runs to list")
			fs.BoolVar(&c.json, "json", false, "print JSON (an array of run summaries; with show, the run in full)")
			return c
		}}
}

type historyCmd struct {
	*app
	limit  int
	json   bool
	pos    []string
	showID string
}

func (c *historyCmd) setArgs(pos []string) { c.pos = pos }

func (c *historyCmd) Validate() error {
	if c.limit < 1 {
		return usageError("history: --limit must be at least 1")
	}
	switch pos := c.pos; {
	case len(pos) == 0:
	case pos[0] == "show" && len(pos) == 2:
		c.showID = pos[1]
	case pos[0] == "show":
		return usageError("history show: RUN_ID is required")
	default:
		return usageError("history: unknown argument %q (did you mean 'history show %s'?)", pos[0], pos[0])
	}
	return nil
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
	if c.showID != "" {
		d, err := st.RunDetail(ctx, c.showID)
		if errors.Is(err, massupdate.ErrRunNotFound) {
			return fmt.Errorf("no run with id %q (see 'proffsync history')", c.showID)
		}
		if err != nil {
			return err
		}
		if c.json {
			return writeJSON(c.stdout, d)
		}
		printDetail(c.stdout, d)
		return nil
	}
	runs, err := st.ListRuns(ctx, c.limit)
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
	printRuns(c.stdout, runs)
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

func printRuns(w io.Writer, runs []massupdate.Run) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "No runs yet. Start one with 'proffsync run' (or try 'proffsync demo').")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tTRIGGER\tSTATUS\tSTARTED (UTC)\tDURATION\tSELECTED\tUPDATED\tUNCHANGED\tNOT FOUND\tMISSING\tINVALID\tFAILED")
	for _, r := range runs {
		status := string(r.Status)
		if r.DryRun {
			status += " (dry run)"
		}
		if r.ResumedFrom != "" {
			status += " (resumed)"
		}
		c := r.Counts
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.ID, r.Trigger, status,
			r.StartedAt.UTC().Format("2006-01-02 15:04:05"), duration(r), c.Selected, c.Updated, c.Unchanged, c.NotFound,
			c.MissingOrgNumber, c.InvalidOrgNumber, c.Failed)
	}
	tw.Flush()
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
	c := s.Counts
	fmt.Fprintf(w, "  records   %d selected: %d updated, %d unchanged, %d not found, %d missing org number, %d invalid org number, %d failed\n",
		c.Selected, c.Updated, c.Unchanged, c.NotFound, c.MissingOrgNumber, c.InvalidOrgNumber, c.Failed)
	fmt.Fprintf(w, "  API calls %d Proff, %d Salesforce\n", s.APICalls.Proff, s.APICalls.Salesforce)
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
	if len(d.Records) > 0 {
		fmt.Fprintln(w, "\nRecords not updated or unchanged:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  RECORD\tCOUNTRY\tORG NUMBER\tOUTCOME\tREASON")
		shown := map[massupdate.Outcome]int{}
		hidden := 0
		for _, r := range d.Records {
			// Capped, show a few of each outcome rather than the first few of one.
			if more(shown[r.Outcome] * 4) {
				hidden++
				continue
			}
			shown[r.Outcome]++
			// Every cell but the outcome comes from Salesforce or Proff: escaped, so a record cannot drive the
			// operator's terminal (README: Contract, "Text output").
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", safetext.Escape(r.RecordID), safetext.Escape(r.Country),
				safetext.Escape(r.OrgNumber), r.Outcome, safetext.Escape(oneLine(r.Reason)))
		}
		if hidden > 0 {
			fmt.Fprintf(tw, "  ... %d more (proffsync history show %s)\n", hidden, d.Run.RunID)
		}
		tw.Flush()
	}
	if len(d.Changes) > 0 {
		fmt.Fprintln(w, "\nChanges (old -> new):")
		for i, c := range d.Changes {
			if more(i) {
				fmt.Fprintf(w, "  ... %d more (proffsync history show %s)\n", len(d.Changes)-i, d.Run.RunID)
				break
			}
			fmt.Fprintf(w, "  %s %s: %s -> %s\n", safetext.Escape(c.RecordID), safetext.Escape(c.Field),
				jsonValue(c.Old), jsonValue(c.New))
		}
	}
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
