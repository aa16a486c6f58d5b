package serve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/metrics"
	"github.com/proffconnect/proffsync/internal/serve"
	"github.com/proffconnect/proffsync/internal/transport"
)

var oslo = mustZone("Europe/Oslo")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// call is one scheduled Run: the due time it served and the clock when it started.
type call struct{ due, now time.Time }

// recorder is a Run func that notes every call and answers with result(n) for the n-th (0-based).
type recorder struct {
	clock  *clocktest.Clock
	mu     sync.Mutex
	calls  []call
	result func(n int, ctx context.Context, due time.Time) (*massupdate.Run, error)
}

func (r *recorder) Run(ctx context.Context, due time.Time) (*massupdate.Run, error) {
	r.mu.Lock()
	n := len(r.calls)
	r.calls = append(r.calls, call{due: due, now: r.clock.Now()})
	r.mu.Unlock()
	if r.result != nil {
		return r.result(n, ctx, due)
	}
	return nil, nil
}

func (r *recorder) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// harness runs a Server in the background until the test ends.
type harness struct {
	srv  *serve.Server
	log  *syncBuffer
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, o serve.Options) *harness {
	t.Helper()
	buf := &syncBuffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := serve.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{srv: srv, log: buf, stop: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Run(ctx) }()
	t.Cleanup(func() { h.shutdown(t) })
	return h
}

