package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// The demo runs a second time a simulated day after the first: every record again, the records it fails
// on purpose failing exactly as designed (exit 0), and the companies that changed updated.
func TestDemoRunsAgainADayLater(t *testing.T) {
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
	if second.Counts.Selected != first.Counts.Selected || second.Counts.Failed != first.Counts.Failed {
		t.Errorf("second run counts %+v, first %+v: every record again, the same deliberate failures", second.Counts, first.Counts)
	}
	// The Norwegian companies that changed are in the feed: the second run updates them (their street).
	if second.Counts.Updated == 0 {
		t.Errorf("second run updated nothing: %+v", second.Counts)
	}
}
