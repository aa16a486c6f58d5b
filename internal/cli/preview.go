package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/transport"
)

func previewCommand() command {
	c := command{name: "preview", summary: "count what a run would do, asking Salesforce only",
		help: `Reads the selected records from Salesforce (no Proff call at all) and counts how many are selected,
how many lack an org number, how many fail their check digit or have an unsupported country, how
many share an org number with another, and the Proff calls and time a run would take at the
configured rate. Needs the Salesforce credentials, not the Proff token.`}
	var asJSON bool
	c.run = func(ctx context.Context, a *app, args []string) error {
		fs := a.flags(c)
		fs.BoolVar(&asJSON, "json", false, `print {"selected","missing_org_number","invalid_org_number","duplicates","lookups","estimated_seconds"}`)
		if _, err := a.parse(fs, args, 0); err != nil {
			return err
		}
		cfg, err := a.loadConfig()
		if err != nil {
			return err
		}
		if err := cfg.Env.RequireSalesforce(); err != nil {
			return err
		}
		res, err := resolveMapping(cfg)
		if err != nil {
			return err
		}
		// The technical log is kept when the database is there; a preview does not need it otherwise.
		var rec transport.Recorder
		if st, err := a.openStore(ctx, cfg.Env, true); err != nil {
			a.log.Warn("preview without technical log: the database is not reachable", "error", err.Error())
		} else {
			defer st.Close()
			rec = st.CallLog()
		}
		sf, err := a.newSalesforce(cfg, rec)
		if err != nil {
			return configErr(err)
		}
		eng, err := massupdate.New(massupdate.Options{
			Source: sf, Lookup: refuse{}, Writer: refuse{}, Store: refuse{},
			Rules: res.rules, Kinds: res.kinds, DefaultCountry: cfg.Salesforce.DefaultCountry,
			RatePerSecond: cfg.Proff.RateLimitPerSecond, Logger: a.log,
		})
		if err != nil {
			return err
		}
		p, err := eng.Preview(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(a.stdout, p)
		}
		fmt.Fprintf(a.stdout, "Selected records        %d\n", p.Selected)
		fmt.Fprintf(a.stdout, "  missing org number    %d\n", p.MissingOrgNumber)
		fmt.Fprintf(a.stdout, "  invalid org number    %d (check digit, length or unsupported country)\n", p.InvalidOrgNumber)
		fmt.Fprintf(a.stdout, "  sharing an org number %d (with another record; each company is looked up once)\n", p.Duplicates)
		fmt.Fprintf(a.stdout, "Proff lookups           %d\n", p.Lookups)
		fmt.Fprintf(a.stdout, "Estimated time          %s at %g lookups/s\n",
			(time.Duration(p.EstimatedSeconds * float64(time.Second))).Round(time.Second), cfg.Proff.RateLimitPerSecond)
		return nil
	}
	return c
}

// refuse stands in for the ports a preview must never use: it makes sure a preview costs no Proff call
// and writes nothing, whatever the engine does.
type refuse struct{}

var errRefused = errors.New("preview reads Salesforce only")

func (refuse) Lookup(context.Context, string, string) (map[string]any, error) { return nil, errRefused }
func (refuse) Write(context.Context, []massupdate.Update) ([]massupdate.WriteResult, error) {
	return nil, errRefused
}
func (refuse) AcquireRunLock(context.Context) (massupdate.RunLock, error) { return nil, errRefused }
func (refuse) MarkAbandoned(context.Context, time.Time) (int, error)      { return 0, errRefused }
func (refuse) CreateRun(context.Context, *massupdate.Run) error           { return errRefused }
func (refuse) LatestInterrupted(context.Context) (*massupdate.Run, error) { return nil, errRefused }
func (refuse) MarkResumed(context.Context, string, string) error          { return errRefused }
func (refuse) SaveBatch(context.Context, string, massupdate.Batch) error  { return errRefused }
func (refuse) FinishRun(context.Context, *massupdate.Run) error           { return errRefused }
