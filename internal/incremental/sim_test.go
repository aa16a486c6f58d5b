package incremental_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// simRun is one run as the engine will drive the planner and the store (the wiring the integrator adds):
// a first pass plans every page and offers the due companies to the budget, a second pass plans again
// and takes or defers each due company; companies taken are "looked up" (their values are the run's
// number) and saved with the page, unless the run is dry.
type simRun struct {
	mapping string
	opt     incremental.Options
	max     int
	dry     bool
}

type simResult struct {
	fresh, cached, deferred []incremental.CompanyKey
	reasons                 map[incremental.Reason]int
}

const simPage = 4

func (r simRun) run(t *testing.T, s *store.Store, recs []incremental.Record, now time.Time) simResult {
	t.Helper()
	ctx := context.Background()
	opt := r.opt
	opt.MappingKey = r.mapping
	pages := func(f func(page []incremental.Record, ds []incremental.Decision)) {
		for i := 0; i < len(recs); i += simPage {
			page := recs[i:min(i+simPage, len(recs))]
			ds, err := incremental.PlanPage(ctx, s, page, opt, now)
			if err != nil {
				t.Fatal(err)
			}
			f(page, ds)
		}
	}
	b := incremental.NewBudget(r.max)
	pages(func(_ []incremental.Record, ds []incremental.Decision) {
		for _, d := range ds {
			if d.Due {
				b.Add(d.Key, d.LastLookup)
			}
		}
	})
	budget := b.Build()
	res := simResult{reasons: map[incremental.Reason]int{}}
	seen := map[incremental.CompanyKey]bool{} // the engine's company index
	pages(func(page []incremental.Record, ds []incremental.Decision) {
		var save incremental.Save
		taken := map[incremental.CompanyKey]bool{}
		for _, d := range ds {
			if seen[d.Key] {
				taken[d.Key] = true
				continue
			}
			seen[d.Key] = true
			switch {
			case !d.Due:
				res.cached = append(res.cached, d.Key)
				taken[d.Key] = true
			case budget.Take(d.Key, d.LastLookup):
				res.fresh = append(res.fresh, d.Key)
				res.reasons[d.Reason]++
				taken[d.Key] = true
				save.Companies = append(save.Companies, incremental.SavedCompany{Key: d.Key, MappingKey: r.mapping,
					Vals: []byte(now.Format(time.RFC3339)), Status: incremental.Found, LookedUpAt: now})
			default:
				res.deferred = append(res.deferred, d.Key)
			}
		}
		for _, rec := range page {
			if taken[rec.Key] { // a deferred company's records are not processed, so not recorded
				save.Records = append(save.Records, incremental.RecordKey{RecordID: rec.ID, Key: rec.Key})
			}
		}
		if !r.dry {
			if err := s.SaveSync(ctx, save); err != nil {
				t.Fatal(err)
			}
		}
	})
	return res
}

func simRecords(n int) []incremental.Record {
	recs := make([]incremental.Record, n)
	for i := range recs {
		recs[i] = incremental.Record{ID: fmt.Sprintf("001%05d", i), Key: key("SE", fmt.Sprintf("55%08d", i))}
	}
	return recs
}

