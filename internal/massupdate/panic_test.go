package massupdate

import (
	"context"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/secret"
)

// A panic in an adapter, on whichever goroutine of the run it happens, ends the run failed with the panic's
// first line (scrubbed) as its error, recorded in the store: the test binary surviving is the process
// surviving, and the stored status shows the run is not left running.
func TestAdapterPanicFailsTheRun(t *testing.T) {
	t.Parallel()
	const token = "tok-9f8e7d6c5b4a"
	panicValue := "adapter exploded near " + token + "\ngoroutine 7 [running]:\nmain.secondLine()"
	cases := []struct {
		name, where string
		arm         func(h *harness)
	}{
		{"record source", "read the selected records", func(h *harness) {
			h.src.onPage = func(n int) {
				if n == 1 {
					panic(panicValue)
				}
			}
		}},
		{"lookup", "look up a company in Proff", func(h *harness) {
			h.look.hook = func(_ context.Context, _ string, n int) {
				if n == 2 {
					panic(panicValue)
				}
			}
		}},
		{"writer", "write and record a batch", func(h *harness) {
			h.w.callErr = func(int, []Update) error { panic(panicValue) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			records, answers := many(9)
			h := newHarness(t, records, answers, func(o *Options) {
				o.Concurrency = 2
				o.Scrub = func(s string) string { return secret.Scrub(s, []string{token}) }
			})
			c.arm(h)
			run, err := h.e.Run(context.Background(), RunRequest{})
			if run == nil || err == nil {
				t.Fatalf("Run = %+v, %v; want the failed run and its error", run, err)
			}
			if run.Status != StatusFail {
				t.Errorf("status %s, want failed", run.Status)
			}
			for _, got := range []string{run.Error, err.Error()} {
				if !strings.Contains(got, c.where) || !strings.Contains(got, "adapter exploded near ****") {
					t.Errorf("error %q: want where (%s) and the panic's first line, scrubbed", got, c.where)
				}
				if strings.Contains(got, token) || strings.Contains(got, "goroutine") {
					t.Errorf("error %q holds the secret or more than the panic's first line", got)
				}
			}
			h.st.mu.Lock()
			stored, finished := *h.st.get(run.ID), h.st.finished[run.ID]
			h.st.mu.Unlock()
			if finished != 1 || stored.Status != StatusFail || stored.Error != run.Error {
				t.Errorf("stored run %s %q finished %d times, want failed with the panic's line, once", stored.Status, stored.Error, finished)
			}
		})
	}
}

// A panic outside the guarded stages, once the run is recorded running, still ends it: failed and recorded
// when the store can record it (a panic linking a resumed run), interrupted and returned when recording the
// end is what panicked (the next run marks it interrupted in the database, as after a killed process).
func TestPanicOutsideTheStagesEndsTheRun(t *testing.T) {
	t.Parallel()
	t.Run("link the resumed run", func(t *testing.T) {
		t.Parallel()
		records, answers := many(3)
		h := newHarness(t, records, answers, nil)
		h.st.runs = append(h.st.runs, &Run{ID: "run-0", Status: Interrupted, Checkpoint: id(1)})
		h.st.panicIn = "MarkResumed"
		run, err := h.e.Run(context.Background(), RunRequest{Resume: true})
		if run == nil || err == nil || run.Status != StatusFail || !strings.Contains(run.Error, "internal error (panic): store exploded") ||
			strings.Contains(run.Error, "second line") {
			t.Fatalf("Run = %+v, %v; want failed with the panic's first line", run, err)
		}
		h.st.mu.Lock()
		stored := *h.st.get(run.ID)
		h.st.mu.Unlock()
		if stored.Status != StatusFail {
			t.Errorf("stored as %s, want failed", stored.Status)
		}
		if n := len(h.w.written()); n != 0 {
			t.Errorf("%d writes after the panic", n)
		}
	})
	t.Run("record the end", func(t *testing.T) {
		t.Parallel()
		records, answers := many(3)
		h := newHarness(t, records, answers, nil)
		h.st.panicIn = "FinishRun"
		run, err := h.e.Run(context.Background(), RunRequest{})
		if run == nil || err == nil || run.Status != Interrupted || !strings.Contains(run.Error, "record the end of the run: internal error (panic): store exploded") {
			t.Fatalf("Run = %+v, %v; want interrupted, the end unrecorded", run, err)
		}
	})
}
