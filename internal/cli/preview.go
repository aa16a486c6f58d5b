package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/transport"
)

func previewSpec() spec {
	return spec{name: "preview", summary: "count what a run would do, asking Salesforce only",
		help: `Reads the selected records from Salesforce (no Proff call at all) and counts how many are selected,
how many lack an org number, how many fail their check digit or have an unsupported country, how
many share an org number with another, and the Proff calls and time a run would take at the
configured rate. Needs the Salesforce credentials, not the Proff token.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &previewCmd{app: a}
			fs.BoolVar(&c.json, "json", false, `print {"selected","missing_org_number","invalid_org_number","duplicates","lookups","estimated_seconds"}`)
			return c
		}}
}

type previewCmd struct {
	*app
	json bool
}

func (c *previewCmd) Validate() error { return nil }

func (c *previewCmd) Run(ctx context.Context) error {
	cfg, err := c.loadConfig()
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
	if st, err := c.openStore(ctx, cfg.Env, true); err != nil {
		c.log.WarnContext(ctx, "preview without technical log: the database is not reachable", "error", c.scrub(err.Error()))
	} else {
		defer st.Close()
		rec = st.CallLog()
	}
	sf, err := c.newSalesforce(cfg, rec)
	if err != nil {
		return configErr(err)
	}
	// The engine's New asks for every port a run uses; a preview reads Salesforce only, and refuse makes
	// sure the other ports cost no Proff call and write nothing, whatever the engine does.
	eng, err := massupdate.New(massupdate.Options{
		Source: sf, Lookup: refuse{}, Writer: refuse{}, Store: refuse{},
		Rules: res.rules, Kinds: res.kinds, DefaultCountry: cfg.Salesforce.DefaultCountry,
		RatePerSecond: cfg.Proff.RateLimitPerSecond, Logger: c.log,
	})
	if err != nil {
		return err
	}
	p, err := eng.Preview(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.stdout, p)
	}
	w := c.stdout
	fmt.Fprintf(w, "Selected records        %d\n", p.Selected)
	fmt.Fprintf(w, "  missing org number    %d\n", p.MissingOrgNumber)
	fmt.Fprintf(w, "  invalid org number    %d (check digit, length or unsupported country)\n", p.InvalidOrgNumber)
	fmt.Fprintf(w, "  sharing an org number %d (with another record; each company is looked up once)\n", p.Duplicates)
	fmt.Fprintf(w, "Proff lookups           %d\n", p.Lookups)
	fmt.Fprintf(w, "Estimated time          %s at %g lookups/s\n",
		(time.Duration(p.EstimatedSeconds * float64(time.Second))).Round(time.Second), cfg.Proff.RateLimitPerSecond)
	return nil
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
