package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/revert"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// finishedRun records a run with one batch and ends it with status.
func revertSeedRun(t *testing.T, s *store.Store, r massupdate.Run, b massupdate.Batch, status massupdate.Status) massupdate.Run {
	t.Helper()
	ctx := context.Background()
	if r.Trigger == "" {
		r.Trigger = massupdate.Manual
	}
	if err := s.CreateRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	for _, res := range b.Results {
		b.Counts.Add(res.Outcome)
	}
	if len(b.Results) > 0 {
		b.Checkpoint = b.Results[len(b.Results)-1].RecordID
		if err := s.SaveBatch(ctx, r.ID, b); err != nil {
			t.Fatal(err)
		}
	}
	r.Status, r.Counts, r.Checkpoint = status, b.Counts, b.Checkpoint
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFailedRecordIDsAreExactlyTheFailedOnes(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	var b massupdate.Batch
	outcomes := []massupdate.Outcome{massupdate.Failed, massupdate.Updated, massupdate.NotFound, massupdate.Failed, massupdate.Unchanged,
		massupdate.MissingOrgNumber, massupdate.InvalidOrgNumber, massupdate.Failed}
	var want []string
	for i, o := range outcomes {
		id := fmt.Sprintf("001%012dAAA", i)
		b.Results = append(b.Results, massupdate.RecordResult{RecordID: id, Outcome: o})
		if o == massupdate.Failed {
			want = append(want, id)
		}
	}
	r := revertSeedRun(t, s, massupdate.Run{}, b, massupdate.Partial)
	// Another run's failures are not this run's.
	revertSeedRun(t, s, massupdate.Run{}, massupdate.Batch{Results: []massupdate.RecordResult{{RecordID: "001999999999999AAA", Outcome: massupdate.Failed}}}, massupdate.Partial)
	got, err := s.FailedRecordIDs(context.Background(), r.ID)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("FailedRecordIDs = %v, %v; want %v", got, err, want)
	}
}

func TestRevertTargetsPagesWhatTheRunWrote(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	long := strings.Repeat("x", 1500)
	var b massupdate.Batch
	for i := range 7 {
		id := fmt.Sprintf("001%012dAAA", i)
		res := massupdate.RecordResult{RecordID: id, OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated}
		switch i {
		case 2: // looked at, nothing written: not a target
			res.Outcome = massupdate.Unchanged
		case 4: // only the last-synced stamp was written
			res.Outcome, res.LastSyncedSet, res.LastSyncedOld, res.LastSyncedNew = massupdate.Unchanged, true, nil, "2026-11-29T02:00:00.000Z"
		case 5: // failed: nothing written
			res.Outcome = massupdate.Failed
		default:
			b.Changes = append(b.Changes,
				massupdate.FieldChange{RecordID: id, Field: "Name", Old: "old " + id, New: "NEW " + id},
				massupdate.FieldChange{RecordID: id, Field: "NumberOfEmployees", Old: nil, New: float64(i)})
		}
		if i == 6 {
			b.Changes[len(b.Changes)-2].Old = long // kept cut: cannot be put back
		}
		b.Results = append(b.Results, res)
	}
	r := revertSeedRun(t, s, massupdate.Run{}, b, massupdate.Succeeded)
	ctx := context.Background()

	var got []revert.Target
	after := ""
	for {
		page, err := s.RevertTargets(ctx, r.ID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d targets, limit 2", len(page))
		}
		got = append(got, page...)
		after = page[len(page)-1].RecordID
	}
	var ids []string
	for _, tg := range got {
		ids = append(ids, tg.RecordID[12:15])
	}
	if want := []string{"000", "001", "003", "004", "006"}; !slices.Equal(ids, want) {
		t.Fatalf("targets %v, want %v", ids, want)
	}
	first := got[0]
	want := revert.Target{RecordID: "001000000000000AAA", OrgNumber: "923609016", Country: "NO", Changes: []revert.Change{
		{Field: "Name", Old: "old 001000000000000AAA", New: "NEW 001000000000000AAA"},
		{Field: "NumberOfEmployees", Old: nil, New: float64(0)}}}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("target\n got %+v\nwant %+v", first, want)
	}
	if s := got[3]; !s.LastSyncedSet || s.LastSyncedOld != nil || s.LastSyncedNew != "2026-11-29T02:00:00.000Z" || len(s.Changes) != 0 {
		t.Errorf("stamp-only target %+v", s)
	}
	if c := got[4].Changes[0]; c.Field != "Name" || !c.OldCut || got[0].Changes[0].OldCut {
		t.Errorf("a cut old value is not marked (or a whole one is): %+v", c)
	}

	fields, stamped, err := s.RevertFields(ctx, r.ID)
	if err != nil || !slices.Equal(fields, []string{"Name", "NumberOfEmployees"}) || !stamped {
		t.Errorf("RevertFields = %v, %v, %v", fields, stamped, err)
	}
}

func TestInterruptedRevertIsTheNewestRevertOnlyWhileNotContinued(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	target := revertSeedRun(t, s, massupdate.Run{StartedAt: at}, massupdate.Batch{}, massupdate.Succeeded)
	none, err := s.InterruptedRevert(ctx, target.ID)
	if err != nil || none != nil {
		t.Fatalf("no revert yet: %+v, %v", none, err)
	}
	rev := func(min int, dry bool, status massupdate.Status) massupdate.Run {
		return revertSeedRun(t, s, massupdate.Run{Trigger: massupdate.Revert, Reverts: target.ID, DryRun: dry,
			StartedAt: at.Add(time.Duration(min) * time.Minute)}, massupdate.Batch{}, status)
	}
	first := rev(1, false, massupdate.Interrupted)
	rev(2, true, massupdate.Interrupted) // a dry revert is never continued, and does not hide the real one
	got, err := s.InterruptedRevert(ctx, target.ID)
	if err != nil || got == nil || got.ID != first.ID || got.Reverts != target.ID {
		t.Fatalf("InterruptedRevert = %+v, %v; want %s", got, err, first.ID)
	}
	if by, _ := s.RevertedBy(ctx, target.ID); by != first.ID {
		t.Errorf("RevertedBy = %q, want %s", by, first.ID)
	}
	cont := revertSeedRun(t, s, massupdate.Run{Trigger: massupdate.Revert, Reverts: target.ID, ResumedFrom: first.ID,
		StartedAt: at.Add(3 * time.Minute)}, massupdate.Batch{}, massupdate.Succeeded)
	if err := s.MarkResumed(ctx, first.ID, cont.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.InterruptedRevert(ctx, target.ID); err != nil || got != nil {
		t.Fatalf("after it was continued: %+v, %v", got, err)
	}
	// A newer interrupted revert whose run record never got its continuation is offered again.
	last := rev(4, false, massupdate.Interrupted)
	if got, _ := s.InterruptedRevert(ctx, target.ID); got == nil || got.ID != last.ID {
		t.Fatalf("newest interrupted revert: %+v, want %s", got, last.ID)
	}
	if by, _ := s.RevertedBy(ctx, target.ID); by != last.ID {
		t.Errorf("RevertedBy = %q, want the newest %s", by, last.ID)
	}
}
