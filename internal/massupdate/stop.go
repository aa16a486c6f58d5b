package massupdate

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// stopper is the one home of a run's early end: why it stops, how hard, and whether a write on the wire may
// still go out. Every stage asks it, none keeps flags of its own.
//
// Why: the first reason is kept, except that a failure outranks an interruption (a run that is both
// interrupted and broken must be looked at, not just resumed).
//
// How hard: a soft stop ends the reading and the dispatch of lookups; lookups in flight may finish (within
// the grace period) and what they finish is still written and recorded. A hard stop ends the writes and
// the recording too (credentials rejected, lock lost, store gone, Salesforce quota spent) and cuts the
// lookups in flight. A hard stop that has nothing to do with Salesforce or the lock lets the write on the
// wire finish and be recorded: cutting it would not unsend it, only leave its records written but unknown.
type stopper struct {
	soft, hard         chan struct{}
	softOnce, hardOnce sync.Once

	// Set once, before the stages start (bind), and only called afterwards.
	cancelLookups context.CancelFunc // cuts the lookups in flight
	cancelWrite   context.CancelFunc // cuts a write in flight

	mu     sync.Mutex
	err    error
	status Status
}

func newStopper() *stopper {
	return &stopper{soft: make(chan struct{}), hard: make(chan struct{})}
}

// bind derives the contexts of the lookups and of the writes from base, and takes their cancel functions:
// a hard stop cuts the lookups in flight, and most also the write. release frees them when the run is over.
func (s *stopper) bind(base context.Context) (lookups, writes context.Context, release func()) {
	lookups, s.cancelLookups = context.WithCancel(base)
	writes, s.cancelWrite = context.WithCancel(base)
	return lookups, writes, func() { s.cancelWrite(); s.cancelLookups() }
}

// interrupt stops reading: the run ends interrupted and can be resumed (shutdown, Proff's quota).
func (s *stopper) interrupt(err error) { s.note(err, Interrupted); s.endReading() }

// fail stops reading: the run ends failed, and what was read and looked up is still written and recorded.
func (s *stopper) fail(err error) { s.note(err, StatusFail); s.endReading() }

// abort stops everything, a write in flight included: the run ends interrupted (lock lost, store gone,
// Salesforce's quota spent or a write cut by shutdown).
func (s *stopper) abort(err error) { s.note(err, Interrupted); s.endAll(true) }

// reject stops everything, a write in flight included: the run ends failed (Salesforce refused the
// credentials, the mapping does not fit the object).
func (s *stopper) reject(err error) { s.note(err, StatusFail); s.endAll(true) }

// rejectProff stops everything but the write on the wire, which finishes and is recorded: the run ends failed
// (Proff refused the token, which says nothing about Salesforce).
func (s *stopper) rejectProff(err error) { s.note(err, StatusFail); s.endAll(false) }

// crash is a panic's stop: failed, and hard, but a write on the wire finishes and is recorded, since what
// Salesforce took must be recorded.
func (s *stopper) crash(err error) { s.rejectProff(err) }

// failAtEnd records that the run will end failed without stopping anything: a read that failed part-way
// ends the reading on its own, and the records it handed over go on to their end.
func (s *stopper) failAtEnd(err error) { s.note(err, StatusFail) }

// endReading ends the reading and the dispatch without a reason: the run is over, or stopping anyway.
func (s *stopper) endReading() { s.softOnce.Do(func() { close(s.soft) }) }

func (s *stopper) endAll(cutWrite bool) {
	s.endReading()
	s.hardOnce.Do(func() {
		close(s.hard)
		if s.cancelLookups != nil {
			s.cancelLookups()
		}
	})
	if cutWrite && s.cancelWrite != nil {
		s.cancelWrite()
	}
}

// cutLookups cancels the lookups in flight once shutdown's grace period is over; it stops nothing else.
func (s *stopper) cutLookups() {
	if s.cancelLookups != nil {
		s.cancelLookups()
	}
}

func (s *stopper) note(err error, status Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil || (status == StatusFail && s.status != StatusFail) {
		s.err, s.status = err, status
	}
}

// reason is why the run stops early (nil: it does not) and the status it ends with.
func (s *stopper) reason() (error, Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err, s.status
}

// softDone is closed once no more records may be read or lookups dispatched.
func (s *stopper) softDone() <-chan struct{} { return s.soft }

// hardDone is closed once nothing more may be written or recorded.
func (s *stopper) hardDone() <-chan struct{} { return s.hard }

func (s *stopper) reading() bool { return !closed(s.soft) }

// writing tells whether the run may still write and record.
func (s *stopper) writing() bool { return !closed(s.hard) }

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// errorStops tells whether an adapter's error stops the run rather than failing a record.
func errorStops(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrQuotaExhausted) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// abortOn is the stop an adapter's error causes where nothing may go on after it (describe, a write):
// rejected credentials and anything unknown fail the run, a spent quota or a cut call interrupts it.
func (s *stopper) abortOn(op string, err error) {
	switch {
	case errors.Is(err, ErrUnauthorized):
		s.reject(fmt.Errorf("%s: %w", op, err))
	case errors.Is(err, ErrQuotaExhausted):
		s.abort(fmt.Errorf("%s: %w", op, err))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.abort(fmt.Errorf("%s: interrupted: %w", op, err))
	default:
		s.reject(fmt.Errorf("%s: %w", op, err))
	}
}

// stopReadingOn is the stop a read's error causes: rejected credentials stop everything, a spent quota
// stops the reading only, and what was read goes on to its end.
func (s *stopper) stopReadingOn(op string, err error) {
	switch {
	case errors.Is(err, ErrUnauthorized):
		s.reject(fmt.Errorf("%s: %w", op, err))
	case errors.Is(err, ErrQuotaExhausted):
		s.interrupt(fmt.Errorf("%s: %w", op, err))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.interrupt(fmt.Errorf("%s: interrupted: %w", op, err))
	default:
		s.fail(fmt.Errorf("%s: %w", op, err))
	}
}
