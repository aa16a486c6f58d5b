package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/notify"
	"github.com/proffconnect/proffsync/internal/transport"
)

// hookKey is the key a chat webhook carries in its path: a secret.
const hookKey = "/services/T0001/B0002/hookKEY7f3a9c"

// received is one request the receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a local webhook that answers each request with the next status of answers (the last one
// repeats) and keeps what it was sent.
type receiver struct {
	mu      sync.Mutex
	answers []int
	got     []received
	srv     *httptest.Server
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	rc := &receiver{answers: answers}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body})
		status := http.StatusOK
		if len(rc.answers) > 0 {
			status = rc.answers[min(n, len(rc.answers)-1)]
		}
		rc.mu.Unlock()
		if r.URL.Path != hookKey {
			status = http.StatusNotFound
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + hookKey }

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// setup returns a notifier posting to rc, its virtual clock and its log.
func setup(t *testing.T, rc *receiver, on []massupdate.Status, secrets ...string) (*notify.Notifier, *clocktest.Clock, *bytes.Buffer) {
	t.Helper()
	clk := clocktest.New()
	var logs bytes.Buffer
	n, err := notify.New(notify.Options{URL: rc.url(), On: on, Secrets: secrets, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return n, clk, &logs
}

// interrupted is a run whose error holds secrets (a token, the webhook's key) and whose record data (checkpoint, settings) must never
// leave in a notification.
func interrupted(secret string) massupdate.Run {
	start := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	end := start.Add(3*time.Minute + 10*time.Second)
	return massupdate.Run{ID: "0193a5f0-1111-7000-8000-000000000001", Trigger: massupdate.Schedule,
		Status: massupdate.Interrupted, StartedAt: start, FinishedAt: &end, Checkpoint: "001RECORDDATA0042",
		Counts:   massupdate.Counts{Selected: 1234, Updated: 1200, Unchanged: 31, Failed: 3},
		APICalls: massupdate.APICalls{Proff: 1234, Salesforce: 20},
		Error:    "API quota exhausted: Proff said <!channel> token=" + secret + " (see " + hookKey + ")\nsecond line",
		Settings: json.RawMessage(`{"object":"Account","filter":"Name = 'Equinor ASA'"}`)}
}

func TestPayload(t *testing.T) {
	t.Parallel()
	const secret = "proff-token-Zq81xLw"
	rc := newReceiver(t)
	n, _, logs := setup(t, rc, []massupdate.Status{massupdate.Interrupted}, secret)
	run := interrupted(secret)
	n.Notify(context.Background(), run)
	n.Notify(context.Background(), run)

	got := rc.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	if ct := got[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	c1, c2 := got[0].header.Get(transport.CorrelationHeader), got[1].header.Get(transport.CorrelationHeader)
	if c1 == "" || c1 == c2 {
		t.Errorf("Correlation-ID %q then %q: want a fresh one each time", c1, c2)
	}

	var p struct {
		Text string         `json:"text"`
		Run  map[string]any `json:"run"`
	}
	if err := json.Unmarshal(got[0].body, &p); err != nil {
		t.Fatalf("payload %s: %v", got[0].body, err)
	}
	wantText := "proffsync run 0193a5f0-1111-7000-8000-000000000001 interrupted: 1,234 selected, 1,200 updated, " +
		"31 unchanged, 3 failed — API quota exhausted: Proff said &lt;!channel&gt; token=**** (see ****) second line " +
		"(resume with proffsync run --resume)"
	if p.Text != wantText {
		t.Errorf("text\n got %s\nwant %s", p.Text, wantText)
	}
	// The run is the summary README: Contract shows, with the error scrubbed and on one line.
	want := map[string]any{
		"run_id": "0193a5f0-1111-7000-8000-000000000001", "trigger": "schedule", "status": "interrupted",
		"dry_run": false, "started_at": "2026-11-29T02:00:00Z", "finished_at": "2026-11-29T02:03:10Z",
		"resumed_from": nil,
		"counts": map[string]any{"selected": 1234.0, "missing_org_number": 0.0, "invalid_org_number": 0.0,
			"not_found": 0.0, "unchanged": 31.0, "updated": 1200.0, "failed": 3.0},
		"lookups":   map[string]any{"fresh": 0.0, "cached": 0.0, "deferred": 0.0},
		"api_calls": map[string]any{"proff": 1234.0, "salesforce": 20.0},
		"error":     "API quota exhausted: Proff said <!channel> token=**** (see ****) second line",
		"reverts":   nil,
	}
	for k, v := range want {
		if g, _ := json.Marshal(p.Run[k]); string(g) != mustJSON(t, v) {
			t.Errorf("run.%s = %s, want %s", k, g, mustJSON(t, v))
		}
	}
	for k := range p.Run {
		if _, ok := want[k]; !ok {
			t.Errorf("run.%s sent: not in the summary", k)
		}
	}
	for _, leak := range []string{secret, "001RECORDDATA0042", "Equinor", "Account", hookKey} {
		if bytes.Contains(got[0].body, []byte(leak)) {
			t.Errorf("payload holds %q: %s", leak, got[0].body)
		}
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log holds %q: %s", leak, logs)
		}
	}
	if !strings.Contains(logs.String(), "run notification sent") {
		t.Errorf("log: %s", logs)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestText(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	n, _, _ := setup(t, rc, []massupdate.Status{massupdate.Succeeded, massupdate.Partial, massupdate.Interrupted, massupdate.StatusFail})
	end := time.Date(2026, 11, 29, 2, 3, 0, 0, time.UTC)
	for _, r := range []massupdate.Run{
		{ID: "r1", Status: massupdate.Succeeded, FinishedAt: &end, Counts: massupdate.Counts{Selected: 1000000, Updated: 999999, NotFound: 1}},
		{ID: "r2", Status: massupdate.Partial, FinishedAt: &end, Counts: massupdate.Counts{Selected: 5, Updated: 1, MissingOrgNumber: 1, InvalidOrgNumber: 1, Failed: 2}},
		{ID: "r3", Status: massupdate.Interrupted, DryRun: true, FinishedAt: &end, Error: "stopped by a signal"},
		{ID: "r4", Status: massupdate.Interrupted, ResumedBy: "r5", FinishedAt: &end, Error: "stopped"},
		{ID: "r6", Status: massupdate.StatusFail, FinishedAt: &end, Error: "salesforce login rejected & more"},
	} {
		n.Notify(context.Background(), r)
	}
	want := []string{
		"proffsync run r1 succeeded: 1,000,000 selected, 999,999 updated, 1 not found, 0 failed",
		"proffsync run r2 partial: 5 selected, 1 updated, 1 without org number, 1 with an invalid org number, 2 failed",
		"proffsync dry run r3 interrupted: 0 selected, 0 updated, 0 failed — stopped by a signal", // a dry run is never resumed
		"proffsync run r4 interrupted: 0 selected, 0 updated, 0 failed — stopped",                 // resumed already
		"proffsync run r6 failed: 0 selected, 0 updated, 0 failed — salesforce login rejected &amp; more",
	}
	got := rc.requests()
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d", len(got), len(want))
	}
	for i, g := range got {
		var p struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(g.body, &p); err != nil || p.Text != want[i] {
			t.Errorf("text %d\n got %q (%v)\nwant %q", i, p.Text, err, want[i])
		}
	}
}

func TestOnlyListedStatusesNotify(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 11, 29, 2, 3, 0, 0, time.UTC)
	runs := func(statuses ...massupdate.Status) (rs []massupdate.Run) {
		for _, s := range statuses {
			rs = append(rs, massupdate.Run{ID: "r-" + string(s), Status: s, FinishedAt: &end})
		}
		return rs
	}
	all := runs(massupdate.Running, massupdate.Succeeded, massupdate.Partial, massupdate.StatusFail, massupdate.Interrupted)
	for _, tc := range []struct {
		name string
		on   []massupdate.Status
		want []string
	}{
		{"default", nil, []string{"r-failed", "r-interrupted"}},
		{"partial only", []massupdate.Status{massupdate.Partial}, []string{"r-partial"}},
		{"none", []massupdate.Status{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t)
			n, _, _ := setup(t, rc, tc.on)
			for _, r := range all {
				n.Notify(context.Background(), r)
			}
			var got []string
			for _, g := range rc.requests() {
				var p struct {
					Run struct {
						ID string `json:"run_id"`
					} `json:"run"`
				}
				_ = json.Unmarshal(g.body, &p)
				got = append(got, p.Run.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("notified %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetriesAFailingReceiver(t *testing.T) {
	t.Parallel()
	run := interrupted("s3cret-value")

	t.Run("500 then 200", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, 500, 200)
		n, clk, logs := setup(t, rc, nil)
		n.Notify(context.Background(), run)
		got := rc.requests()
		if len(got) != 2 || !bytes.Equal(got[0].body, got[1].body) {
			t.Fatalf("%d requests, want the same notification twice", len(got))
		}
		if got[0].header.Get(transport.CorrelationHeader) == got[1].header.Get(transport.CorrelationHeader) {
			t.Error("a retry reused the Correlation-ID")
		}
		if s := clk.Sleeps(); len(s) != 1 || s[0] <= 0 || s[0] > time.Second {
			t.Errorf("waits %v, want one short backoff", s)
		}
		if !strings.Contains(logs.String(), "run notification sent") || strings.Contains(logs.String(), "not delivered") {
			t.Errorf("log: %s", logs)
		}
	})

	t.Run("always 500", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, 500)
		n, clk, logs := setup(t, rc, nil)
		n.Notify(context.Background(), run)
		if got := len(rc.requests()); got != notify.DefaultRetry.Attempts {
			t.Errorf("%d requests, want %d", got, notify.DefaultRetry.Attempts)
		}
		var total time.Duration
		for _, s := range clk.Sleeps() {
			total += s
		}
		if total > notify.DefaultRetry.Within {
			t.Errorf("waited %v in all, more than %v", total, notify.DefaultRetry.Within)
		}
		l := logs.String()
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "run notification not delivered") ||
			!strings.Contains(l, "HTTP 500") || !strings.Contains(l, "run_id="+run.ID) {
			t.Errorf("log: %s", l)
		}
		if strings.Contains(l, hookKey) || strings.Contains(l, "hookKEY") {
			t.Errorf("log holds the webhook key: %s", l)
		}
	})

	t.Run("429 waits its Retry-After", func(t *testing.T) {
		t.Parallel()
		var calls int
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls++
			first := calls == 1
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
			}
		}))
		t.Cleanup(srv.Close)
		clk := clocktest.New()
		n, err := notify.New(notify.Options{URL: srv.URL + hookKey, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		n.Notify(context.Background(), run)
		if s := clk.Sleeps(); calls != 2 || len(s) != 1 || s[0] != time.Second {
			t.Errorf("%d calls, waits %v: want a retry after the 1 s the receiver asked", calls, s)
		}
	})

	t.Run("404 is not retried", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, 404)
		n, clk, logs := setup(t, rc, nil)
		n.Notify(context.Background(), run)
		if got := len(rc.requests()); got != 1 || len(clk.Sleeps()) != 0 {
			t.Errorf("%d requests, waits %v: want one try", got, clk.Sleeps())
		}
		if !strings.Contains(logs.String(), "HTTP 404") {
			t.Errorf("log: %s", logs)
		}
	})

	t.Run("no receiver", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t)
		rc.srv.Close()
		n, clk, logs := setup(t, rc, nil)
		n.Notify(context.Background(), run)
		if len(clk.Sleeps()) != notify.DefaultRetry.Attempts-1 {
			t.Errorf("waits %v: want every try made", clk.Sleeps())
		}
		l := logs.String()
		if !strings.Contains(l, "run notification not delivered") || strings.Contains(l, "hookKEY") {
			t.Errorf("log: %s", l)
		}
	})
}

