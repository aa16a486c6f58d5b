package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/logtest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// syncBuffer is a log destination safe for the goroutines under test.
type syncBuffer = logtest.Buffer

func testApp(logs io.Writer) *app {
	return &app{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard, now: time.Now,
		log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// startServe runs the real serve wiring until the returned stop is called; it returns the HTTP base URL.
func startServe(t *testing.T, a *app, yaml string, env map[string]string) (base string, stop func() error) {
	t.Helper()
	return startServeClock(t, a, yaml, env, clock.System)
}

// startServeClock is startServe on the schedule clock given.
func startServeClock(t *testing.T, a *app, yaml string, env map[string]string, schedule clock.Clock) (base string, stop func() error) {
	t.Helper()
	return startServeAt(t, a, yaml, env, schedule, "127.0.0.1:0")
}

// startServeAt is startServeClock listening on addr; the base URL always dials 127.0.0.1.
func startServeAt(t *testing.T, a *app, yaml string, env map[string]string, schedule clock.Clock, addr string) (base string, stop func() error) {
	t.Helper()
	path := writeFile(t, "proffsync.yaml", yaml)
	env["PROFFSYNC_CONFIG"] = path
	a.getenv = func(k string) string { return env[k] }
	cfg, err := a.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Serve.HTTPAddr = addr
	res, err := resolveMapping(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- a.serve(ctx, cfg, res, schedule, 20*time.Second, func(ad net.Addr) { addrc <- ad })
	}()
	select {
	case ad := <-addrc:
		base = fmt.Sprintf("http://127.0.0.1:%d", ad.(*net.TCPAddr).Port)
	case err := <-done:
		cancel()
		t.Fatalf("serve ended at start: %v", err)
	}
	var once sync.Once
	var serr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serr = <-done:
			case <-time.After(30 * time.Second):
				serr = context.DeadlineExceeded
			}
		})
		return serr
	}
	t.Cleanup(func() { _ = stop() })
	return base, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// P5 at the process level, with everything a run needs in place (the Proff token, a working sandbox): while
// the schedule is disabled, an hour of due times of "* * * * *" passes and serve runs nothing, and neither
// emulator sees a request; the same with the schedule enabled runs exactly once (the due times that passed
// while the loop slept are coalesced into one run). A serve that ignored schedule.enabled, in its loop or in
// the cli wiring, fails the disabled case.
func TestServeDisabledRunsNothing(t *testing.T) {
	t.Parallel()
	for _, enabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("enabled=%v", enabled), func(t *testing.T) {
			t.Parallel()
			dsn := storetest.URL(t)
			sb := sandbox.Start(sandbox.Options{Companies: 8})
			defer sb.Close()
			logs := &syncBuffer{}
			clock := clocktest.At(time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC))
			yaml := sandbox.DemoConfig + fmt.Sprintf("schedule:\n  enabled: %v\n  cron: \"* * * * *\"\n  timezone: UTC\n", enabled)
			base, stop := startServeClock(t, testApp(logs), yaml, sb.Env(dsn), clock)
			if code, body := get(t, base+"/healthz"); code != 200 {
				t.Errorf("/healthz %d %s", code, body)
			}
			if code, body := get(t, base+"/readyz"); code != 200 {
				t.Errorf("/readyz %d %s", code, body)
			}
			clock.WaitIdle(t) // the prune at start is done
			clock.Advance(time.Hour)
			clock.WaitIdle(t) // the loop sleeps again: a run it started has returned
			if err := stop(); err != nil {
				t.Fatalf("serve: %v", err)
			}
			st := storetest.Open(t, dsn, store.Options{})
			runs, err := st.ListRuns(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			sf, proff := len(sb.SF.Requests()), len(sb.Proff.Requests())
			if !enabled {
				if len(runs) != 0 || sf+proff != 0 {
					t.Errorf("a disabled schedule recorded %d runs and made %d Salesforce and %d Proff requests", len(runs), sf, proff)
				}
				if !strings.Contains(logs.String(), "the schedule is disabled") {
					t.Errorf("serve did not say the schedule is disabled:\n%s", logs.String())
				}
				return
			}
			if len(runs) != 1 || runs[0].Trigger != massupdate.Schedule || sf == 0 || proff == 0 {
				t.Errorf("an enabled schedule recorded %d runs (%+v) with %d Salesforce and %d Proff requests, want one scheduled run",
					len(runs), runs, sf, proff)
			}
		})
	}
}

// With the schedule disabled serve needs no Proff token: it starts, answers, and says why none is needed.
func TestServeDisabledStartsWithoutAToken(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	sb := sandbox.Start(sandbox.Options{Companies: 1})
	defer sb.Close()
	env := sb.Env(dsn)
	delete(env, "PROFF_API_TOKEN")
	logs := &syncBuffer{}
	base, stop := startServe(t, testApp(logs), sandbox.DemoConfig+"schedule:\n  enabled: false\n  cron: \"@every 1s\"\n", env)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d %s", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "proffsync_") {
		t.Errorf("/metrics %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(logs.String(), "no Proff token") {
		t.Errorf("serve did not say why no token is needed:\n%s", logs.String())
	}
}

