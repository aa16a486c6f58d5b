package serve

import (
	"context"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// Runner is what ScheduledRun needs of the Mass Update engine (*massupdate.Engine has it).
type Runner interface {
	Run(ctx context.Context, req massupdate.RunRequest) (*massupdate.Run, error)
}

// ScheduledRun adapts the engine to Options.Run: a run with trigger schedule for the due time that
// continues the latest interrupted run when there is one, and otherwise starts a fresh one.
//
// The resume attempt and the fresh start take the run lock one after the other; another replica that
// takes it in between serves this due time itself, and this replica then sees ErrLocked or
// ErrAlreadyServed, which the server counts as a skip. A due time is recorded with the run that serves it,
// so it is never served twice either way.
func ScheduledRun(e Runner) func(ctx context.Context, due time.Time) (*massupdate.Run, error) {
	return func(ctx context.Context, due time.Time) (*massupdate.Run, error) {
		req := massupdate.RunRequest{Trigger: massupdate.Schedule, ScheduledFor: &due, Resume: true}
		run, err := e.Run(ctx, req)
		if run != nil || err != nil {
			return run, err
		}
		// Nothing to resume.
		req.Resume = false
		return e.Run(ctx, req)
	}
}