// shutdown stops the server and returns what Run returned (once; later calls return nil).
func (h *harness) shutdown(t *testing.T) error {
	t.Helper()
	h.stop()
	select {
	case err, ok := <-h.done:
		if ok {
			close(h.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
		return nil
	}
}

func TestDisabledScheduleNeverRuns(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 5, 12, 0, 0, 0, oslo)
	clock := clocktest.At(t0)
	var prunes []time.Time
	var mu sync.Mutex
	h := start(t, serve.Options{
		Enabled: false, Cron: "* * * * *", Timezone: "Europe/Oslo", Clock: clock,
		Run: func(context.Context, time.Time) (*massupdate.Run, error) {
			t.Error("Run called while the schedule is disabled")
			return nil, nil
		},
		Prune: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			prunes = append(prunes, clock.Now())
			return nil
		},
	})
	clock.RunUntil(t, t0.Add(30*24*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Pruning still works: once at start and once a day.
	if len(prunes) != 31 {
		t.Fatalf("pruned %d times over 30 days, want 31", len(prunes))
	}
	for i, p := range prunes {
		if want := t0.Add(time.Duration(i) * serve.PruneEvery); !p.Equal(want) {
			t.Errorf("prune %d at %v, want %v", i, p, want)
		}
	}
	if !strings.Contains(h.log.String(), "the schedule is disabled") {
		t.Errorf("serve did not say the schedule is disabled; log:\n%s", h.log.String())
	}
	fams := scrape(t, h.srv.Handler())
	expectValue(t, fams, "proffsync_schedule_enabled", nil, 0)
	expectValue(t, fams, "proffsync_schedule_next_run_timestamp_seconds", nil, 0)
}

func TestDisabledWithoutPruneIdlesUntilShutdown(t *testing.T) {
	t.Parallel()
	clock := clocktest.At(time.Date(2026, 1, 5, 1, 59, 0, 0, oslo))
	calls := 0
	h := start(t, serve.Options{Cron: "0 2 * * *", Timezone: "Europe/Oslo", Clock: clock,
		Run: func(context.Context, time.Time) (*massupdate.Run, error) { calls++; return nil, nil }})
	clock.Advance(48 * time.Hour)
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if calls != 0 {
		t.Fatalf("Run called %d times while disabled", calls)
	}
}

func TestEnabledRunsOncePerDueTime(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, oslo)
	clock := clocktest.At(t0)
	rec := &recorder{clock: clock}
	h := start(t, serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "Europe/Oslo", Clock: clock, Run: rec.Run})
	clock.RunUntil(t, t0.Add(20*24*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	calls := rec.Calls()
	if len(calls) != 20 {
		t.Fatalf("%d runs in 20 days, want 20: %v", len(calls), calls)
	}
	for i, c := range calls {
		want := time.Date(2026, 1, 10+i, 2, 0, 0, 0, oslo)
		if !c.due.Equal(want) || !c.now.Equal(want) {
			t.Errorf("run %d: due %v at %v, want both %v", i, c.due, c.now, want)
		}
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func hoursUTC(day string, hours ...int) []time.Time {
	var out []time.Time
	for _, h := range hours {
		out = append(out, utc(fmt.Sprintf("%sT%02d:00:00Z", day, h)))
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// Oslo 2026: 29 March 02:00 CET → 03:00 CEST; 25 October 03:00 CEST → 02:00 CET.
func TestDaylightSavingOslo2026(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cron string
		from, to   time.Time // local window
		want       []time.Time
	}{
		{
			name: "spring 02:30 runs at 03:00 on the day it is skipped", cron: "30 2 * * *",
			from: time.Date(2026, 3, 27, 12, 0, 0, 0, oslo), to: time.Date(2026, 3, 31, 12, 0, 0, 0, oslo),
			want: []time.Time{utc("2026-03-28T01:30:00Z"), utc("2026-03-29T01:00:00Z"),
				utc("2026-03-30T00:30:00Z"), utc("2026-03-31T00:30:00Z")},
		},
		{
			name: "spring 02:00 runs at 03:00 on the day it is skipped", cron: "0 2 * * *",
			from: time.Date(2026, 3, 27, 12, 0, 0, 0, oslo), to: time.Date(2026, 3, 31, 12, 0, 0, 0, oslo),
			want: []time.Time{utc("2026-03-28T01:00:00Z"), utc("2026-03-29T01:00:00Z"),
				utc("2026-03-30T00:00:00Z"), utc("2026-03-31T00:00:00Z")},
		},
		{
			name: "autumn 02:00 runs once, in the first pass", cron: "0 2 * * *",
			from: time.Date(2026, 10, 23, 12, 0, 0, 0, oslo), to: time.Date(2026, 10, 27, 12, 0, 0, 0, oslo),
			want: []time.Time{utc("2026-10-24T00:00:00Z"), utc("2026-10-25T00:00:00Z"),
				utc("2026-10-26T01:00:00Z"), utc("2026-10-27T01:00:00Z")},
		},
		{
			name: "autumn 02:30 runs once, in the first pass", cron: "30 2 * * *",
			from: time.Date(2026, 10, 23, 12, 0, 0, 0, oslo), to: time.Date(2026, 10, 27, 12, 0, 0, 0, oslo),
			want: []time.Time{utc("2026-10-24T00:30:00Z"), utc("2026-10-25T00:30:00Z"),
				utc("2026-10-26T01:30:00Z"), utc("2026-10-27T01:30:00Z")},
		},
		{
			// 00:00 and 01:00 CET, then the skipped 02:00 and 03:00 CEST fall on one instant: one run.
			name: "spring hourly: 23 runs on a 23-hour day", cron: "0 * * * *",
			from: time.Date(2026, 3, 28, 23, 30, 0, 0, oslo), to: time.Date(2026, 3, 29, 23, 30, 0, 0, oslo),
			want: append(hoursUTC("2026-03-28", 23), hoursUTC("2026-03-29", seq(0, 21)...)...),
		},
		{
			// Wall-clock hours 00..23 each run once; the repeated 02:00 (01:00Z) does not run again.
			name: "autumn hourly: 24 runs on a 25-hour day", cron: "0 * * * *",
			from: time.Date(2026, 10, 24, 23, 30, 0, 0, oslo), to: time.Date(2026, 10, 25, 23, 30, 0, 0, oslo),
			want: append(hoursUTC("2026-10-24", 22, 23), hoursUTC("2026-10-25", append([]int{0}, seq(2, 22)...)...)...),
		},
		{
			name: "spring half-hourly: the skipped 02:00 and 02:30 run with 03:00", cron: "*/30 * * * *",
			from: time.Date(2026, 3, 29, 1, 10, 0, 0, oslo), to: time.Date(2026, 3, 29, 4, 10, 0, 0, oslo),
			want: []time.Time{utc("2026-03-29T00:30:00Z"), utc("2026-03-29T01:00:00Z"),
				utc("2026-03-29T01:30:00Z"), utc("2026-03-29T02:00:00Z")},
		},
		{
			name: "started in the second pass of the repeated hour: 02:30 already ran in the first", cron: "30 2 * * *",
			from: utc("2026-10-25T01:10:00Z"), to: utc("2026-10-26T12:00:00Z"),
			want: []time.Time{utc("2026-10-26T01:30:00Z")},
		},
		{
			name: "started in the first pass of the repeated hour", cron: "30 2 * * *",
			from: utc("2026-10-25T00:10:00Z"), to: utc("2026-10-25T12:00:00Z"),
			want: []time.Time{utc("2026-10-25T00:30:00Z")},
		},
		{
			name: "started a second before the spring gap", cron: "30 2 * * *",
			from: time.Date(2026, 3, 29, 1, 59, 59, 0, oslo), to: time.Date(2026, 3, 29, 12, 0, 0, 0, oslo),
			want: []time.Time{utc("2026-03-29T01:00:00Z")},
		},
		{
			name: "CRON_TZ in the expression overrides the timezone", cron: "CRON_TZ=UTC 0 2 * * *",
			from: utc("2026-03-28T12:00:00Z"), to: utc("2026-03-30T12:00:00Z"),
			want: []time.Time{utc("2026-03-29T02:00:00Z"), utc("2026-03-30T02:00:00Z")},
		},
		{
			name: "@every is elapsed time, untouched by the clock change", cron: "@every 6h",
			from: time.Date(2026, 10, 24, 21, 0, 0, 0, oslo), to: time.Date(2026, 10, 25, 16, 0, 0, 0, oslo),
			want: []time.Time{utc("2026-10-25T01:00:00Z"), utc("2026-10-25T07:00:00Z"), utc("2026-10-25T13:00:00Z")},
		},
		{
			name: "@daily is midnight local", cron: "@daily",
			from: time.Date(2026, 3, 28, 12, 0, 0, 0, oslo), to: time.Date(2026, 3, 30, 12, 0, 0, 0, oslo),
			want: []time.Time{utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := clocktest.At(tc.from)
			rec := &recorder{clock: clock}
			h := start(t, serve.Options{Enabled: true, Cron: tc.cron, Timezone: "Europe/Oslo", Clock: clock, Run: rec.Run})
			clock.RunUntil(t, tc.to)
			if err := h.shutdown(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			calls := rec.Calls()
			var got []time.Time
			for _, c := range calls {
				got = append(got, c.due.UTC())
				if !c.now.Equal(c.due) {
					t.Errorf("due %v started at %v", c.due.UTC(), c.now.UTC())
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("due times\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestACronThatNeverFallsDueRunsNothing(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	pruned := 0
	var mu sync.Mutex
	h := start(t, serve.Options{Enabled: true, Cron: "0 0 30 2 *", Timezone: "UTC", Clock: clock,
		Run: func(context.Context, time.Time) (*massupdate.Run, error) {
			t.Error("Run called for 30 February")
			return nil, nil
		},
		Prune: func(context.Context) error { mu.Lock(); pruned++; mu.Unlock(); return nil }})
	clock.RunUntil(t, t0.Add(3*24*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if pruned != 4 {
		t.Errorf("pruned %d times in three days, want 4", pruned)
	}
	if !strings.Contains(h.log.String(), "never falls due") {
		t.Errorf("no warning about the cron:\n%s", h.log.String())
	}
}

func TestLockedAndServedDueTimesAreSkippedAndCounted(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	m := metrics.New()
	rec := &recorder{clock: clock, result: func(n int, _ context.Context, due time.Time) (*massupdate.Run, error) {
		switch n {
		case 0:
			return nil, fmt.Errorf("start run: %w", &massupdate.LockedError{RunID: "run-manual-1"})
		case 1:
			return nil, fmt.Errorf("create run: %w", massupdate.ErrAlreadyServed)
		case 2:
			return nil, massupdate.ErrLocked
		}
		return nil, nil
	}}
	h := start(t, serve.Options{Enabled: true, Cron: "0 * * * *", Timezone: "UTC", Clock: clock, Run: rec.Run, Metrics: m})
	clock.RunUntil(t, t0.Add(4*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	calls := rec.Calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls, want one per due time (4): %v", len(calls), calls)
	}
	for i, c := range calls {
		if want := t0.Add(time.Duration(i+1) * time.Hour); !c.due.Equal(want) {
			t.Errorf("call %d served %v, want %v (a skipped due time is not retried)", i, c.due, want)
		}
	}
	fams := scrape(t, m.Handler())
	expectValue(t, fams, "proffsync_schedule_skipped_total", map[string]string{"reason": "locked"}, 2)
	expectValue(t, fams, "proffsync_schedule_skipped_total", map[string]string{"reason": "already_served"}, 1)
	log := h.log.String()
	if !strings.Contains(log, "another run holds the lock") || !strings.Contains(log, "already served") {
		t.Errorf("skips not logged:\n%s", log)
	}
}

func TestDueTimesPassedDuringALongRunAreCoalesced(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 2, 1, 0, 30, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	rec := &recorder{clock: clock, result: func(n int, _ context.Context, _ time.Time) (*massupdate.Run, error) {
		if n == 0 {
			clock.Advance(150 * time.Minute) // the 02:00 and 03:00 due times pass meanwhile
		}
		return nil, nil
	}}
	h := start(t, serve.Options{Enabled: true, Cron: "0 * * * *", Timezone: "UTC", Clock: clock, Run: rec.Run})
	clock.RunUntil(t, utc("2026-02-01T05:00:00Z"))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []call{
		{due: utc("2026-02-01T01:00:00Z"), now: utc("2026-02-01T01:00:00Z")},
		{due: utc("2026-02-01T03:00:00Z"), now: utc("2026-02-01T03:30:00Z")}, // 02:00 and 03:00 as one run, at once
		{due: utc("2026-02-01T04:00:00Z"), now: utc("2026-02-01T04:00:00Z")},
		{due: utc("2026-02-01T05:00:00Z"), now: utc("2026-02-01T05:00:00Z")},
	}
	got := rec.Calls()
	if len(got) != len(want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].due.Equal(want[i].due) || !got[i].now.Equal(want[i].now) {
			t.Errorf("call %d: %v, want %v", i, got[i], want[i])
		}
	}
}

func TestPruneFailureIsLoggedAndRetriedNextDay(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	var n int
	var mu sync.Mutex
	h := start(t, serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "UTC", Clock: clock,
		Run: (&recorder{clock: clock}).Run,
		Prune: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == 1 {
				return errors.New("delete old logs: failed to connect to `postgres://proff:hunter2secret@db:5432/proffsync`")
			}
			return nil
		}})
	clock.RunUntil(t, t0.Add(2*24*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 3 {
		t.Errorf("pruned %d times over two days, want 3", n)
	}
	log := h.log.String()
	if !strings.Contains(log, "pruning failed") {
		t.Errorf("prune failure not logged:\n%s", log)
	}
	if strings.Contains(log, "hunter2secret") {
		t.Errorf("a password reached the log:\n%s", log)
	}
}

func TestNewRejectsBadSchedules(t *testing.T) {
	t.Parallel()
	run := func(context.Context, time.Time) (*massupdate.Run, error) { return nil, nil }
	for _, o := range []serve.Options{
		{Enabled: true, Cron: "0 2 * *", Timezone: "Europe/Oslo", Run: run},
		{Enabled: true, Cron: "61 2 * * *", Timezone: "Europe/Oslo", Run: run},
		{Enabled: true, Cron: "@fortnightly", Timezone: "Europe/Oslo", Run: run},
		{Enabled: true, Cron: "0 2 * * *", Timezone: "Europe/Osloo", Run: run},
		{Enabled: false, Cron: "not a cron", Timezone: "Europe/Oslo"},
		{Enabled: true, Cron: "", Timezone: "UTC", Run: run},
		{Enabled: true, Cron: "0 2 * * *", Timezone: "UTC"}, // no Run
	} {
		if _, err := serve.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	for _, o := range []serve.Options{
		{Enabled: false},
		{Enabled: true, Cron: "@every 6h", Run: run},
		{Enabled: true, Cron: "0 2 * * 1-5", Timezone: "America/New_York", Run: run},
	} {
		if _, err := serve.New(o); err != nil {
			t.Errorf("New(%+v): %v", o, err)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	readyErr := error(nil)
	clock := clocktest.At(time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC))
	srv, err := serve.New(serve.Options{Clock: clock, Ready: func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return readyErr
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hs.Client().Get(hs.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz while ready = %d %q", code, body)
	}
	mu.Lock()
	readyErr = errors.New("ping postgres://proff:hunter2secret@10.0.0.5:5432/proffsync: connection refused")
	mu.Unlock()
	clock.Advance(time.Minute) // past the cached answer
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while PostgreSQL is down = %d", code)
	}
	// Status only: the address and the driver's error are for the log, not for unauthenticated callers.
	if body != "not ready\n" {
		t.Errorf("/readyz while PostgreSQL is down = %q, want status only", body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while not ready = %d, want 200 (alive)", code)
	}
	if code, _ := get("/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing = %d", code)
	}
}

func TestMetricsAfterAScheduledRun(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	m := metrics.New()
	rec := &recorder{clock: clock, result: func(_ int, _ context.Context, due time.Time) (*massupdate.Run, error) {
		// The run's HTTP calls reach the metrics through the transport's Recorder.
		m.RecordCall(context.Background(), transport.Call{Service: transport.Proff, Status: 200, Attempt: 1})
		m.RecordCall(context.Background(), transport.Call{Service: transport.Proff, Status: 503, Attempt: 1})
		m.RecordCall(context.Background(), transport.Call{Service: transport.Proff, Status: 200, Attempt: 2})
		m.RecordCall(context.Background(), transport.Call{Service: transport.Salesforce, Status: 200, Attempt: 1, APIUsed: 77, APIMax: 5000})
		clock.Advance(95 * time.Second)
		end := clock.Now()
		return &massupdate.Run{ID: "r1", Trigger: massupdate.Schedule, Status: massupdate.Succeeded, StartedAt: due,
			FinishedAt: &end, ScheduledFor: &due,
			Counts: massupdate.Counts{Selected: 7, Updated: 3, Unchanged: 2, NotFound: 1, Failed: 0, MissingOrgNumber: 1}}, nil
	}}
	h := start(t, serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "UTC", Clock: clock, Run: rec.Run, Metrics: m})
	clock.RunUntil(t, t0.Add(90*time.Minute))
	if len(rec.Calls()) != 1 {
		t.Fatalf("calls: %v", rec.Calls())
	}
	fams := scrape(t, h.srv.Handler())
	due := utc("2026-02-01T02:00:00Z")
	expectValue(t, fams, "proffsync_runs_total", map[string]string{"trigger": "schedule", "status": "succeeded"}, 1)
	expectValue(t, fams, "proffsync_records_total", map[string]string{"outcome": "updated"}, 3)
	expectValue(t, fams, "proffsync_records_total", map[string]string{"outcome": "unchanged"}, 2)
	expectValue(t, fams, "proffsync_records_total", map[string]string{"outcome": "missing_org_number"}, 1)
	expectValue(t, fams, "proffsync_records_total", map[string]string{"outcome": "failed"}, 0)
	expectValue(t, fams, "proffsync_last_success_timestamp_seconds", nil, float64(due.Add(95*time.Second).Unix()))
	expectValue(t, fams, "proffsync_last_run_duration_seconds", nil, 95)
	expectValue(t, fams, "proffsync_api_calls_total", map[string]string{"service": "proff", "class": "2xx"}, 2)
	expectValue(t, fams, "proffsync_api_calls_total", map[string]string{"service": "proff", "class": "5xx"}, 1)
	expectValue(t, fams, "proffsync_api_retries_total", map[string]string{"service": "proff"}, 1)
	expectValue(t, fams, "proffsync_salesforce_api_requests_used", nil, 77)
	expectValue(t, fams, "proffsync_salesforce_api_requests_max", nil, 5000)
	expectValue(t, fams, "proffsync_schedule_enabled", nil, 1)
	expectValue(t, fams, "proffsync_schedule_next_run_timestamp_seconds", nil, float64(due.Add(24*time.Hour).Unix()))
}

func TestGracefulShutdownInterruptsTheRun(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 2, 1, 1, 59, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	m := metrics.New()
	entered := make(chan struct{})
	var runCtxErr error
	var readyWhileStopping int
	var addr net.Addr
	rec := &recorder{clock: clock, result: func(_ int, ctx context.Context, due time.Time) (*massupdate.Run, error) {
		close(entered)
		<-ctx.Done() // the engine stops at the next record once its ctx is cancelled
		runCtxErr = ctx.Err()
		// While the run winds down, HTTP still answers, and readiness says the process is going away.
		if resp, err := http.Get("http://" + addr.String() + "/readyz"); err == nil {
			readyWhileStopping = resp.StatusCode
			resp.Body.Close()
		}
		end := clock.Now()
		return &massupdate.Run{ID: "r1", Trigger: massupdate.Schedule, Status: massupdate.Interrupted,
			StartedAt: due, FinishedAt: &end, Counts: massupdate.Counts{Selected: 2, Updated: 2}}, ctx.Err()
	}}
	srv, err := serve.New(serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "UTC", Addr: "127.0.0.1:0",
		Clock: clock, Run: rec.Run, Metrics: m, ShutdownTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, err = srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	clock.WaitIdle(t)
	clock.Advance(time.Minute)
	<-entered

	// While the run is in progress the process is alive and serves HTTP.
	resp, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz during a run: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz during a run = %d", resp.StatusCode)
	}

	cancel() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after a clean shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
	if !errors.Is(runCtxErr, context.Canceled) {
		t.Errorf("the run's ctx was not cancelled: %v", runCtxErr)
	}
	if readyWhileStopping != http.StatusServiceUnavailable {
		t.Errorf("/readyz while shutting down = %d, want 503", readyWhileStopping)
	}
	expectValue(t, scrape(t, m.Handler()), "proffsync_runs_total", map[string]string{"trigger": "schedule", "status": "interrupted"}, 1)
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		c.Close()
		t.Error("HTTP still listening after shutdown")
	}
}

func TestShutdownIsBoundedWhenARunDoesNotStop(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 2, 1, 1, 59, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	rec := &recorder{clock: clock, result: func(int, context.Context, time.Time) (*massupdate.Run, error) {
		close(entered)
		<-release // a run that ignores its ctx
		return nil, nil
	}}
	srv, err := serve.New(serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "UTC", Addr: "127.0.0.1:0",
		Clock: clock, Run: rec.Run, ShutdownTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	clock.WaitIdle(t)
	clock.Advance(time.Minute)
	<-entered
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not stop") {
			t.Fatalf("Run = %v, want an error saying the run did not stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown was not bounded by ShutdownTimeout")
	}
}

func TestListenErrorIsReturned(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv, err := serve.New(serve.Options{Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Run(ctx); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on a taken port = %v", err)
	}
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rr.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", rr.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rr.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func expectValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Errorf("%s: family missing", name)
		return
	}
next:
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
				continue next
			}
		}
		var got float64
		switch {
		case m.Counter != nil:
			got = m.Counter.GetValue()
		case m.Gauge != nil:
			got = m.Gauge.GetValue()
		}
		if got != want {
			t.Errorf("%s%v = %v, want %v", name, labels, got, want)
		}
		return
	}
	t.Errorf("%s%v: series missing", name, labels)
}

// The loop waits at most a minute at a time, however far off the next due time is: a timer runs on the
// monotonic clock, so a wall clock that jumps (NTP, a suspended VM) while the loop waited hours would have
// the due time run late. Each wake-up only looks at the clock again: the run still happens once, on time.
func TestLoopWakesAtLeastOnceAMinute(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, oslo)
	clock := clocktest.At(t0)
	rec := &recorder{clock: clock}
	h := start(t, serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "Europe/Oslo", Clock: clock, Run: rec.Run})
	if moved, err := clock.Step(t0.Add(24 * time.Hour)); err != nil || !moved {
		t.Fatalf("Step = %v, %v", moved, err)
	}
	if got := clock.Now().Sub(t0); got != time.Minute {
		t.Fatalf("the loop's first wait ended after %v, want a minute (the due time is two hours off)", got)
	}
	clock.RunUntil(t, t0.Add(3*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	calls := rec.Calls()
	if want := t0.Add(2 * time.Hour); len(calls) != 1 || !calls[0].due.Equal(want) || !calls[0].now.Equal(want) {
		t.Fatalf("runs %+v, want one at %v, started on time", calls, want)
	}
}
