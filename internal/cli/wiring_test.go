package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

func runSummary(t *testing.T, env map[string]string, args ...string) (massupdate.Summary, result) {
	t.Helper()
	r := proffsync(t, env, args...)
	var sum massupdate.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("%v printed %q (code %d, stderr %s): %v", args, r.stdout, r.code, r.stderr, err)
	}
	return sum, r
}

// Incremental sync is wired into `run`: a second run serves the Norwegian companies the change feed does not
// list from their stored values (fewer Proff calls, the same outcomes), preview plans it, and --full looks
// every company up again.
func TestSecondRunServesStoredValues(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(sandbox.Options{Companies: 40})
	defer sb.Close()
	env := sb.Env(storetest.URL(t))
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", sandbox.DemoConfig)

	first, _ := runSummary(t, env, "run", "--json", "--log-level", "warn")
	if first.Lookups.Fresh == 0 || first.Lookups.Cached != 0 {
		t.Fatalf("first run lookups %+v, want all fresh", first.Lookups)
	}
	// history show says, for each record the run wrote, where its data came from.
	if r := proffsync(t, env, "history", "show", first.RunID); !strings.Contains(r.stdout, "  [fresh]") {
		t.Errorf("history show does not say the written records' data was fresh:\n%s", r.stdout)
	}
	r := proffsync(t, env, "history", "show", first.RunID, "--json")
	var d massupdate.Detail
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	updated := 0
	for _, rec := range d.Records {
		if rec.Outcome == massupdate.Updated {
			updated++
			if rec.Lookup != massupdate.LookupFresh {
				t.Errorf("updated record %+v: its data was looked up in the run", rec)
			}
		}
	}
	if int64(updated) != first.Counts.Updated {
		t.Errorf("history show --json lists %d updated records, the run updated %d", updated, first.Counts.Updated)
	}
	r = proffsync(t, env, "preview", "--json")
	var pv massupdate.Preview
	if err := json.Unmarshal([]byte(r.stdout), &pv); err != nil || pv.Cached == 0 {
		t.Fatalf("preview after a first run: %q (%v): want companies served from stored values", r.stdout, err)
	}
	second, _ := runSummary(t, env, "run", "--json", "--log-level", "warn")
	if second.Lookups.Cached == 0 || second.APICalls.Proff >= first.APICalls.Proff {
		t.Errorf("second run lookups %+v, %d Proff calls (first %d): want stored values used and fewer calls",
			second.Lookups, second.APICalls.Proff, first.APICalls.Proff)
	}
	if second.Counts.Selected != first.Counts.Selected || second.Counts.Failed != first.Counts.Failed ||
		second.Counts.NotFound != first.Counts.NotFound {
		t.Errorf("second run counts %+v, first %+v: stored values must give the same outcomes", second.Counts, first.Counts)
	}
	full, _ := runSummary(t, env, "run", "--full", "--json", "--log-level", "warn")
	if full.Lookups.Cached != 0 || full.Lookups.Fresh != first.Lookups.Fresh {
		t.Errorf("--full lookups %+v, want every company fresh as in the first run %+v", full.Lookups, first.Lookups)
	}
}

// run --retry takes exactly the records that failed in the run it names, with trigger retry.
func TestRunRetryTakesOnlyTheFailedRecords(t *testing.T) {
	t.Parallel()
	sb := sandbox.Start(sandbox.Options{Companies: 40})
	defer sb.Close()
	env := sb.Env(storetest.URL(t))
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", sandbox.DemoConfig)

	first, r := runSummary(t, env, "run", "--json", "--log-level", "warn")
	if r.code != ExitPartial || first.Counts.Failed == 0 {
		t.Fatalf("first run: code %d, counts %+v: the sandbox fails some records on purpose", r.code, first.Counts)
	}
	retry, r := runSummary(t, env, "run", "--retry", first.RunID[:10], "--json", "--log-level", "warn")
	if retry.Trigger != massupdate.Retry || retry.Counts.Selected != first.Counts.Failed || r.code != ExitPartial {
		t.Errorf("retry: code %d, trigger %s, counts %+v; want the %d failed records only", r.code, retry.Trigger,
			retry.Counts, first.Counts.Failed)
	}
}