// P9 through serve: the prune at start deletes what is older than logs.retention_days (here 30, not the
// default 90) and keeps what is newer.
func TestServePrunesByTheConfiguredRetention(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	sb := sandbox.Start(sandbox.Options{Companies: 1})
	defer sb.Close()
	st := storetest.Open(t, dsn, store.Options{})
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	storetest.Seed(t, st, now.AddDate(0, 0, -40)) // older than 30 days, younger than the default 90
	recent := storetest.Seed(t, st, now.AddDate(0, 0, -20))
	clock := clocktest.At(now)
	yaml := sandbox.DemoConfig + "logs:\n  retention_days: 30\nschedule:\n  enabled: false\n"
	_, stop := startServeClock(t, testApp(io.Discard), yaml, sb.Env(dsn), clock)
	clock.WaitIdle(t) // the prune at start is done
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if got := storetest.Count(t, st); got != recent.Rows {
		t.Errorf("after serve's prune with a 30-day retention: %+v rows, want the recent run's %+v", got, recent.Rows)
	}
}

func TestServeEnabledNeedsAToken(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "proffsync.yaml", goodConfig+"schedule:\n  enabled: true\n")
	r := proffsync(t, map[string]string{"PROFFSYNC_CONFIG": path, "SF_CLIENT_ID": "x", "SF_CLIENT_SECRET": "y",
		"SF_LOGIN_URL": "https://x.my.salesforce.com"}, "serve")
	if r.code != ExitConfig || !strings.Contains(r.stderr, "PROFF_API_TOKEN") {
		t.Fatalf("%+v", r)
	}
}

// SIGTERM while a scheduled run is in progress ends it interrupted; the next start resumes it at the next
// due time, and the two runs together finish every record once.
func TestServeInterruptedRunIsResumedAfterRestart(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	sb := sandbox.Start(sandbox.Options{Companies: 120})
	defer sb.Close()
	sb.Proff.SetLatency(40 * time.Millisecond)
	env := sb.Env(dsn)
	yaml := strings.Replace(sandbox.DemoConfig, "rate_limit_per_second: 100\n  concurrency: 8", "rate_limit_per_second: 100\n  concurrency: 2", 1) +
		"schedule:\n  enabled: true\n  cron: \"@every 1s\"\n"
	_, stop := startServe(t, testApp(io.Discard), yaml, env)
	st := storetest.Open(t, dsn, store.Options{})
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, err := st.ListRuns(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Mid-run: the run is recorded and a good part of its lookups are done.
		if len(runs) == 1 && runs[0].Status == massupdate.Running && len(sb.Proff.Requests()) > 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run got going: %+v", runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve shutdown: %v", err)
	}
	runs, _ := st.ListRuns(ctx, 10)
	if len(runs) != 1 || runs[0].Status != massupdate.Interrupted || runs[0].Trigger != massupdate.Schedule ||
		runs[0].Counts.Selected >= int64(sb.Expect.Selected) {
		t.Fatalf("after SIGTERM: %d runs, first %s %+v", len(runs), runs[0].Status, runs[0].Counts)
	}
	first := runs[0]

	sb.Proff.SetLatency(0)
	_, stop2 := startServe(t, testApp(io.Discard), yaml, env)
	deadline = time.Now().Add(60 * time.Second)
	var second massupdate.Run
	for second.ID == "" || second.Status == massupdate.Running {
		if time.Now().After(deadline) {
			t.Fatalf("no resumed run finished: %+v", second)
		}
		time.Sleep(50 * time.Millisecond)
		runs, _ = st.ListRuns(ctx, 10)
		for _, r := range runs {
			if r.ResumedFrom == first.ID {
				second = r
			}
		}
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	if second.Trigger != massupdate.Schedule || second.Status == massupdate.Interrupted {
		t.Errorf("resumed run %+v", second)
	}
	total := first.Counts.Plus(second.Counts)
	if total.Selected != int64(sb.Expect.Selected) || total.Failed != int64(sb.Expect.Failed) {
		t.Errorf("first %+v + second %+v = %+v, want selected %d failed %d", first.Counts, second.Counts, total,
			sb.Expect.Selected, sb.Expect.Failed)
	}
}

// serve mounts the history pages: open on a loopback address; elsewhere off without PROFFSYNC_UI_PASSWORD and
// behind basic auth with it; /healthz stays open in every case.
func TestServeMountsTheHistoryPages(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	sb := sandbox.Start(sandbox.Options{Companies: 1})
	defer sb.Close()
	yaml := sandbox.DemoConfig + "schedule:\n  enabled: false\n  cron: \"@daily\"\n"
	page := func(base, password string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if password != "" {
			req.SetBasicAuth("admin", password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	base, _ := startServeAt(t, testApp(io.Discard), yaml, sb.Env(dsn), clock.System, "127.0.0.1:0")
	if code, body := page(base, ""); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("loopback: / answered %d, want the runs page:\n%.300s", code, body)
	}

	base, _ = startServeAt(t, testApp(io.Discard), yaml, sb.Env(dsn), clock.System, "0.0.0.0:0")
	if code, _ := page(base, ""); code != 404 {
		t.Errorf("all addresses, no password: / answered %d, want 404 (pages off)", code)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("all addresses: /healthz answered %d", code)
	}

	env := sb.Env(dsn)
	env["PROFFSYNC_UI_PASSWORD"] = "correct-horse-battery"
	base, _ = startServeAt(t, testApp(io.Discard), yaml, env, clock.System, "0.0.0.0:0")
	if code, _ := page(base, ""); code != 401 {
		t.Errorf("all addresses with a password, no credentials: / answered %d, want 401", code)
	}
	if code, _ := page(base, "wrong"); code != 401 {
		t.Errorf("wrong password: / answered %d, want 401", code)
	}
	if code, body := page(base, "correct-horse-battery"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("right password: / answered %d", code)
	}
}

func TestLoopbackAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true, "localhost:8080": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "example.com:80": false, "garbage": false,
	} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
