package cli

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
)

// --full and --retry land in the command's options (the integrator passes them to the engine); --retry
// makes the run a retry and cannot go with --resume.
func TestRunFullAndRetryOptions(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := runSpec().build(testApp(nil), fs).(*runCmd)
	if err := fs.Parse([]string{"--full", "--retry", " 01a2 "}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.opts.full || c.opts.retryRef != "01a2" || c.opts.trigger != massupdate.Retry {
		t.Errorf("options: %+v", c.opts)
	}
	for _, args := range [][]string{{"run", "--retry", "latest", "--resume"}, {"run", "--full=maybe"}} {
		if r := proffsync(t, nil, args...); r.code != ExitUsage {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

// --retry resolves its run like history does: a run id that names no run is an error before any run.
func TestRunRetryUnknownRun(t *testing.T) {
	t.Parallel()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 4})
	r := proffsync(t, env, "run", "--retry", "latest", "--json")
	if r.code != ExitFailed || r.stdout != "" || !strings.Contains(r.stderr, `no run with id "latest"`) {
		t.Errorf("retry with no runs: %+v", r)
	}
	if n := len(sb.Proff.Requests()); n != 0 {
		t.Errorf("%d Proff calls for a retry of nothing", n)
	}
}

// receiver is a local chat webhook: it keeps what it was sent and answers with status.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	status int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies, rc.heads = append(rc.bodies, b), append(rc.heads, r.Header.Clone())
	status := rc.status
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) got() ([][]byte, []http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bodies, rc.heads
}

// A run that ends with a status in notify.on POSTs {"text", "run"} to NOTIFY_WEBHOOK_URL with a
// Correlation-ID: no record data, no secret. A receiver that fails changes neither the status nor the exit
// code, and the warning names the webhook masked.
func TestRunNotifiesTheWebhook(t *testing.T) {
	t.Parallel()
	const (
		sfSecret = "SFSECRET-notify-test-3b7c"
		token    = "PROFFTOKEN-notify-test-8d2e"
		hookKey  = "T0000/B0000/hook-key-notify-4f1a"
	)
	ok := &receiver{status: http.StatusOK}
	okSrv := httptest.NewServer(ok)
	defer okSrv.Close()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 16, ClientSecret: sfSecret, ProffToken: token})
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", sandbox.DemoConfig+"notify:\n  on: [partial, failed]\n")
	env["NOTIFY_WEBHOOK_URL"] = okSrv.URL + "/services/" + hookKey

	r := proffsync(t, env, "run", "--json", "--log-level", "warn")
	if r.code != ExitPartial {
		t.Fatalf("run: %+v", r)
	}
	var sum massupdate.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err)
	}
	bodies, heads := ok.got()
	if len(bodies) != 1 {
		t.Fatalf("%d notifications, want 1", len(bodies))
	}
	var p struct {
		Text string             `json:"text"`
		Run  massupdate.Summary `json:"run"`
	}
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatalf("payload %s: %v", bodies[0], err)
	}
	if p.Run.RunID != sum.RunID || p.Run.Status != massupdate.Partial || p.Run.Counts != sum.Counts ||
		!strings.Contains(p.Text, sum.RunID+" partial") || heads[0].Get("Correlation-ID") == "" {
		t.Errorf("payload %s, headers %v", bodies[0], heads[0])
	}
	leaks := []string{sfSecret, token, hookKey, "Org_Number__c"}
	for _, rq := range sb.SF.Requests() { // every record id the run read is record data
		if i := strings.Index(rq.Path, "/001"); i >= 0 {
			leaks = append(leaks, rq.Path[i+1:min(len(rq.Path), i+16)])
		}
	}
	for _, leak := range leaks {
		if strings.Contains(string(bodies[0]), leak) {
			t.Errorf("the notification holds %q: %s", leak, bodies[0])
		}
	}

	// The sandbox's failing records fail again: partial, and a receiver that fails must not change that.
	bad := &receiver{status: http.StatusBadRequest}
	badSrv := httptest.NewServer(bad)
	defer badSrv.Close()
	env["NOTIFY_WEBHOOK_URL"] = badSrv.URL + "/services/" + hookKey
	r = proffsync(t, env, "run", "--log-level", "warn", "--log-format", "json")
	if r.code != ExitPartial {
		t.Fatalf("run with a failing webhook: %+v", r)
	}
	if b, _ := bad.got(); len(b) != 1 {
		t.Errorf("%d posts to the failing webhook (a 400 is not retried)", len(b))
	}
	if !strings.Contains(r.stderr, "run notification not delivered") || !strings.Contains(r.stderr, badSrv.URL+"/****") ||
		strings.Contains(r.stderr, hookKey) {
		t.Errorf("the warning: %s", r.stderr)
	}

	// A status not in notify.on posts nothing.
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", sandbox.DemoConfig+"notify:\n  on: [succeeded]\n")
	env["NOTIFY_WEBHOOK_URL"] = okSrv.URL + "/services/" + hookKey
	if r := proffsync(t, env, "run", "--log-level", "warn"); r.code != ExitPartial {
		t.Fatalf("run: %+v", r)
	}
	if b, _ := ok.got(); len(b) != 1 {
		t.Errorf("a partial run notified with notify.on [succeeded]: %d posts", len(b))
	}
}
