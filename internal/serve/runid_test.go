package serve_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/serve"
)

// serve logs a scheduled run's end with the run's context, so that the runctx handler (the one every
// command's logger has) adds run_id once, as for the engine's own lines: never a second run_id of its own.
func TestScheduledRunLinesCarryTheRunIDOnce(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 10, 0, 0, 0, 0, oslo)
	clock := clocktest.At(t0)
	buf := &syncBuffer{}
	ctxIDs := &ctxRunIDs{next: slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}), notes: &notes{ids: map[string]string{}}}
	log := slog.New(runctx.NewHandler(ctxIDs))
	h := start(t, serve.Options{Enabled: true, Cron: "0 2 * * *", Timezone: "Europe/Oslo", Clock: clock, Logger: log,
		Run: func(_ context.Context, due time.Time) (*massupdate.Run, error) {
			end := due.Add(time.Minute)
			return &massupdate.Run{ID: "run-0042", Trigger: massupdate.Schedule, Status: massupdate.Partial,
				StartedAt: due, FinishedAt: &end}, nil
		}})
	clock.RunUntil(t, t0.Add(3*time.Hour))
	if err := h.shutdown(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	found := false
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "scheduled run ended") {
			continue
		}
		found = true
		if n := strings.Count(line, `"run_id"`); n != 1 {
			t.Errorf("run_id %d times: %s", n, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["run_id"] != "run-0042" {
			t.Errorf("line %s: %v", line, err)
		}
	}
	if !found {
		t.Fatalf("no 'scheduled run ended' line:\n%s", buf.String())
	}
	// The id came with the context, not as an attribute of serve's own: a line logged without the run's
	// context (a With(run_id) logger) would leave the handler without it.
	if got := ctxIDs.get("scheduled run ended"); got != "run-0042" {
		t.Errorf("the context of 'scheduled run ended' carries run id %q", got)
	}
}

// ctxRunIDs notes, per message, the run id the record's context carried; handlers derived by With share
// the notes.
type ctxRunIDs struct {
	next  slog.Handler
	notes *notes
}

type notes struct {
	mu  sync.Mutex
	ids map[string]string
}

func (h *ctxRunIDs) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }
func (h *ctxRunIDs) Handle(ctx context.Context, r slog.Record) error {
	h.notes.mu.Lock()
	h.notes.ids[r.Message] = runctx.RunID(ctx)
	h.notes.mu.Unlock()
	return h.next.Handle(ctx, r)
}
func (h *ctxRunIDs) WithAttrs(as []slog.Attr) slog.Handler {
	return &ctxRunIDs{next: h.next.WithAttrs(as), notes: h.notes}
}
func (h *ctxRunIDs) WithGroup(n string) slog.Handler {
	return &ctxRunIDs{next: h.next.WithGroup(n), notes: h.notes}
}

func (h *ctxRunIDs) get(msg string) string {
	h.notes.mu.Lock()
	defer h.notes.mu.Unlock()
	return h.notes.ids[msg]
}
