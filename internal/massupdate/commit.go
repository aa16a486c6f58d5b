package massupdate

import (
	"context"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
)

// maxBatchRecords bounds the records one recorded batch holds (and so the memory held between writes): a
// batch is written and recorded when it holds MaxBatch updates or this many records, whichever comes first.
const maxBatchRecords = 5000

// batch is what is written and recorded together.
type batch struct {
	records []done
	updates int
	lookups Lookups          // the companies first met in this batch
	sync    incremental.Save // what its records and their fresh lookups store
}

// commit takes the records in Id order as their lookups finish, and writes and records them in batches. It
// stops at the first record that cannot be finished: the checkpoint must never pass an unfinished record.
// Writes and the store calls use ctx, which only the stopper cuts.
func (r *runner) commit(ctx context.Context, queue <-chan *item) {
	b := &batch{}
	for it := range queue {
		if !r.awaitLookup(it) {
			return
		}
		if it.co != nil && it.co.source == deferred {
			r.account(it, b) // not selected: counted as deferred, not recorded
			continue
		}
		d, ok := r.evaluate(it)
		if !ok {
			// Only a stop leaves a lookup unfinished; make sure it is recorded as one.
			r.stop.interrupt(fmt.Errorf("run interrupted before every lookup finished: %w", it.co.err))
			break
		}
		r.account(it, b)
		if d.update == nil && r.e.o.Progress != nil {
			r.e.o.Progress.Add(1, d.res.Outcome)
		}
		if b.add(d) {
			if !r.flush(ctx, b) {
				return
			}
			b = &batch{}
		}
	}
	if r.stop.writing() {
		r.flush(ctx, b)
	}
}

// awaitLookup waits until the lookup of the record's company has finished; false when the run may no longer
// write.
func (r *runner) awaitLookup(it *item) bool {
	for it.co != nil && !it.co.finished.Load() {
		select {
		case <-r.lookedUp:
		case <-r.stop.hardDone():
			return false
		}
	}
	return r.stop.writing()
}

// add puts a record into the batch and tells whether the batch is full.
func (b *batch) add(d done) bool {
	b.records = append(b.records, d)
	if d.update != nil {
		b.updates++
	}
	return b.updates >= MaxBatch || len(b.records) >= maxBatchRecords
}

// flush writes a batch's updates (unless dry), attributes the results and records the batch with its
// checkpoint. It returns false when the run must stop.
func (r *runner) flush(ctx context.Context, b *batch) bool {
	if len(b.records) == 0 {
		// Deferred companies met after the last record: nothing to record, counted at the run's end.
		r.run.Lookups = r.run.Lookups.Plus(b.lookups)
		return true
	}
	wrote, ok := r.write(ctx, b)
	return ok && r.record(ctx, b, wrote)
}

// write sends the batch's updates to Salesforce and attributes the answer to the records (a dry run, or a
// batch with nothing to write, takes each record's outcome as written). wrote is true when Salesforce
// answered the write: what it took must be recorded even if the run is stopping. ok is false when the run
// must stop; the batch's records then stay unfinished, for the resumed run.
func (r *runner) write(ctx context.Context, b *batch) (wrote, ok bool) {
	if b.updates == 0 || r.req.DryRun {
		b.assumeWritten()
		return false, true
	}
	updates, idx := b.pending()
	if !r.stop.writing() || !r.lockHeld(ctx) {
		return false, false
	}
	results, err := r.e.o.Writer.Write(ctx, updates)
	if err == nil {
		err = matchResults(updates, results)
	}
	switch {
	case err != nil && !r.stop.writing():
		// The stop may have cut the write: not known to be written, so unfinished for the resumed run.
		return false, false
	case err != nil && errorStops(err):
		// Not written, or not known to be: these records stay unfinished for the resumed run.
		r.stop.abortOn("write to Salesforce", err)
		return false, false
	case err != nil:
		b.failWrite(idx, err)
		return false, true
	}
	b.attribute(idx, results)
	return true, true
}

// lockHeld confirms, when the lock can tell at once, that the run still holds it: a lost lock's ping may not
// have come yet, and another process may be writing the same records by now.
func (r *runner) lockHeld(ctx context.Context) bool {
	lc, ok := r.lock.(LockChecker)
	if !ok {
		return true
	}
	if err := lc.Check(ctx); err != nil {
		r.stop.abort(fmt.Errorf("check the run lock before writing: %w", err))
		return false
	}
	return true
}

