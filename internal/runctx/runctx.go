// Package runctx carries the id of the run a piece of work belongs to in its context, and puts that id on
// every log line written with the context: engine, adapters and the technical log all read it from here,
// so none of them needs to import another to learn which run they serve.
//
// What must never happen here: anything but the run id in the context (no record values, no secrets).
package runctx

import (
	"context"
	"log/slog"
)

type key struct{}

// WithRunID tags ctx, and the requests and log lines made with it, with the run they belong to.
func WithRunID(ctx context.Context, runID string) context.Context {
	return context.WithValue(ctx, key{}, runID)
}

// RunID returns the run id WithRunID put in ctx, or "".
func RunID(ctx context.Context) string {
	s, _ := ctx.Value(key{}).(string)
	return s
}

// AttrKey is the attribute every log line inside a run carries.
const AttrKey = "run_id"

// Handler adds run_id to every record logged with a context that carries one (the ...Context and LogAttrs
// methods of slog.Logger pass it; Info, Warn and friends pass context.Background and get none). A logger
// that already carries run_id through With keeps its own, once.
//
// run_id is added at the level the record's attributes are: under a group when the logger has one open
// (proffsync opens none).
type Handler struct {
	next    slog.Handler
	hasOwn  bool // a run_id came through WithAttrs
	grouped bool // a group is open: WithAttrs' attrs below it cannot be a top-level run_id
}

// NewHandler wraps next.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RunID(ctx); id != "" && !h.hasOwn && !recordHas(r) {
		r = r.Clone()
		r.AddAttrs(slog.String(AttrKey, id))
	}
	return h.next.Handle(ctx, r)
}

func recordHas(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == AttrKey
		return !found
	})
	return found
}

func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	for _, a := range as {
		if a.Key == AttrKey && !h.grouped {
			c.hasOwn = true
		}
	}
	return &c
}

func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	c.grouped = c.grouped || name != ""
	return &c
}
