package massupdate

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// company is one distinct (country, org number) of the run: looked up once, its mapped values kept.
//
// A run keeps one for every distinct company it meets (that is what looking each up once costs), so it is
// kept small: the values packed into one byte slice, no channel, no copy of the key.
type company struct {
	finished atomic.Bool // set once values and err are
	values   packed
	err      error
	// lookedUpAt is when its lookup started (Unix nanoseconds): what the stored values are as of. Starting
	// time, not ending: a change Proff records during the lookup must leave the company due.
	lookedUpAt int64
	source     source
	// Set and read by the committer only.
	counted bool // counted in the run's lookups
	saved   bool // its lookup is in a recorded batch's sync state
}

// source is where a company's data comes from in a run.
type source uint8

const (
	fromLookup source = iota // looked up in this run
	fromStore                // served from the values stored at its last lookup
	deferred                 // due, but left for a later run by the cap: its records are skipped
)

// job is a lookup for a worker.
type job struct {
	co           *company
	country, org string
}

// errAbandoned marks a lookup that was never finished (the run stopped first).
var errAbandoned = errors.New("lookup abandoned")

// work looks companies up until jobs closes. Every company a worker takes is looked up: the reader decides
// what is dispatched, and a lookup taken before a stop is in flight (a hard stop cuts it through ctx).
func (r *runner) work(ctx context.Context, jobs <-chan job) {
	for j := range jobs {
		co := j.co
		co.lookedUpAt = r.e.o.Clock.Now().UnixNano()
		vals, err := r.e.o.Lookup.Lookup(ctx, j.country, j.org)
		switch {
		case err != nil && ctx.Err() != nil:
			err = errAbandoned
		case errors.Is(err, ErrUnauthorized):
			r.stop.rejectProff(fmt.Errorf("look up a company in Proff: %w", err))
		case errors.Is(err, ErrQuotaExhausted):
			r.stop.interrupt(fmt.Errorf("look up a company in Proff: %w", err))
		}
		if err == nil {
			co.values = r.keep(vals)
		}
		co.err = err
		co.finished.Store(true)
		// Wake the committer; one pending wake-up is enough, as it re-checks its record each time.
		select {
		case r.lookedUp <- struct{}{}:
		default:
		}
	}
}

// keep holds on to the values of the mapped points only, packed: memory grows per company by what the
// mapping needs, never by whole documents.
func (r *runner) keep(vals map[string]any) packed {
	return pack(r.e.rules, vals)
}
