package runctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRunIDRoundTrip(t *testing.T) {
	t.Parallel()
	if got := RunID(context.Background()); got != "" {
		t.Errorf("RunID of a bare context = %q", got)
	}
	if got := RunID(WithRunID(context.Background(), "r-1")); got != "r-1" {
		t.Errorf("RunID = %q, want r-1", got)
	}
}

// Every line logged with a run's context carries its id, once; lines outside a run carry none.
func TestHandlerAddsTheRunID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := WithRunID(context.Background(), "run-42")
	log.InfoContext(ctx, "adapter line", slog.String("endpoint", "GET /x"))
	log.LogAttrs(ctx, slog.LevelWarn, "via LogAttrs")
	log.With(slog.String("service", "proff")).InfoContext(ctx, "with attrs")
	log.With(slog.String(AttrKey, "run-42")).InfoContext(ctx, "already tagged")
	log.InfoContext(ctx, "tagged on the call", slog.String(AttrKey, "run-42"))
	log.InfoContext(context.Background(), "outside a run")
	got := lines(t, &buf)
	if len(got) != 6 {
		t.Fatalf("%d lines:\n%s", len(got), buf.String())
	}
	for i, m := range got[:5] {
		if m[AttrKey] != "run-42" {
			t.Errorf("line %d %q: run_id = %v", i, m["msg"], m[AttrKey])
		}
	}
	if strings.Count(buf.String(), `"run_id"`) != 5 {
		t.Errorf("run_id is not on exactly the five run lines, once each:\n%s", buf.String())
	}
	if _, ok := got[5][AttrKey]; ok {
		t.Errorf("a line outside a run carries a run_id: %v", got[5])
	}
}
