package serve_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/metrics"
	"github.com/proffconnect/proffsync/internal/serve"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// replica is one `serve` process: its own Store (own pool and lock connection) on the shared database, its
// own clock and metrics.
type replica struct {
	name    string
	st      *store.Store
	clock   *clocktest.Clock
	metrics *metrics.Metrics
	h       *harness
	// hold, when set, is called while the run holds the lock and its row exists (a test signal).
	hold func(due time.Time)
}

// run is what cmd wires as Options.Run, reduced to the bookkeeping: the run lock, a scheduled run for the
// due time, the finish. The engine's record work is not what this test is about.
func (r *replica) run(ctx context.Context, due time.Time) (*massupdate.Run, error) {
	lock, err := r.st.AcquireRunLock(ctx)
	if err != nil {
		return nil, err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	run := &massupdate.Run{Trigger: massupdate.Schedule, StartedAt: r.clock.Now(), ScheduledFor: &due}
	if err := r.st.CreateRun(ctx, run); err != nil {
		return nil, err
	}
	if r.hold != nil {
		r.hold(due)
	}
	end := r.clock.Now().Add(time.Second)
	run.Status, run.FinishedAt = massupdate.Succeeded, &end
	if err := r.st.FinishRun(context.WithoutCancel(ctx), run); err != nil {
		return run, err
	}
	return run, nil
}

func newReplicas(t *testing.T, start time.Time, skew time.Duration) (a, b *replica, shared *store.Store) {
	t.Helper()
	url := storetest.URL(t)
	shared = storetest.Open(t, url, store.Options{})
	if err := shared.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, now time.Time) *replica {
		r := &replica{name: name, st: storetest.Open(t, url, store.Options{}), clock: clocktest.At(now), metrics: metrics.New()}
		r.h = start0(t, r)
		return r
	}
	// b's clock runs skew behind a's.
	return mk("a", start), mk("b", start.Add(-skew)), shared
}

func start0(t *testing.T, r *replica) *harness {
	return start(t, serve.Options{Enabled: true, Cron: "0 * * * *", Timezone: "Europe/Oslo", Clock: r.clock,
		Run: r.run, Metrics: r.metrics})
}

// scheduledFor lists the due times the database holds scheduled runs for, sorted.
func scheduledFor(t *testing.T, st *store.Store) []time.Time {
	t.Helper()
	runs, err := st.ListRuns(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, r := range runs {
		if r.Trigger != massupdate.Schedule || r.ScheduledFor == nil {
			t.Errorf("unexpected run %+v", r)
			continue
		}
		if r.Status != massupdate.Succeeded {
			t.Errorf("run %s for %v is %s", r.ID, *r.ScheduledFor, r.Status)
		}
		out = append(out, r.ScheduledFor.UTC())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func skipped(t *testing.T, r *replica, reason string) float64 {
	fams := scrape(t, r.h.srv.Handler())
	f, ok := fams["proffsync_schedule_skipped_total"]
	if !ok {
		return 0
	}
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "reason" && lp.GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Two replicas whose clocks differ by seconds: at each due time one runs and the other is turned away,
// by the lock while the first still runs, by the recorded due time once it has ended.
func TestTwoReplicasServeEachDueTimeOnce(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 4, 1, 0, 30, 0, 0, time.UTC)
	a, b, shared := newReplicas(t, t0, 3*time.Second)

	type held struct {
		due     time.Time
		release chan struct{}
	}
	holding := make(chan held)
	var holdNext bool
	var mu sync.Mutex
	a.hold = func(due time.Time) {
		mu.Lock()
		h := holdNext
		mu.Unlock()
		if h {
			release := make(chan struct{})
			holding <- held{due, release}
			<-release
		}
	}

	var want []time.Time
	for k := 1; k <= 4; k++ {
		due := t0.Add(time.Duration(k)*time.Hour - 30*time.Minute)
		want = append(want, due)
		hold := k%2 == 1
		mu.Lock()
		holdNext = hold
		mu.Unlock()
		if hold {
			// a is in the middle of its run when b's clock reaches the due time: the lock turns b away.
			errc := make(chan error, 1)
			go func() { errc <- a.clock.RunUntilErr(due) }()
			h := <-holding
			if !h.due.Equal(due) {
				t.Fatalf("a serves %v, want %v", h.due, due)
			}
			b.clock.RunUntil(t, due)
			close(h.release)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		} else {
			// a has finished when b, seconds late, reaches the due time: the lock is free, the record is not.
			a.clock.RunUntil(t, due)
			b.clock.RunUntil(t, due)
		}
	}

	if got := scheduledFor(t, shared); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scheduled runs for\n%v\nwant one per due time\n%v", got, want)
	}
	if n := skipped(t, b, metrics.SkipLocked); n != 2 {
		t.Errorf("b skipped %v due times on the lock, want 2", n)
	}
	if n := skipped(t, b, metrics.SkipAlreadyServed); n != 2 {
		t.Errorf("b skipped %v due times already served, want 2", n)
	}
	if n := skipped(t, a, metrics.SkipLocked) + skipped(t, a, metrics.SkipAlreadyServed); n != 0 {
		t.Errorf("a skipped %v due times, want 0", n)
	}
}

// The same with both replicas reaching each due time at once, in whatever order the scheduler interleaves
// them. The rounds keep them within one due time of each other, as clocks that differ by seconds do: a
// replica a whole period behind could find the lock held by the other's check of the next due time.
func TestTwoReplicasRacingServeEachDueTimeOnce(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 10, 24, 20, 30, 0, 0, time.UTC) // across the autumn change in Oslo
	a, b, shared := newReplicas(t, t0, 2*time.Second)
	end := t0.Add(12 * time.Hour)
	for round := 0; ; round++ {
		var wg sync.WaitGroup
		var moved [2]bool
		var errs [2]error
		for i, r := range []*replica{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if moved[i], errs[i] = r.clock.Step(end); errs[i] == nil {
					errs[i] = r.clock.Idle()
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs[:]...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !moved[0] && !moved[1] {
			break
		}
	}
	got := scheduledFor(t, shared)
	// Every hour from 23:00 CEST on the 24th to 09:00 CET on the 25th, with the repeated 02:00 served once.
	var want []time.Time
	for h := 21; h <= 32; h++ {
		at := time.Date(2026, 10, 24, h, 0, 0, 0, time.UTC)
		if at.Equal(utc("2026-10-25T01:00:00Z")) { // 02:00 CET, the second pass of 02:00
			continue
		}
		if at.After(end) {
			break
		}
		want = append(want, at)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scheduled runs for\n%v\nwant\n%v\na:\n%s\nb:\n%s", got, want, a.h.log, b.h.log)
	}
	total := 0.0
	for _, r := range []*replica{a, b} {
		total += skipped(t, r, metrics.SkipLocked) + skipped(t, r, metrics.SkipAlreadyServed)
	}
	if int(total) != len(want) {
		t.Errorf("%v skips in all, want one per due time (%d)", total, len(want))
	}
}
