package massupdate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/orgnr"
)

// Preview is what a run would meet, from Salesforce and the stored sync state alone (README: Contract,
// `preview --json`; the keys after estimated_seconds extend it with the plan of issue 12).
type Preview struct {
	Selected         int `json:"selected"`
	MissingOrgNumber int `json:"missing_org_number"`
	InvalidOrgNumber int `json:"invalid_org_number"`
	// Duplicates counts the records that share their (country, org number) with another record, as the
	// contract words it: two records with one number count 2. Their company is looked up once.
	Duplicates int `json:"duplicates"`
	// Lookups is the Proff calls a run would make: the company lookups and the feed pages.
	Lookups int `json:"lookups"`
	// EstimatedSeconds is Lookups at the configured rate (0 when no rate is set).
	EstimatedSeconds float64 `json:"estimated_seconds"`

	// Due counts the distinct companies due for a lookup, by why (deferred ones included).
	Due map[incremental.Reason]int `json:"due"`
	// Cached counts the companies a run would serve from the values stored at their last lookup.
	Cached int `json:"cached"`
	// Deferred counts the due companies sync.max_lookups leaves for a later run.
	Deferred int `json:"deferred"`
	// CompanyLookups is the due companies less the deferred ones.
	CompanyLookups int `json:"company_lookups"`
	// FeedPages estimates the change-feed calls: two a country whose feed would be read (the changes, and
	// the removals), the fewest a read costs; a read after a long pause (up to the feed's 30 days) costs more.
	FeedPages int `json:"feed_pages"`
}

// PreviewOptions are what a preview needs: the records, and optionally the stored sync state. It makes no
// Proff call and writes nothing, so it needs no lookup, writer or run store.
type PreviewOptions struct {
	Source         RecordSource
	DefaultCountry string
	// Rules, Kinds and MappingVersion give the mapping key stored values must have (as in Options).
	Rules          []mapping.Rule
	Kinds          map[string]mapping.Kind
	MappingVersion string
	// SyncState, when set, is the stored state (store.Store): without it every company is due ("new").
	SyncState incremental.StateLoader
	// FeedStates are the change feeds' stored states (store.Store.FeedStates); read with ChangeFeed only.
	FeedStates  map[string]incremental.FeedState
	ChangeFeed  bool
	RefreshDays int
	MaxLookups  int
	// Full previews `run --full`: every company due.
	Full bool
	// RatePerSecond is the Proff rate of the estimate.
	RatePerSecond float64
	// Clock tells the time (default clock.System).
	Clock clock.Clock
}

// Previewer computes previews.
type Previewer struct {
	o          PreviewOptions
	defaultC   orgnr.Country
	mappingKey string
}

// NewPreviewer checks the options and returns a Previewer.
func NewPreviewer(o PreviewOptions) (*Previewer, error) {
	if o.Source == nil {
		return nil, errors.New("massupdate: preview options lack Source")
	}
	c, ok := orgnr.ParseCountry(o.DefaultCountry)
	if !ok {
		return nil, fmt.Errorf("massupdate: default country %q is not NO, SE, DK or FI", o.DefaultCountry)
	}
	o.Clock = clock.Or(o.Clock)
	return &Previewer{o: o, defaultC: c, mappingKey: mappingKey(o.MappingVersion, o.Rules, o.Kinds)}, nil
}

// previewCompany is what the preview keeps per distinct company: its records and how a run would serve it.
type previewCompany struct {
	records int32
	planned bool
	reason  incremental.Reason // "": cached
}

// previewing is one preview's read.
type previewing struct {
	p         *Previewer
	now       time.Time
	out       Preview
	companies map[companyKey]*previewCompany
	opt       incremental.Options
	feeds     map[string]bool // countries met whose feed a run would read
}

// Preview reads the selected records and plans them as a run would, from what is stored. Its memory grows
// with the distinct org numbers only.
func (p *Previewer) Preview(ctx context.Context) (Preview, error) {
	pv := &previewing{p: p, now: p.o.Clock.Now(), companies: map[companyKey]*previewCompany{},
		opt:   incremental.Options{MappingKey: p.mappingKey, RefreshDays: p.o.RefreshDays, Full: p.o.Full},
		feeds: map[string]bool{}}
	if p.o.ChangeFeed && !p.o.Full {
		pv.opt.Feeds = map[string]incremental.FeedCoverage{}
	}
	if err := p.o.Source.Records(ctx, "", func(page []Record) error { return pv.page(ctx, page) }); err != nil {
		return Preview{}, fmt.Errorf("read the selected records: %w", err)
	}
	return pv.result(), nil
}

// page counts a page's records and plans its companies.
func (pv *previewing) page(ctx context.Context, page []Record) error {
	recs := make([]incremental.Record, 0, len(page))
	for _, rec := range page {
		pv.out.Selected++
		it := classifyWith(pv.p.defaultC, rec)
		switch it.outcome {
		case MissingOrgNumber:
			pv.out.MissingOrgNumber++
			continue
		case InvalidOrgNumber:
			pv.out.InvalidOrgNumber++
			continue
		}
		k := companyKey{it.country, it.org}
		c := pv.companies[k]
		if c == nil {
			c = &previewCompany{reason: incremental.ReasonNew}
			pv.companies[k] = c
			pv.meetCountry(it.country)
		}
		c.records++
		recs = append(recs, incremental.Record{ID: rec.ID, Key: incremental.CompanyKey{Country: it.country, Org: it.org}})
	}
	if pv.p.o.SyncState == nil && !pv.p.o.Full {
		return nil // nothing stored: every company is new
	}
	var ds []incremental.Decision
	if pv.p.o.Full {
		ds = incremental.Plan(recs, incremental.State{}, pv.opt, pv.now) // every company due, nothing to load
	} else {
		var err error
		if ds, err = incremental.PlanPage(ctx, pv.p.o.SyncState, recs, pv.opt, pv.now); err != nil {
			return err
		}
	}
	for _, d := range ds {
		c := pv.companies[companyKey{d.Key.Country, d.Key.Org}]
		switch {
		case !c.planned:
			c.reason, c.planned = d.Reason, true
		case c.reason == "" && d.Reason == incremental.ReasonChangedInSalesforce:
			// Served from stored values so far, looked up from a record that moved to it on (as a run does).
			c.reason = d.Reason
		}
	}
	return nil
}

// meetCountry notes a country the records hold: a run would read its feed (when it has one to read).
func (pv *previewing) meetCountry(country string) {
	if pv.opt.Feeds == nil || pv.feeds[country] {
		return
	}
	pv.feeds[country] = true
	cov := incremental.PreviewCoverage(pv.p.o.FeedStates, []string{country}, pv.now)
	if c, ok := cov[country]; ok {
		pv.opt.Feeds[country] = c
		pv.out.FeedPages += 2
	}
}

// result sums the companies up.
func (pv *previewing) result() Preview {
	out := pv.out
	out.Due = map[incremental.Reason]int{}
	due := 0
	for _, c := range pv.companies {
		if c.records > 1 {
			out.Duplicates += int(c.records)
		}
		if c.reason == "" {
			out.Cached++
			continue
		}
		out.Due[c.reason]++
		due++
	}
	if m := pv.p.o.MaxLookups; m > 0 && !pv.p.o.Full && due > m {
		out.Deferred = due - m
	}
	out.CompanyLookups = due - out.Deferred
	out.Lookups = out.CompanyLookups + out.FeedPages
	if pv.p.o.RatePerSecond > 0 {
		out.EstimatedSeconds = float64(out.Lookups) / pv.p.o.RatePerSecond
	}
	return out
}
