package massupdate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
)

// Incremental sync in a run (issue 12). The reader plans each page of records with the planner
// (incremental.PlanPage: one store round trip a page): a company that is due is looked up, subject to the
// cap; one that is not is served from the values stored at its last lookup, which the committer compares
// and writes by the usual rules. The committer stores each fresh lookup with the first batch of records it
// serves, in that batch's transaction.
//
// What must never happen here: a company served from stored values that the planner did not clear (no
// plan, a feed that was not read: it is looked up); a dry run storing a lookup (a later run would skip a
// lookup because of a run that wrote nothing); a company stored without the batch its values served.

// planning is the reader's side of incremental sync: what it learnt from the feeds, and the cap. Only the
// reader's goroutine touches it.
type planning struct {
	r   *runner
	opt incremental.Options
	// feeds: the run reads the change feed of the countries it meets; asked holds those read (or tried).
	feeds bool
	asked map[string]bool
	// removed holds the companies the feeds list as removed from Proff's register, with when.
	removed map[incremental.CompanyKey]time.Time
	budget  *incremental.Budget // nil: no cap
}

// newPlanning returns the run's planning, or nil when every company is looked up: no sync store, or
// `run --full`.
func (r *runner) newPlanning() *planning {
	o := r.e.o
	if o.SyncStore == nil || r.req.Full {
		return nil
	}
	p := &planning{r: r, asked: map[string]bool{}, removed: map[incremental.CompanyKey]time.Time{},
		opt: incremental.Options{MappingKey: r.e.mappingKey, RefreshDays: o.RefreshDays}}
	if o.ChangeFeed && o.Feed != nil {
		p.feeds, p.opt.Feeds = true, map[string]incremental.FeedCoverage{}
	}
	return p
}

// decisions is a page's plan by company.
type decisions map[incremental.CompanyKey]incremental.Decision

// plan plans the companies of a page's records that the run has not met yet, or serves from stored values
// (companies: the run's index, nil in the first pass), reading first the feeds of countries met for the
// first time. A nil plan (no planning) looks every company up.
func (p *planning) plan(ctx context.Context, items []item, companies *companyIndex) (decisions, error) {
	if p == nil {
		return nil, nil
	}
	recs := make([]incremental.Record, 0, len(items))
	for i := range items {
		it := &items[i]
		if it.outcome != "" {
			continue
		}
		if co := companies.get(it.country, it.org); co != nil && co.source != fromStore {
			continue // looked up or deferred in this run already: nothing a plan could change
		}
		recs = append(recs, incremental.Record{ID: it.rec.ID, Key: incremental.CompanyKey{Country: it.country, Org: it.org}})
		if p.feeds && !p.asked[it.country] {
			if err := p.readFeed(ctx, it.country); err != nil {
				return nil, err
			}
		}
	}
	if len(recs) == 0 {
		return decisions{}, nil
	}
	ds, err := incremental.PlanPage(ctx, p.r.e.o.SyncStore, recs, p.opt, p.r.e.o.Clock.Now())
	if err != nil {
		return nil, err
	}
	out := make(decisions, len(ds))
	for _, d := range ds {
		out[d.Key] = d
	}
	return out, nil
}

// readFeed reads one country's change feed, the first time the run meets the country. A feed that fails
// leaves the country's companies due for this run (ReadFeeds logs it); only what must stop the run (the
// store, the token, the quota, shutdown) is returned.
func (p *planning) readFeed(ctx context.Context, country string) error {
	p.asked[country] = true
	o := p.r.e.o
	res, err := incremental.ReadFeeds(ctx, o.Feed, o.SyncStore, []string{country}, o.Clock.Now(), o.FeedFields, p.r.log)
	if err != nil {
		return err
	}
	for cc, cov := range res.Coverage() {
		p.opt.Feeds[cc] = cov
	}
	for _, c := range res.Countries {
		for _, rm := range c.Removed {
			k := incremental.CompanyKey{Country: c.Country, Org: rm.Org}
			if at, ok := p.removed[k]; !ok || at.Before(rm.At) {
				p.removed[k] = rm.At
			}
		}
	}
	return nil
}