// A revert is a run: it notifies as any run does when its status is in notify.on.
func TestRevertNotifiesTheWebhook(t *testing.T) {
	t.Parallel()
	hook := &receiver{status: http.StatusOK}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	_, env, _ := sandboxRun(t, sandbox.Options{Companies: 16})
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync.yaml", sandbox.DemoConfig+"notify:\n  on: [succeeded, partial, failed]\n")
	env["NOTIFY_WEBHOOK_URL"] = srv.URL + "/hook"
	first, _ := runSummary(t, env, "run", "--json", "--log-level", "warn")
	rev, _ := runSummary(t, env, "revert", first.RunID, "--json", "--log-level", "warn")
	bodies, _ := hook.got()
	if len(bodies) != 2 {
		t.Fatalf("%d notifications, want one for the run and one for its revert", len(bodies))
	}
	var p struct {
		Run massupdate.Summary `json:"run"`
	}
	if err := json.Unmarshal(bodies[1], &p); err != nil || p.Run.RunID != rev.RunID || p.Run.Trigger != massupdate.Revert ||
		p.Run.Reverts == nil || *p.Run.Reverts != first.RunID {
		t.Errorf("revert's notification %s (%v), want run %s reverting %s", bodies[1], err, rev.RunID, first.RunID)
	}
}

// A run logs what each form of the organisation number cost per country (issue 13: both forms are counted
// and logged), with the run's id.
func TestRunLogsTheNumberFormCalls(t *testing.T) {
	t.Parallel()
	_, env, _ := sandboxRun(t, sandbox.Options{Companies: 24})
	r := proffsync(t, env, "run", "--log-level", "info", "--log-format", "json")
	var line map[string]any
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "Proff lookups by form of the organisation number") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
		}
	}
	if line == nil || line["run_id"] == nil || line["SE_digits"] == nil || line["NO_digits"] == nil {
		t.Errorf("no number-form line with run_id and per-country counts in:\n%s", r.stderr)
	}
}

// api_calls counts every HTTP request the run sent, logins included: the login and describe that check the
// mapping before the run is recorded are the run's calls too.
func TestRunCountsEveryCallItSent(t *testing.T) {
	t.Parallel()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 24})
	sum, _ := runSummary(t, env, "run", "--json", "--log-level", "warn")
	if sf, p := int64(len(sb.SF.Requests())), int64(len(sb.Proff.Requests())); sum.APICalls.Salesforce != sf || sum.APICalls.Proff != p {
		t.Errorf("api_calls %+v; the emulators received %d Salesforce and %d Proff requests", sum.APICalls, sf, p)
	}
}

// The demo's config writes the register's all-capitals names as people write them (`format: title`), so that
// a first run does not turn an org's Account names into capitals.
func TestDemoConfigWritesNamesInTitleCase(t *testing.T) {
	t.Parallel()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 24})
	runSummary(t, env, "run", "--json", "--log-level", "warn")
	names := 0
	for _, rq := range sb.SF.Requests() {
		if rq.Method != http.MethodPatch {
			continue
		}
		var body struct {
			Records []map[string]any `json:"records"`
		}
		if err := json.Unmarshal(rq.Body, &body); err != nil {
			t.Fatalf("write body %s: %v", rq.Body, err)
		}
		for _, rec := range body.Records {
			if name, ok := rec["Name"].(string); ok {
				names++
				if first, _, _ := strings.Cut(name, " "); len(first) > 1 && first == strings.ToUpper(first) {
					t.Errorf("Name %q written in capitals", name)
				}
			}
		}
	}
	if names == 0 {
		t.Fatal("the run wrote no Name: nothing was checked")
	}
}

// A revert puts back the last-synced stamps of the field the run stamped, even when today's config no
// longer names it (renamed or dropped since).
func TestRevertRestoresTheStampsOfTheRunsLastSyncedField(t *testing.T) {
	t.Parallel()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 16})
	first, _ := runSummary(t, env, "run", "--json", "--log-level", "warn")
	without := strings.Replace(sandbox.DemoConfig, "  last_synced_field: Proff_Last_Synced__c\n", "", 1)
	if without == sandbox.DemoConfig {
		t.Fatal("the demo config names no last-synced field: nothing to test")
	}
	env["PROFFSYNC_CONFIG"] = writeFile(t, "proffsync-without-stamp.yaml", without)
	before := len(sb.SF.Requests())
	runSummary(t, env, "revert", first.RunID, "--json", "--log-level", "warn")
	stamps := 0
	for _, rq := range sb.SF.Requests()[before:] {
		if rq.Method == http.MethodPatch && strings.Contains(string(rq.Body), "Proff_Last_Synced__c") {
			stamps++
		}
	}
	if stamps == 0 {
		t.Error("the revert put no last-synced stamp back: it followed today's config, not the run's")
	}
}
