package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// A revert links the run it undid and is linked from it; retry and revert runs say what they are.
func TestPagesLinkARevertAndItsRun(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	const rec = "001000000000001AAA"
	run := seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0}, Status: massupdate.Succeeded,
		Results: []massupdate.RecordResult{{RecordID: rec, Outcome: massupdate.Updated}},
		Changes: []massupdate.FieldChange{{RecordID: rec, Field: "Name", Old: "Equinor", New: "EQUINOR ASA"}}})
	// A dry revert reverted nothing: it is not the run's revert.
	seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(time.Hour), Trigger: massupdate.Revert, Reverts: run.ID, DryRun: true},
		Status: massupdate.Succeeded})
	rev := seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(2 * time.Hour), Trigger: massupdate.Revert, Reverts: run.ID},
		Status: massupdate.Partial,
		Results: []massupdate.RecordResult{{RecordID: rec, Outcome: massupdate.Failed,
			Reason: `conflict: Name holds "<script>alert(1)</script>", the run wrote "EQUINOR ASA"`}}})
	retry := seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(3 * time.Hour), Trigger: massupdate.Retry}, Status: massupdate.Succeeded})
	h := pages(s, 0)

	body := get(t, h, "/runs/"+run.ID).Body
	if want := `<dt>Reverted by</dt><dd class="id"><a href="/runs/` + rev.ID + `">`; !strings.Contains(body, want) {
		t.Errorf("the run's page lacks %q", want)
	}
	body = get(t, h, "/runs/"+rev.ID).Body
	for _, want := range []string{
		`<dt>Reverts</dt><dd class="id"><a href="/runs/` + run.ID + `">`,
		`<dd title="undoes an earlier run: puts back the values it wrote (proffsync revert)">revert</dd>`,
		`conflict: Name holds &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;, the run wrote &#34;EQUINOR ASA&#34;`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the revert's page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "Reverted by") {
		t.Errorf("the revert's page holds a raw script or a revert of its own")
	}
	if body := get(t, h, "/runs/"+retry.ID).Body; !strings.Contains(body, `(run --retry)">retry</dd>`) || strings.Contains(body, "<dt>Reverts") {
		t.Errorf("the retry's page does not say what it is")
	}
	index := get(t, h, "/").Body
	if want := `revert<br><small><a href="/runs/` + run.ID + `" title="run ` + run.ID + `">undoes a run</a></small>`; !strings.Contains(index, want) {
		t.Errorf("the run list lacks %q", want)
	}
}