// A run interrupted by a shutdown is the one to report: a cancelled context still notifies.
func TestNotifiesOnACancelledContext(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	n, _, _ := setup(t, rc, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n.Notify(ctx, interrupted("x"))
	if got := len(rc.requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url, wantErr string
	}{
		{"https://hooks.slack.com" + hookKey, ""},
		{"http://127.0.0.1:9/hook", ""},
		{"http://localhost:9/hook", ""},
		{"http://[::1]:9/hook", ""},
		{"http://hooks.example.com" + hookKey, "NOTIFY_WEBHOOK_URL http://hooks.example.com/****: must be https (plain http only for a loopback host)"},
		{"ftp://hooks.example.com" + hookKey, "NOTIFY_WEBHOOK_URL ftp://hooks.example.com/****: must be https (plain http only for a loopback host)"},
		{"hooks.example.com" + hookKey, "NOTIFY_WEBHOOK_URL is not an absolute URL"},
	} {
		n, err := notify.New(notify.Options{URL: tc.url})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.wantErr || (err == nil) != (n != nil) {
			t.Errorf("New(%q): %v, %q; want error %q", tc.url, n, got, tc.wantErr)
		}
	}
	if _, err := notify.New(notify.Options{URL: "https://h.example.com/x", On: []massupdate.Status{massupdate.Running}}); err == nil ||
		!strings.Contains(err.Error(), `notify.on: "running"`) {
		t.Errorf("running in notify.on: %v", err)
	}
	n, err := notify.New(notify.Options{URL: "  "})
	if n != nil || err != nil {
		t.Fatalf("no URL: %v, %v; want no notifier", n, err)
	}
	n.Notify(context.Background(), interrupted("x")) // a nil notifier does nothing
	if n.Wants(massupdate.StatusFail) || n.Masked() != "" {
		t.Error("a nil notifier wants something")
	}
}

// An https receiver is reached with the roots given; a redirect (to plain http elsewhere, say) is never
// followed, so a receiver cannot steer the notification past the transport policy.
func TestHTTPSAndNoRedirect(t *testing.T) {
	t.Parallel()
	var paths []string
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "http://hooks.example.com"+hookKey, http.StatusTemporaryRedirect)
		}
	}))
	t.Cleanup(srv.Close)
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	var logs bytes.Buffer
	for _, path := range []string{hookKey, "/moved"} {
		n, err := notify.New(notify.Options{URL: srv.URL + path, RootCAs: roots, Clock: clocktest.New(),
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		n.Notify(context.Background(), interrupted("x"))
	}
	if !slices.Equal(paths, []string{hookKey, "/moved"}) {
		t.Errorf("requests to %v, want one to the hook and one to /moved, none redirected", paths)
	}
	l := logs.String()
	if strings.Count(l, "run notification sent") != 1 || !strings.Contains(l, "HTTP 307") {
		t.Errorf("log: %s", l)
	}
}
