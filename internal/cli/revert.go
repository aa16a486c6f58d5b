package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/revert"
	"github.com/proffconnect/proffsync/internal/safetext"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/transport"
)

var _ revert.Reader = (*salesforce.Client)(nil)

func revertSpec() spec {
	return spec{name: "revert", args: "RUN_ID", summary: "undo a run: put back the values it wrote", maxArgs: 1,
		help: `For every field the run wrote, puts the old value back where Salesforce still holds the value the run
wrote; a field changed since (by a person or another run) is left alone and listed as a conflict with
both values. The last-synced field is put back too where it still holds the run's stamp. The revert is
itself a run (trigger revert), so it can be reverted in turn; an interrupted revert is continued by
running the same revert again. It makes no Proff call. RUN_ID is an id, a unique prefix of one, or
'latest'. Exit codes: 0 success, 1 failed or refused (a dry run, a run still running), 2 some records
failed or conflicted, 3 another run holds the lock, 4 interrupted (run the revert again), 64 usage,
78 configuration.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &revertCmd{app: a}
			fs.BoolVar(&c.dryRun, "dry-run", false, "compute and record what would be put back; write nothing to Salesforce")
			fs.BoolVar(&c.json, "json", false, "print the revert's run summary as one JSON object on stdout")
			return c
		}}
}

type revertCmd struct {
	*app
	dryRun, json bool
	pos          []string
	ref          string
}

func (c *revertCmd) setArgs(pos []string) { c.pos = pos }

func (c *revertCmd) Validate() error {
	if len(c.pos) != 1 || c.pos[0] == "" {
		return usageError("revert: RUN_ID is required (see 'proffsync history')")
	}
	c.ref = c.pos[0]
	return nil
}

func (c *revertCmd) Run(ctx context.Context) error {
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	if err := firstErr(cfg.Env.RequireSalesforce()); err != nil {
		return err
	}
	st, err := c.openStore(ctx, cfg.Env, true)
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := c.resolveRun(ctx, st, c.ref)
	if err != nil {
		return err
	}
	tally := &transport.Tally{Next: st.CallLog()}
	eng, err := c.revertEngine(ctx, cfg, st, id, tally)
	if err != nil {
		return err
	}
	run, runErr := eng.Run(ctx, revert.Request{RunID: id, DryRun: c.dryRun})
	if run != nil {
		c.notify(ctx, cfg, tally, *run) // a revert is a run: notify.on applies to it as to any other
	}
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if err := st.CallLog().Flush(flushCtx); err != nil {
		c.log.WarnContext(ctx, "technical log not fully written", "error", err.Error())
	}
	cancel()
	if run == nil {
		return c.notRun(runErr).err()
	}
	code := runExitCode(run, runErr)
	if c.json {
		if err := writeJSON(c.stdout, run.Summary()); err != nil {
			return err
		}
	} else {
		printSummary(c.stdout, run.Summary())
		c.printConflicts(ctx, st, run)
		fmt.Fprintf(c.stdout, "  details   proffsync history show %s\n", run.ID)
		printResumeHint(c.stdout, *run, "") // the last line: how to go on
	}
	switch {
	case code == ExitOK:
		return nil
	case runErr == nil && run.Error != "":
		runErr = errors.New(run.Error)
	case runErr == nil && code == ExitPartial:
		runErr = fmt.Errorf("%d records failed or conflicted (see proffsync history show %s)", run.Counts.Failed, run.ID)
	}
	return &ExitError{Code: code, Err: runErr}
}

// shownConflicts is how many conflicted or failed records the text output lists; history show has them all.
const shownConflicts = 20

// printConflicts lists the first records that conflicted (with both values) or failed, so that the operator
// sees at once what was left alone.
func (c *revertCmd) printConflicts(ctx context.Context, st *store.Store, run *massupdate.Run) {
	if run.Counts.Failed == 0 {
		return
	}
	p, err := st.RunPage(ctx, run.ID, store.RunPageQuery{PageSize: shownConflicts})
	if err != nil {
		c.log.WarnContext(ctx, "read the revert's conflicts", "error", err.Error())
		return
	}
	fmt.Fprintf(c.stdout, "  not put back (%d of %d shown; all in history show):\n", len(p.Records), p.RecordsTotal)
	for _, r := range p.Records {
		fmt.Fprintf(c.stdout, "    %s  %s\n", safetext.Escape(r.RecordID), safetext.Escape(oneLine(r.Reason)))
	}
}

// revertEngine wires a revert of run id: a Salesforce client configured with the fields that run wrote
// (whatever the mapping says today: those are the fields to put back, and the only ones it may write) and
// the last-synced field, checked against describe before anything is recorded; no Proff client at all.
func (c *revertCmd) revertEngine(ctx context.Context, cfg *config.Config, st *store.Store, id string, tally *transport.Tally) (*revert.Engine, error) {
	fields, _, err := st.RevertFields(ctx, id)
	if err != nil {
		return nil, err
	}
	target, err := st.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	rc := *cfg
	rc.Mapping = make([]config.Rule, 0, len(fields))
	for _, f := range fields {
		rc.Mapping = append(rc.Mapping, config.Rule{Field: f})
	}
	// The last-synced field the run stamped, which today's config may have renamed or dropped since.
	rc.Salesforce.LastSyncedField = lastSyncedFieldOf(target.Settings, cfg.Salesforce.LastSyncedField)
	sf, err := c.newSalesforce(&rc, tally)
	if err != nil {
		return nil, configErr(err)
	}
	describe, err := sf.Describe(ctx)
	if err != nil {
		return nil, err
	}
	if err := sf.ValidateFields(describe); err != nil {
		// A field the run wrote is gone or read-only now: nothing was done (exit 78).
		return nil, configErr(err)
	}
	return revert.New(revert.Options{Store: st, Reader: sf, Writer: sf, LastSyncedField: rc.Salesforce.LastSyncedField,
		Calls: func() massupdate.APICalls {
			p, s := tally.Counts()
			return massupdate.APICalls{Proff: p, Salesforce: s}
		},
		Clock: c.clock(), Logger: c.log, Settings: cfg.Settings()})
}

// lastSyncedFieldOf is the last-synced field a run's stored settings name; configured when the settings do
// not say (a run recorded without them).
func lastSyncedFieldOf(settings json.RawMessage, configured string) string {
	var s struct {
		LastSyncedField *string `json:"last_synced_field"`
		Object          string  `json:"object"`
	}
	if json.Unmarshal(settings, &s) != nil || s.Object == "" {
		return configured
	}
	if s.LastSyncedField == nil {
		return "" // the run had none (the key is left out when empty)
	}
	return *s.LastSyncedField
}

// retrySource is the record source of `run --retry RUN_ID`: the records that ended failed in the run ref
// names (an id, a unique prefix, `latest`), read again by Id through sf, still opted in and filtered. It
// returns the resolved run id and how many records failed in it (0: nothing to retry).
func (a *app) retrySource(ctx context.Context, st *store.Store, sf *salesforce.Client, ref string) (src *salesforce.IDSource, runID string, failed int, err error) {
	if runID, err = a.resolveRun(ctx, st, ref); err != nil {
		return nil, "", 0, err
	}
	ids, err := st.FailedRecordIDs(ctx, runID)
	if err != nil {
		return nil, "", 0, err
	}
	if src, err = sf.ByID(ids); err != nil {
		return nil, "", 0, err
	}
	return src, runID, len(ids), nil
}
