package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/transport"
)

func previewSpec() spec {
	return spec{name: "preview", summary: "count what a run would do, asking Salesforce only",
		help: `Reads the selected records from Salesforce (no Proff call at all) and counts how many are selected,
how many lack an org number, how many fail their check digit or have an unsupported country, how
many share an org number with another, and the Proff calls and time a run would take at the
configured rate, with the plan of incremental sync: the companies due for a lookup by why (new, changed
in Salesforce, in the change feed, stale, failed last time, …), those served from the values stored at
their last lookup, and those sync.max_lookups defers. Needs the Salesforce credentials, not the Proff
token.`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &previewCmd{app: a}
			fs.BoolVar(&c.full, "full", false, "plan `run --full`: every selected company looked up")
			fs.BoolVar(&c.json, "json", false, `print {"selected","missing_org_number","invalid_org_number","duplicates","lookups","estimated_seconds"}`)
			return c
		}}
}

type previewCmd struct {
	*app
	json, full bool
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
	// The technical log and the stored sync state are read when the database is there; without it the
	// preview still counts, and plans every company as due.
	var rec transport.Recorder
	po := massupdate.PreviewOptions{
		DefaultCountry: cfg.Salesforce.DefaultCountry, Rules: res.rules, Kinds: res.kinds,
		MappingVersion: mappingVersion(), ChangeFeed: cfg.Sync.ChangeFeed, RefreshDays: cfg.Sync.RefreshDays,
		MaxLookups: cfg.Sync.MaxLookups, Full: c.full, RatePerSecond: cfg.Proff.RateLimitPerSecond, Clock: c.clock(),
	}
	if st, err := c.openStore(ctx, cfg.Env, true); err != nil {
		c.log.WarnContext(ctx, "preview without technical log or stored values: the database is not reachable", "error", c.scrub(err.Error()))
	} else {
		defer st.Close()
		rec = st.CallLog()
		po.SyncState = st
		if cfg.Sync.ChangeFeed && !c.full {
			if po.FeedStates, err = st.FeedStates(ctx); err != nil {
				return err
			}
		}
	}
	sf, err := c.newSalesforce(cfg, rec)
	if err != nil {
		return configErr(err)
	}
	po.Source = sf
	pv, err := massupdate.NewPreviewer(po)
	if err != nil {
		return err
	}
	p, err := pv.Preview(ctx)
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
	fmt.Fprintf(w, "Companies to look up    %d\n", p.CompanyLookups)
	for _, reason := range incremental.Reasons {
		if n := p.Due[reason]; n > 0 {
			fmt.Fprintf(w, "  %-21s %d\n", reasonText[reason], n)
		}
	}
	fmt.Fprintf(w, "Served from stored      %d (no change since their last lookup)\n", p.Cached)
	if p.Deferred > 0 {
		fmt.Fprintf(w, "Deferred                %d (sync.max_lookups: left for the next runs, stalest first)\n", p.Deferred)
	}
	fmt.Fprintf(w, "Proff calls             %d (%d change-feed pages)\n", p.Lookups, p.FeedPages)
	fmt.Fprintf(w, "Estimated time          %s at %g lookups/s\n",
		(time.Duration(p.EstimatedSeconds * float64(time.Second))).Round(time.Second), cfg.Proff.RateLimitPerSecond)
	return nil
}

// reasonText says why a company is due, as preview prints it.
var reasonText = map[incremental.Reason]string{
	incremental.ReasonNew:                 "new",
	incremental.ReasonChangedInSalesforce: "changed in Salesforce",
	incremental.ReasonInFeed:              "in the change feed",
	incremental.ReasonFeedGap:             "feed cannot vouch",
	incremental.ReasonStale:               "stale",
	incremental.ReasonNoFeed:              "no feed",
	incremental.ReasonFailedLastTime:      "failed last time",
	incremental.ReasonFull:                "--full",
}
