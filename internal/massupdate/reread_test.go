package massupdate

import (
	"context"
	"errors"
	"testing"
)

// Salesforce serves a long query through a server-side cursor (nextRecordsUrl) that dies after 15 minutes
// without a fetch, or when the user opens too many others; the next page then fails with
// INVALID_QUERY_LOCATOR. A run reads a page only as fast as Proff lets it look the page's companies up, so
// at a modest rate a page of 2,000 outlives its cursor. The engine reads again after the last record it
// took, instead of failing the run with most records never read.
func TestReadResumesAfterALostCursor(t *testing.T) {
	t.Parallel()
	records, answers := many(10)
	h := newHarness(t, records, answers, nil)
	h.src.readErrAt = 2
	h.src.readErr = errors.New("read Account: INVALID_QUERY_LOCATOR: invalid query locator")
	h.src.readErrOnce = true
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err != nil || run.Status != Succeeded || run.Counts.Selected != 10 || run.Counts.Updated != 10 {
		t.Fatalf("run %s %+v err %v", run.Status, run.Counts, err)
	}
	if want := []string{"", id(6)}; len(h.src.afters) != 2 || h.src.afters[0] != want[0] || h.src.afters[1] != want[1] {
		t.Errorf("reads after %q, want %q", h.src.afters, want)
	}
	checkConsistent(t, h, run, 1)
}

// A read that fails again without handing over a single new record is not retried once more.
func TestReadFailsWhenTheRereadMakesNoProgress(t *testing.T) {
	t.Parallel()
	records, answers := many(10)
	h := newHarness(t, records, answers, nil)
	h.src.readErrAfter = id(6)
	h.src.readErr = errors.New("query: 500 after 5 attempts")
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err == nil || run.Status != StatusFail || run.Counts.Selected != 6 {
		t.Fatalf("run %s %+v err %v", run.Status, run.Counts, err)
	}
	if len(h.src.afters) != 2 {
		t.Errorf("reads after %q, want the first read and one more", h.src.afters)
	}
	checkConsistent(t, h, run, 1)
}