// With sync.max_lookups 3 and ten companies, the cap takes the never-looked-up ones first, then the
// stalest, and over successive nights every company is refreshed.
func TestCapRefreshesEveryCompanyStalestFirstOverRuns(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	recs := simRecords(10)
	run := simRun{mapping: "m1", max: 3} // refresh_days 0: every company due every run
	lastLookup := map[incremental.CompanyKey]time.Time{}
	for night := range 7 {
		now := t0.Add(time.Duration(night) * day)
		res := run.run(t, s, recs, now)
		if len(res.fresh) != 3 || len(res.deferred) != 7 || len(res.cached) != 0 {
			t.Fatalf("night %d: fresh %d, deferred %d, cached %d; want 3, 7, 0", night, len(res.fresh), len(res.deferred), len(res.cached))
		}
		// Every company taken is at least as stale as every company deferred.
		for _, f := range res.fresh {
			for _, d := range res.deferred {
				lf, ld := lastLookup[f], lastLookup[d]
				if lf.After(ld) || lf.Equal(ld) && d.Less(f) {
					t.Errorf("night %d: %v (last %v) taken before %v (last %v)", night, f, lf, d, ld)
				}
			}
		}
		for _, f := range res.fresh {
			lastLookup[f] = now
		}
		if night == 3 && len(lastLookup) != 10 {
			t.Errorf("after 4 nights %d of 10 companies looked up, want all", len(lastLookup))
		}
	}
	// Seven nights of 3 lookups over 10 companies: no company waits more than 4 nights.
	for k, at := range lastLookup {
		if t0.Add(6*day).Sub(at) > 3*day {
			t.Errorf("%v last looked up %v", k, at)
		}
	}
}

// A changed mapping makes every company due once ("new"); with a cap the refresh spreads over nights,
// oldest first, and then the companies are served from stored values again.
func TestMappingChangeRefreshesEveryCompanyOnce(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	recs := simRecords(5)
	week := incremental.Options{RefreshDays: 7}
	if res := (simRun{mapping: "m1", opt: week}).run(t, s, recs, t0); len(res.fresh) != 5 || res.reasons[incremental.ReasonNew] != 5 {
		t.Fatalf("first run %+v, want 5 new", res)
	}
	if res := (simRun{mapping: "m1", opt: week}).run(t, s, recs, t0.Add(day)); len(res.cached) != 5 {
		t.Fatalf("second run %+v, want all cached", res)
	}
	var refreshed []incremental.CompanyKey
	for night := 2; night <= 4; night++ {
		res := (simRun{mapping: "m2", opt: week, max: 2}).run(t, s, recs, t0.Add(time.Duration(night)*day))
		if res.reasons[incremental.ReasonNew] != len(res.fresh) {
			t.Errorf("night %d: reasons %v, want all new", night, res.reasons)
		}
		refreshed = append(refreshed, res.fresh...)
	}
	if len(refreshed) != 5 {
		t.Fatalf("refreshed %v under the new mapping, want each of the 5 once", refreshed)
	}
	if res := (simRun{mapping: "m2", opt: week, max: 2}).run(t, s, recs, t0.Add(5*day)); len(res.cached) != 5 || len(res.fresh) != 0 {
		t.Errorf("after the refresh: %+v, want all cached", res)
	}
}

// A dry run stores nothing that would make a later run skip a lookup: the engine does not save in a dry
// run, so the companies it looked up are due for the next real run, for the same reason.
func TestDryRunLeavesNoTrace(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	recs := simRecords(6)
	dry := simRun{mapping: "m1", opt: incremental.Options{RefreshDays: 7}, dry: true}
	first := dry.run(t, s, recs, t0)
	if len(first.fresh) != 6 {
		t.Fatalf("dry run %+v, want 6 looked up", first)
	}
	ids, keys := make([]string, len(recs)), make([]incremental.CompanyKey, len(recs))
	for i, r := range recs {
		ids[i], keys[i] = r.ID, r.Key
	}
	if st, err := s.LoadSyncState(context.Background(), ids, keys); err != nil || len(st.Companies)+len(st.Records) != 0 {
		t.Fatalf("after a dry run: %+v (%v), want nothing stored", st, err)
	}
	real := dry
	real.dry = false
	second := real.run(t, s, recs, t0.Add(time.Hour))
	if len(second.fresh) != 6 || second.reasons[incremental.ReasonNew] != 6 {
		t.Errorf("real run after a dry one: %+v, want the 6 looked up as new", second)
	}
	if third := real.run(t, s, recs, t0.Add(2*time.Hour)); len(third.cached) != 6 {
		t.Errorf("the run after the real one: %+v, want the 6 served from stored values", third)
	}
}
