package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/serve"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testApp(logs io.Writer) *app {
	return &app{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard, now: time.Now,
		log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// startServe runs the real serve wiring until the returned stop is called; it returns the HTTP base URL.
func startServe(t *testing.T, a *app, yaml string, env map[string]string) (base string, stop func() error) {
	t.Helper()
	path := writeFile(t, "proffsync.yaml", yaml)
	env["PROFFSYNC_CONFIG"] = path
	a.getenv = func(k string) string { return env[k] }
	cfg, err := a.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Serve.HTTPAddr = "127.0.0.1:0"
	res, err := resolveMapping(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- a.serve(ctx, cfg, res, serve.SystemClock{}, 20*time.Second, func(ad net.Addr) { addrc <- ad })
	}()
	select {
	case ad := <-addrc:
		base = "http://" + ad.String()
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

// P5 at the process level: with the schedule disabled and no Proff token, serve starts, answers health,
// readiness and metrics, runs nothing, and stops cleanly.
func TestServeDisabledRunsNothing(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	sb := sandbox.Start(sandbox.Options{Companies: 8})
	defer sb.Close()
	env := sb.Env(dsn)
	delete(env, "PROFF_API_TOKEN")
	logs := &syncBuffer{}
	a := testApp(logs)
	base, stop := startServe(t, a, sandbox.DemoConfig+"schedule:\n  enabled: false\n  cron: \"@every 1s\"\n", env)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz %d %s", code, body)
	}
	time.Sleep(2500 * time.Millisecond) // two and a half due times of "@every 1s" pass
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "proffsync_") {
		t.Errorf("/metrics %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if n := len(sb.SF.Requests()) + len(sb.Proff.Requests()); n != 0 {
		t.Errorf("a disabled schedule made %d requests", n)
	}
	st := storetest.Open(t, dsn, store.Options{})
	runs, err := st.ListRuns(context.Background(), 10)
	if err != nil || len(runs) != 0 {
		t.Errorf("runs recorded: %v %v", runs, err)
	}
	if !strings.Contains(logs.String(), "disabled") || !strings.Contains(logs.String(), "no Proff token") {
		t.Errorf("serve did not say the schedule is disabled:\n%s", logs.String())
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