// removedNote is the reason a record gets when Proff's feed lists its company as removed from the register
// ("" when it does not). Nothing is cleared because of it: the admin decides.
func (p *planning) removedNote(it *item) string {
	if p == nil || it.outcome != "" {
		return ""
	}
	at, ok := p.removed[incremental.CompanyKey{Country: it.country, Org: it.org}]
	if !ok {
		return ""
	}
	return "Proff's change feed lists the company as removed from the register on " + at.UTC().Format(time.DateOnly)
}

// buildBudget is the cap's first pass: it plans every record after the checkpoint and offers each due
// company to the budget, so that the second pass takes the stalest first across the whole selection. A
// failure to plan comes back as a planError; a failure of the read itself as the read's error.
func (p *planning) buildBudget(ctx context.Context, after string) error {
	if p == nil || p.r.e.o.MaxLookups <= 0 {
		return nil
	}
	b := incremental.NewBudget(p.r.e.o.MaxLookups)
	err := p.r.e.o.Source.Records(ctx, after, func(page []Record) error {
		items := make([]item, len(page))
		for i := range page {
			items[i] = p.r.e.classify(page[i])
		}
		ds, err := p.plan(ctx, items, nil)
		if err != nil {
			return &planError{err} // not the read's failure: endRead tells them apart
		}
		for _, d := range ds {
			if d.Due {
				b.Add(d.Key, d.LastLookup)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("first pass over the records (sync.max_lookups): %w", err)
	}
	p.budget = b.Build()
	return nil
}

// moved tells whether a company the run serves from stored values is due after all, because this page's
// record moved to it from another company in Salesforce: the records from here on are looked up, if the
// cap lets them (the earlier ones had their data from the stored values, which the plan held good).
func (p *planning) moved(ds decisions, co *company, country, org string) bool {
	d, ok := ds[incremental.CompanyKey{Country: country, Org: org}]
	return co.source == fromStore && ok && d.Reason == incremental.ReasonChangedInSalesforce &&
		p.budget.Take(d.Key, d.LastLookup)
}

// serve decides how the run gets a company it meets for the first time: ok is false when it is to be
// looked up; otherwise co is served from stored values or deferred.
func (p *planning) serve(ds decisions, country, org string) (co *company, ok bool) {
	d, planned := ds[incremental.CompanyKey{Country: country, Org: org}]
	switch {
	case !planned:
		return nil, false
	case !d.Due:
		co = &company{values: packed(d.Stored.Vals), source: fromStore, lookedUpAt: d.Stored.LookedUpAt.UnixNano()}
	case p.budget.Take(d.Key, d.LastLookup):
		return nil, false
	default:
		co = &company{source: deferred}
	}
	co.finished.Store(true)
	return co, true
}

// account counts a finished record's company in the batch's lookups, once per run, and adds to the batch's
// sync state what the record and its company's lookup tell the next run. A dry run stores nothing.
func (r *runner) account(it *item, b *batch) {
	co := it.co
	if co == nil {
		return
	}
	if !co.counted {
		co.counted = true
		switch co.source {
		case fromLookup:
			b.lookups.Fresh++
		case fromStore:
			b.lookups.Cached++
		case deferred:
			b.lookups.Deferred++
		}
	}
	if r.e.o.SyncStore == nil || r.req.DryRun || co.source == deferred {
		return
	}
	key := incremental.CompanyKey{Country: it.country, Org: it.org}
	b.sync.Records = append(b.sync.Records, incremental.RecordKey{RecordID: it.rec.ID, Key: key})
	if co.source == fromLookup && !co.saved {
		co.saved = true
		b.sync.Companies = append(b.sync.Companies, incremental.SavedCompany{Key: key, MappingKey: r.e.mappingKey,
			Vals: co.values, Status: lookupStatus(co.err), LookedUpAt: time.Unix(0, co.lookedUpAt).UTC()})
	}
}

// lookupStatus is how a finished lookup is stored.
func lookupStatus(err error) incremental.Status {
	switch {
	case err == nil:
		return incremental.Found
	case errors.Is(err, ErrNotFound):
		return incremental.NotFound
	}
	return incremental.Failed
}

// lookupOf is what RecordResult.Lookup says of a company's data.
func lookupOf(co *company) string {
	switch {
	case co == nil:
		return ""
	case co.source == fromStore:
		return LookupStored
	}
	return LookupFresh
}
