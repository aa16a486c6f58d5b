package massupdate

import (
	"context"
	"errors"
	"testing"
)

// The stopper's promises, one by one: which stop ends what, which reason the run ends with.
func TestStopperEndsWhatEachStopSays(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                 string
		stop                 func(s *stopper, err error)
		status               Status
		hard, lookupCut, cut bool
	}{
		{"interrupt", (*stopper).interrupt, Interrupted, false, false, false},
		{"fail", (*stopper).fail, StatusFail, false, false, false},
		{"abort", (*stopper).abort, Interrupted, true, true, true},
		{"reject", (*stopper).reject, StatusFail, true, true, true},
		// Proff's refusal says nothing about Salesforce: the write on the wire finishes and is recorded.
		{"rejectProff", (*stopper).rejectProff, StatusFail, true, true, false},
		{"crash", (*stopper).crash, StatusFail, true, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStopper()
			lookups, writes, release := s.bind(context.Background())
			defer release()
			why := errors.New(c.name)
			c.stop(s, why)
			if err, status := s.reason(); err != why || status != c.status {
				t.Errorf("reason %v %s, want %v %s", err, status, why, c.status)
			}
			if s.reading() {
				t.Error("still reading")
			}
			if s.writing() == c.hard {
				t.Errorf("writing %v, want %v", s.writing(), !c.hard)
			}
			if got := lookups.Err() != nil; got != c.lookupCut {
				t.Errorf("lookups cut %v, want %v", got, c.lookupCut)
			}
			if got := writes.Err() != nil; got != c.cut {
				t.Errorf("write cut %v, want %v", got, c.cut)
			}
		})
	}
}

// The first reason is kept, except that a failure outranks an interruption: a run both interrupted and
// broken must be looked at, not only resumed. failAtEnd records a reason and stops nothing.
func TestStopperKeepsTheFirstReasonAndFailureOutranks(t *testing.T) {
	t.Parallel()
	first, second, broken, later := errors.New("first"), errors.New("second"), errors.New("broken"), errors.New("later")
	quiet := newStopper()
	quiet.failAtEnd(broken)
	if !quiet.reading() || !quiet.writing() {
		t.Error("failAtEnd stopped the run")
	}
	s := newStopper()
	s.interrupt(first)
	s.abort(second)
	if err, status := s.reason(); err != first || status != Interrupted {
		t.Errorf("after two interruptions: %v %s, want the first", err, status)
	}
	s.failAtEnd(broken)
	s.reject(later)
	if err, status := s.reason(); err != broken || status != StatusFail {
		t.Errorf("after a failure: %v %s, want it to outrank the interruption and the later failure", err, status)
	}
}

// A stop before the stages bound their contexts (the link of a resumed run failed, a panic before the run
// began) must not panic on the cancel functions that do not exist yet.
func TestStopperStopsBeforeBind(t *testing.T) {
	t.Parallel()
	s := newStopper()
	s.abort(errors.New("link"))
	s.cutLookups()
	if s.writing() {
		t.Error("still writing after abort")
	}
}

// Shutdown's grace period ends by cutting the lookups in flight, and nothing else: what they finished is
// still written.
func TestStopperCutLookupsLeavesTheWrites(t *testing.T) {
	t.Parallel()
	s := newStopper()
	lookups, writes, release := s.bind(context.Background())
	defer release()
	s.interrupt(errors.New("shutdown"))
	s.cutLookups()
	if lookups.Err() == nil || writes.Err() != nil || !s.writing() {
		t.Errorf("lookups %v writes %v writing %v, want the lookups cut only", lookups.Err(), writes.Err(), s.writing())
	}
}
