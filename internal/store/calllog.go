package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/transport"
)

// callLogBatch is the most rows one COPY writes.
const callLogBatch = 1000

// CallLog is the technical log (README: Privacy P8): it receives one transport.Call per HTTP request and writes
// them in the background with COPY, so the request path never waits for PostgreSQL. It stores exactly the
// fields of a Call, which by construction hold no header and no body of a successful call.
//
// When PostgreSQL is away the rows wait in memory (bounded by Options.CallLogBuffer, oldest dropped first)
// and are written when it is back; when the buffer is full new calls are dropped and counted, never waited
// for.
type CallLog struct {
	s       *Store
	in      chan transport.Call
	flushes chan flushReq
	stops   chan context.Context
	done    chan struct{}
	closed  atomic.Bool
	dropped atomic.Int64
	once    sync.Once
	failing bool // the last write failed; only the writer goroutine touches it
}

type flushReq struct {
	ctx   context.Context
	reply chan error
}

var _ transport.Recorder = (*CallLog)(nil)

// ErrCallLogClosed is returned by Flush after Close.
var ErrCallLogClosed = errors.New("technical log closed")

// CallLog returns the Store's technical log, starting its writer on first use.
func (s *Store) CallLog() *CallLog {
	s.callLogOnce.Do(func() {
		s.callLog = &CallLog{
			s:       s,
			in:      make(chan transport.Call, s.opts.CallLogBuffer),
			flushes: make(chan flushReq),
			stops:   make(chan context.Context),
			done:    make(chan struct{}),
		}
		go s.callLog.loop()
	})
	return s.callLog
}

// RecordCall queues c for writing. It never blocks: when the queue is full the call is dropped and counted.
func (l *CallLog) RecordCall(_ context.Context, c transport.Call) {
	if l.closed.Load() {
		l.dropped.Add(1)
		return
	}
	select {
	case l.in <- c:
	default:
		l.dropped.Add(1)
	}
}

// Dropped returns how many calls were dropped because the queue was full or the log closed.
func (l *CallLog) Dropped() int64 { return l.dropped.Load() }

// Flush writes every call recorded before it and returns the write's error, if any.
func (l *CallLog) Flush(ctx context.Context) error {
	req := flushReq{ctx: ctx, reply: make(chan error, 1)}
	select {
	case l.flushes <- req:
	case <-l.done:
		return ErrCallLogClosed
	case <-ctx.Done():
		return fmt.Errorf("flush technical log: %w", ctx.Err())
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("flush technical log: %w", ctx.Err())
	}
}

// Close writes what is queued (bounded by ctx) and stops the writer. Calls recorded afterwards are dropped.
func (l *CallLog) Close(ctx context.Context) {
	l.once.Do(func() {
		l.closed.Store(true)
		select {
		case l.stops <- ctx:
		case <-l.done:
		}
	})
	select {
	case <-l.done:
	case <-ctx.Done():
	}
}

func (l *CallLog) loop() {
	defer close(l.done)
	var pending []transport.Call
	tick := time.NewTicker(l.s.opts.CallLogFlushEvery)
	defer tick.Stop()
	drain := func() {
		for {
			select {
			case c := <-l.in:
				pending = append(pending, c)
			default:
				return
			}
		}
	}
	write := func(ctx context.Context) error {
		var err error
		pending, err = l.write(ctx, pending)
		return err
	}
	// After a failed write the background waits for the next tick rather than trying again on every new
	// call: PostgreSQL being away must cost neither a busy loop nor a flood of warnings.
	failing := false
	background := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		failing = write(ctx) != nil
	}
	for {
		select {
		case c := <-l.in:
			pending = append(pending, c)
			if over := len(pending) - l.s.opts.CallLogBuffer; over > 0 {
				l.dropped.Add(int64(over))
				pending = pending[over:]
			}
			if len(pending) >= callLogBatch && !failing {
				background()
			}
		case <-tick.C:
			background()
		case req := <-l.flushes:
			drain()
			err := write(req.ctx)
			failing = err != nil
			req.reply <- err
		case ctx := <-l.stops:
			drain()
			write(ctx) //nolint:errcheck // logged by write; nothing more can be done at shutdown
			if n := len(pending); n > 0 {
				l.dropped.Add(int64(n))
			}
			return
		}
	}
}

// write copies rows into call_logs in chunks and returns what is left to write.
func (l *CallLog) write(ctx context.Context, rows []transport.Call) ([]transport.Call, error) {
	if n := l.dropped.Swap(0); n > 0 {
		l.s.log.WarnContext(ctx, "technical log dropped calls", "dropped", n)
	}
	for len(rows) > 0 {
		n := min(len(rows), callLogBatch)
		chunk := rows[:n]
		_, err := l.s.pool.CopyFrom(ctx, pgx.Identifier{"call_logs"}, callLogColumns,
			pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) { return l.s.callRow(chunk[i], l.s.now()), nil }))
		if err != nil {
			err = fmt.Errorf("write technical log: %w", l.s.scrub(err))
			if !l.failing {
				l.s.log.WarnContext(ctx, "cannot write the technical log; keeping the rows to retry", "rows", len(rows),
					"error", err.Error())
			}
			l.failing = true
			if over := len(rows) - l.s.opts.CallLogBuffer; over > 0 {
				l.dropped.Add(int64(over))
				rows = rows[over:]
			}
			return rows, err
		}
		rows = rows[n:]
	}
	if l.failing {
		l.s.log.InfoContext(ctx, "writing the technical log again")
		l.failing = false
	}
	return rows[:0], nil
}

var callLogColumns = []string{"run_id", "correlation_id", "service", "method", "endpoint", "status", "duration_ms",
	"attempt", "error_class", "error_excerpt", "api_used", "api_max", "at"}

// excerptOf is what the technical log keeps of a call's error excerpt (README: Privacy P8, P1): nothing for a
// call that got an answer below 400, whose body is never logged whatever the caller put in the Call;
// otherwise the excerpt scrubbed of every secret the Store knows and bounded.
func (s *Store) excerptOf(c transport.Call) string {
	if c.Status > 0 && c.Status < 400 {
		return ""
	}
	return s.storedText(pgExcerpt(c.ErrorExcerpt), maxLongText)
}

func (s *Store) callRow(c transport.Call, now time.Time) []any {
	var runID *string
	if c.RunID != "" {
		runID = &c.RunID
	}
	at := c.StartedAt
	if at.IsZero() {
		at = now
	}
	attempt := c.Attempt
	if attempt == 0 {
		attempt = 1
	}
	if runID != nil {
		id := pgText(*runID)
		runID = &id
	}
	// Every text goes through pgText: one row PostgreSQL refuses would fail its whole chunk on every retry.
	return []any{runID, pgText(c.CorrelationID), pgText(c.Service), pgText(c.Method), pgText(c.Endpoint), int32(c.Status),
		float64(c.Duration) / float64(time.Millisecond), int32(attempt), pgText(c.ErrorClass), s.excerptOf(c),
		c.APIUsed, c.APIMax, at.UTC()}
}
