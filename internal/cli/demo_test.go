package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// The demo's second run, a simulated day after the first, shows incremental sync: it serves most
// companies from the values the first (full) run stored and costs fewer Proff calls, while the records
// it fails on purpose still fail exactly as designed (exit 0) and the companies that changed are updated.
func TestDemoSecondRunCostsWhatChanged(t *testing.T) {
	t.Parallel()
	dsn := storetest.MissingURL(t)
	env := map[string]string{"DATABASE_URL": dsn}
	r := proffsync(t, env, "demo", "--companies", "60", "--log-level", "warn")
	if r.code != 0 {
		t.Fatalf("demo: code %d, stderr %s", r.code, r.stderr)
	}
	for _, w := range []string{"failed on purpose", "A day later:", "$ proffsync run", "The second run looked up"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("demo output lacks %q:\n%s", w, r.stdout)
		}
	}
	h := proffsync(t, env, "history", "--json")
	var runs []massupdate.Summary
	if err := json.Unmarshal([]byte(h.stdout), &runs); err != nil || len(runs) != 2 {
		t.Fatalf("history --json: %v, %d runs: %s", err, len(runs), h.stdout)
	}
	second, first := runs[0], runs[1]
	if first.Lookups.Cached != 0 || first.Lookups.Fresh == 0 {
		t.Errorf("first run %+v: want every company looked up (full)", first.Lookups)
	}
	if second.Lookups.Fresh+second.Lookups.Cached != first.Lookups.Fresh {
		t.Errorf("second run %+v: fresh and cached should cover the first run's %d companies", second.Lookups, first.Lookups.Fresh)
	}
	if second.Lookups.Cached <= second.Lookups.Fresh || second.APICalls.Proff >= first.APICalls.Proff {
		t.Errorf("second run: %+v and %d Proff calls, first %d: want most companies served from stored values",
			second.Lookups, second.APICalls.Proff, first.APICalls.Proff)
	}
	if second.Counts.Selected != first.Counts.Selected || second.Counts.Failed != first.Counts.Failed {
		t.Errorf("second run counts %+v, first %+v: every record again, the same deliberate failures", second.Counts, first.Counts)
	}
	// The Norwegian companies that changed are in the feed: the second run updates them (their street).
	if second.Counts.Updated == 0 {
		t.Errorf("second run updated nothing: %+v", second.Counts)
	}
}
