package massupdate

import (
	"encoding/json"
	"testing"
	"time"
)

// The run summary is the README's shape, keys in its order: `run --json`, `history --json` and the
// notifications all print this one type. error and reverts are null unless set.
func TestSummaryJSONShape(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	r := Run{ID: "r1", Trigger: Revert, Status: Interrupted, StartedAt: start, Reverts: "r0", Error: "run interrupted: quota",
		Counts: Counts{Selected: 1, Updated: 1}, Lookups: Lookups{Fresh: 2, Cached: 3, Deferred: 4}, APICalls: APICalls{Proff: 5, Salesforce: 6}}
	b, err := json.Marshal(r.Summary())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"run_id":"r1","trigger":"revert","status":"interrupted","dry_run":false,"started_at":"2026-11-29T02:00:00Z",` +
		`"finished_at":null,"resumed_from":null,"counts":{"selected":1,"missing_org_number":0,"invalid_org_number":0,` +
		`"not_found":0,"unchanged":0,"updated":1,"failed":0},"lookups":{"fresh":2,"cached":3,"deferred":4},` +
		`"api_calls":{"proff":5,"salesforce":6},"error":"run interrupted: quota","reverts":"r0"}`
	if string(b) != want {
		t.Errorf("summary\n got %s\nwant %s", b, want)
	}
	r.Reverts, r.Error = "", ""
	b, _ = json.Marshal(r.Summary())
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["error"] != nil || m["reverts"] != nil {
		t.Errorf("error and reverts not null: %s", b)
	}
	if _, ok := m["error"]; !ok {
		t.Errorf("error left out: %s", b)
	}
}