// pending is the batch's updates, and the index of each one's record.
func (b *batch) pending() ([]Update, []int) {
	updates := make([]Update, 0, b.updates)
	idx := make([]int, 0, b.updates)
	for i := range b.records {
		if u := b.records[i].update; u != nil {
			updates = append(updates, *u)
			idx = append(idx, i)
		}
	}
	return updates, idx
}

// matchResults checks that a write's answer can be attributed by position: one result per update, none
// naming another record.
func matchResults(updates []Update, results []WriteResult) error {
	if len(results) != len(updates) {
		return fmt.Errorf("the write answered %d results for %d records", len(results), len(updates))
	}
	for i := range results {
		if id := results[i].RecordID; id != "" && id != updates[i].RecordID {
			return fmt.Errorf("the write answered for record %s in the place of %s", id, updates[i].RecordID)
		}
	}
	return nil
}

// assumeWritten gives each record to write its outcome as written: nothing goes out in a dry run.
func (b *batch) assumeWritten() {
	for i := range b.records {
		if b.records[i].update != nil {
			b.records[i].res.Outcome = b.records[i].written
		}
	}
}

// failWrite fails every record of a write that failed as a whole.
func (b *batch) failWrite(idx []int, err error) {
	for _, i := range idx {
		d := &b.records[i]
		d.res.Outcome, d.res.Reason = Failed, joinReason("write failed: "+err.Error(), d.res.Reason)
	}
}

// attribute gives each written record its result, by position.
func (b *batch) attribute(idx []int, results []WriteResult) {
	for k, i := range idx {
		d := &b.records[i]
		if results[k].Err != nil {
			d.res.Outcome, d.res.Reason = Failed, joinReason(results[k].Err.Error(), d.res.Reason)
		} else {
			d.res.Outcome = d.written
		}
	}
}

// record stores the batch with its checkpoint, then counts it in the run and its progress. It returns false
// when the run must stop.
func (r *runner) record(ctx context.Context, b *batch, wrote bool) bool {
	out := b.recorded(r.run.Counts, r.req.DryRun)
	out.APICalls, out.Lookups = r.calls(), r.run.Lookups.Plus(b.lookups)
	if r.req.DryRun {
		out.Sync = incremental.Save{} // a dry run stores nothing a later run would skip a lookup for
	}
	if wrote {
		// What Salesforce took is recorded whatever stops the run meanwhile (a lost lock, PostgreSQL away for
		// a moment: the store retries), so that `changes` lists every field written. The store refuses the
		// batch if another process has closed the run since.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
	} else if !r.stop.writing() {
		return false
	}
	if err := r.e.o.Store.SaveBatch(ctx, r.run.ID, out); err != nil {
		if r.stop.writing() {
			r.stop.abort(fmt.Errorf("record a batch (Salesforce holds what was written; the resumed run finds it unchanged): %w", err))
		}
		return false
	}
	r.run.Counts, r.run.Checkpoint, r.run.APICalls, r.run.Lookups = out.Counts, out.Checkpoint, out.APICalls, out.Lookups
	if !r.stop.writing() {
		return false
	}
	r.progressed(b)
	return true
}

// recorded is the batch as the store records it, with the run's counts after it.
func (b *batch) recorded(counts Counts, dry bool) Batch {
	out := Batch{Results: make([]RecordResult, 0, len(b.records)), Checkpoint: b.records[len(b.records)-1].res.RecordID,
		Sync: b.sync}
	for _, d := range b.records {
		counts.Add(d.res.Outcome)
		if d.res.Outcome == Failed || dry {
			// Not written: a revert has no last-synced value to put back.
			d.res.LastSyncedOld, d.res.LastSyncedNew, d.res.LastSyncedSet = nil, nil, false
		}
		out.Results = append(out.Results, d.res)
		if d.res.Outcome == Updated {
			out.Changes = append(out.Changes, d.changes...)
		}
	}
	out.Counts = counts
	return out
}

// progressed tells the progress bar about the batch's writes, and logs the run's progress once an interval.
func (r *runner) progressed(b *batch) {
	if p := r.e.o.Progress; p != nil {
		for _, d := range b.records {
			if d.update != nil {
				p.Add(1, d.res.Outcome)
			}
		}
	}
	if now := r.e.o.Clock.Now(); now.Sub(r.lastLog) >= r.e.o.ProgressEvery {
		r.lastLog = now
		r.logProgress("run progress", now)
	}
}
