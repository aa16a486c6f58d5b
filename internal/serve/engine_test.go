package serve_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/serve"
)

// engineStub answers like *massupdate.Engine.Run: (nil, nil) when a resume finds nothing.
type engineStub struct {
	reqs        []massupdate.RunRequest
	interrupted bool // an interrupted run exists
	err         error
}

func (e *engineStub) Run(_ context.Context, req massupdate.RunRequest) (*massupdate.Run, error) {
	e.reqs = append(e.reqs, req)
	if e.err != nil {
		return nil, e.err
	}
	if req.Resume && !e.interrupted {
		return nil, nil
	}
	r := &massupdate.Run{ID: "new", Trigger: req.Trigger, Status: massupdate.Succeeded, ScheduledFor: req.ScheduledFor}
	if req.Resume {
		r.ResumedFrom = "old"
	}
	return r, nil
}

func TestScheduledRunResumesOrStartsFresh(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)

	resuming := &engineStub{interrupted: true}
	run, err := serve.ScheduledRun(resuming)(context.Background(), due)
	if err != nil || run == nil || run.ResumedFrom != "old" {
		t.Fatalf("with an interrupted run: %+v, %v", run, err)
	}
	if len(resuming.reqs) != 1 || !resuming.reqs[0].Resume {
		t.Fatalf("requests %+v, want one resume", resuming.reqs)
	}

	fresh := &engineStub{}
	run, err = serve.ScheduledRun(fresh)(context.Background(), due)
	if err != nil || run == nil || run.ResumedFrom != "" {
		t.Fatalf("without an interrupted run: %+v, %v", run, err)
	}
	if len(fresh.reqs) != 2 || !fresh.reqs[0].Resume || fresh.reqs[1].Resume {
		t.Fatalf("requests %+v, want a resume then a fresh run", fresh.reqs)
	}
	for _, req := range append(resuming.reqs, fresh.reqs...) {
		if req.Trigger != massupdate.Schedule || req.ScheduledFor == nil || !req.ScheduledFor.Equal(due) || req.DryRun {
			t.Errorf("request %+v: want trigger schedule for %v, not dry", req, due)
		}
	}

	locked := &engineStub{err: &massupdate.LockedError{RunID: "manual"}}
	if _, err := serve.ScheduledRun(locked)(context.Background(), due); !errors.Is(err, massupdate.ErrLocked) || len(locked.reqs) != 1 {
		t.Fatalf("locked: %v after %d requests, want ErrLocked after one", err, len(locked.reqs))
	}
}
