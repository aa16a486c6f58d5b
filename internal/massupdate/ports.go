package massupdate

import (
	"context"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/mapping"
)

// Record is one selected Salesforce record as read.
type Record struct {
	ID        string
	OrgNumber string // raw, as typed into Salesforce; "" when null or blank
	Country   string // raw; "" when there is no country field or it is blank
	// Values holds the current value of every mapped field (and of the last-synced field when configured)
	// as Salesforce's JSON decodes: string, float64, bool or nil.
	Values map[string]any
}

// RecordSource reads the opted-in records. Memory must not grow with the number of records.
type RecordSource interface {
	// Describe returns the object's fields by API name, as the integration user sees them (FLS applied).
	Describe(ctx context.Context) (map[string]mapping.Field, error)
	// Count returns how many records are selected.
	Count(ctx context.Context) (int, error)
	// Records calls page for each page of selected records whose Id is greater than afterID ("" for all),
	// in ascending Id order. An error from page stops the read and is returned.
	Records(ctx context.Context, afterID string, page func([]Record) error) error
}

// CompanyLookup looks companies up in Proff. It sends only the country and the org number (P2).
type CompanyLookup interface {
	// Lookup returns the values of the mapped data points by data point name; a point with no value is
	// absent. Values are typed by the point's mapping.Kind. Errors wrap ErrNotFound, ErrUnauthorized,
	// ErrCountryForbidden, ErrQuotaExhausted or describe why this one lookup failed.
	Lookup(ctx context.Context, country, orgNumber string) (map[string]any, error)
}

// Update is one record's write: only the changed mapped fields and the optional last-synced field (P4).
type Update struct {
	RecordID string
	Fields   map[string]any
}

// WriteResult is the result of one Update; Err is nil on success, else "STATUS_CODE: message".
type WriteResult struct {
	RecordID string
	Err      error
}

// RecordWriter writes to Salesforce.
type RecordWriter interface {
	// Write writes at most MaxBatch updates and returns one result per update, in order. An error means the
	// call as a whole failed; it wraps ErrQuotaExhausted, ErrUnauthorized or the context's error.
	Write(ctx context.Context, updates []Update) ([]WriteResult, error)
}

// MaxBatch is the most records one write carries (sObject Collections).
const MaxBatch = 200

// Batch is what the engine records in one transaction: the records of a written batch, their field
// changes, the checkpoint they advance, the run's running totals, and the stored sync state the batch's
// fresh lookups add (so that a crash never leaves a company marked fresh whose values were not recorded).
type Batch struct {
	Results    []RecordResult
	Changes    []FieldChange
	Checkpoint string // the last record Id of this batch: every record up to it is recorded
	Counts     Counts // the run's totals after this batch
	Lookups    Lookups
	APICalls   APICalls
	// Sync is stored in the batch's transaction; always empty in a dry run.
	Sync incremental.Save
}

// RunLock is the one-run-at-a-time lock.
type RunLock interface {
	// Lost is closed when the lock's database session dies; the run must stop at once.
	Lost() <-chan struct{}
	// Release gives the lock back.
	Release(ctx context.Context) error
}

// LockChecker is a RunLock that can confirm at once that it is still held. When the lock implements it, the
// engine asks before every write to Salesforce: a lock lost between two of the lock's own liveness checks
// must not let a write through, as another process may hold the lock by then.
type LockChecker interface {
	// Check returns nil while the lock is held, else an error wrapping ErrLockLost (and closes Lost).
	Check(ctx context.Context) error
}

// RunStore keeps runs and their details.
type RunStore interface {
	// AcquireRunLock takes the lock at once or fails with a *LockedError.
	AcquireRunLock(ctx context.Context) (RunLock, error)
	// MarkAbandoned marks runs left `running` by a process that died as interrupted. Call it holding the lock.
	MarkAbandoned(ctx context.Context, now time.Time) (int, error)
	// CreateRun inserts a run with status running and sets its ID.
	CreateRun(ctx context.Context, r *Run) error
	// LatestInterrupted returns the newest interrupted run that may be resumed (not a dry run, not resumed
	// yet), or nil.
	LatestInterrupted(ctx context.Context) (*Run, error)
	// MarkResumed links an interrupted run to the run that continues it.
	MarkResumed(ctx context.Context, interruptedID, byID string) error
	// SaveBatch records a batch in one transaction.
	SaveBatch(ctx context.Context, runID string, b Batch) error
	// FinishRun stores the final status, error, counts, API calls and finish time.
	FinishRun(ctx context.Context, r *Run) error
}
