package serve_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/serve"
)

// A Run or a Prune that panics is logged (first line, scrubbed) and serve goes on: the next due time runs
// and the next day's prune too.
func TestPanicInRunOrPruneKeepsServing(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := clocktest.At(t0)
	const boom = "boom at postgres://proff:hunter2secret@db:5432/proffsync\ngoroutine 9 [running]:"
	rec := &recorder{clock: clock, result: func(n int, _ context.Context, _ time.Time) (*massupdate.Run, error) {
		if n == 0 {
			panic(boom)
		}
		return nil, nil
	}}
	var mu sync.Mutex
	prunes := 0
	h := start(t, serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "UTC", Clock: clock, Run: rec.Run,
		Prune: func(context.Context) error {
			mu.Lock()
			prunes++
			n := prunes
			mu.Unlock()
			if n == 1 {
				panic(boom)
			}
			return nil
		}})
	clock.RunUntil(t, t0.Add(3*24*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(rec.Calls()); n != 3 {
		t.Errorf("%d scheduled runs over three days after the first panicked, want 3", n)
	}
	mu.Lock()
	if prunes != 4 {
		t.Errorf("%d prunes over three days after the first panicked, want 4", prunes)
	}
	mu.Unlock()
	log := h.log.String()
	for _, want := range []string{"scheduled run failed", "pruning failed", "internal error (panic): boom at"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "hunter2secret") || strings.Contains(log, "goroutine 9") {
		t.Errorf("the log holds a secret or more than the panic's first line:\n%s", log)
	}
}

// listen starts a server on a loopback port and returns its address.
func listen(t *testing.T, o serve.Options, hook func(*serve.Server)) string {
	t.Helper()
	o.Addr = "127.0.0.1:0"
	o.Logger = slog.New(slog.DiscardHandler)
	srv, err := serve.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(srv)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return addr.String()
}

// keptAlive opens a connection and makes one request on it, so that the server has surely accepted it;
// the connection stays open, idle.
func keptAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	if code := request(t, c, br); code != http.StatusOK {
		t.Fatalf("GET /healthz = %d", code)
	}
	return c, br
}

func request(t *testing.T, c net.Conn, br *bufio.Reader) int {
	t.Helper()
	// The real-time deadline only turns a hang into a failure; no assertion depends on it.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: proffsync\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// closedByServer reports whether the server closes c (EOF) before the real-time guard.
func closedByServer(c net.Conn, br *bufio.Reader) error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := br.ReadByte()
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// The server closes connections that send nothing and kept-alive connections left idle, after the
// injected timeouts (the defaults are seconds; the test uses milliseconds).
func TestIdleConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	addr := listen(t, serve.Options{HTTP: serve.HTTPLimits{ReadHeaderTimeout: 50 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond, IdleTimeout: 50 * time.Millisecond}}, nil)
	t.Run("kept alive", func(t *testing.T) {
		c, br := keptAlive(t, addr)
		if err := closedByServer(c, br); err != nil {
			t.Errorf("an idle kept-alive connection stayed open: %v", err)
		}
	})
	t.Run("silent", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := closedByServer(c, bufio.NewReader(c)); err != nil {
			t.Errorf("a connection that sends nothing stayed open: %v", err)
		}
	})
}

// At the connection limit the server accepts no further connection until one closes; then the waiting
// /healthz is answered.
func TestConnectionLimitIsEnforced(t *testing.T) {
	t.Parallel()
	atLimit := make(chan struct{}, 1)
	addr := listen(t, serve.Options{HTTP: serve.HTTPLimits{MaxConns: 2}}, func(s *serve.Server) {
		serve.SetAtConnLimit(s, func() {
			select {
			case atLimit <- struct{}{}:
			default:
			}
		})
	})
	a, _ := keptAlive(t, addr)
	keptAlive(t, addr)
	select {
	case <-atLimit:
	case <-time.After(10 * time.Second):
		t.Fatal("two idle connections held, and the server did not wait at its limit of two")
	}
	answered := make(chan int, 1)
	go func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			answered <- -1
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: proffsync\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	a.Close() // a slot frees
	if code := <-answered; code != http.StatusOK {
		t.Errorf("/healthz after a held connection closed = %d, want 200", code)
	}
}

// With every slot held by idle clients, /healthz still answers once the server's idle timeout drops them.
func TestHealthAnswersWhenIdleClientsHoldTheLimit(t *testing.T) {
	t.Parallel()
	addr := listen(t, serve.Options{HTTP: serve.HTTPLimits{MaxConns: 1, IdleTimeout: 50 * time.Millisecond}}, nil)
	keptAlive(t, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if code := request(t, c, bufio.NewReader(c)); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
}

// /readyz answers status only, whatever Ready's error holds; the detail is logged once per change of
// state; and requests within the cache window share one check.
func TestReadinessIsStatusOnlyCachedAndLoggedOnChange(t *testing.T) {
	t.Parallel()
	clock := clocktest.At(time.Date(2026, 2, 1, 1, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	calls := 0
	readyErr := errors.New("ping postgres://proff:hunter2secret@10.0.0.5:5432/proffsync: dial tcp 10.0.0.5:5432: connection refused")
	buf := &syncBuffer{}
	srv, err := serve.New(serve.Options{Clock: clock, ReadyCache: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(buf, nil)),
		Ready: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return readyErr
		}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() (int, string) {
		rw := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rw, httptest.NewRequest("GET", "/readyz", nil))
		return rw.Code, rw.Body.String()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return calls }

	for range 10 {
		code, body := get()
		if code != http.StatusServiceUnavailable || body != "not ready\n" {
			t.Fatalf("/readyz = %d %q, want 503 \"not ready\" and nothing more", code, body)
		}
		clock.Advance(100 * time.Millisecond)
	}
	if n := count(); n != 1 {
		t.Errorf("10 requests within the cache window made %d checks, want 1", n)
	}
	clock.Advance(2 * time.Second)
	get()
	if n := count(); n != 2 {
		t.Errorf("a request after the cache window made %d checks in all, want 2", n)
	}
	mu.Lock()
	readyErr = nil
	mu.Unlock()
	clock.Advance(2 * time.Second)
	if code, body := get(); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz when ready = %d %q", code, body)
	}
	log := buf.String()
	if n := strings.Count(log, "connection refused"); n != 1 {
		t.Errorf("the reason was logged %d times over two failing checks, want once:\n%s", n, log)
	}
	if strings.Contains(log, "hunter2secret") {
		t.Errorf("a password reached the log:\n%s", log)
	}
	if !strings.Contains(log, "ready again") {
		t.Errorf("the return to ready was not logged:\n%s", log)
	}
}
