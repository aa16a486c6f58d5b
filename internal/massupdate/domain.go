// Package massupdate is the Mass Update: the domain types of a run (outcomes, counts, summaries), the small
// interfaces the engine consumes (a record source, a company lookup, a record writer, a run store), and the
// engine that drives a run through them.
//
// Nothing here knows HTTP or SQL: adapters (proff, salesforce, store) implement the interfaces and map their
// failures onto the sentinel errors declared here. Nothing here may send record data anywhere but through
// those interfaces.
package massupdate

import (
	"encoding/json"
	"errors"
	"time"
)

// Outcome is how one selected record ended. Every selected record ends in exactly one.
type Outcome string

const (
	Updated          Outcome = "updated"
	Unchanged        Outcome = "unchanged"
	NotFound         Outcome = "not_found"
	MissingOrgNumber Outcome = "missing_org_number"
	InvalidOrgNumber Outcome = "invalid_org_number"
	Failed           Outcome = "failed"
)

// Outcomes lists every outcome in the order of README: Contract.
var Outcomes = []Outcome{MissingOrgNumber, InvalidOrgNumber, NotFound, Unchanged, Updated, Failed}

// Valid reports whether o is one of the six outcomes.
func (o Outcome) Valid() bool {
	for _, x := range Outcomes {
		if o == x {
			return true
		}
	}
	return false
}

// Counts are a run's record counts. The six outcome counts add up to Selected.
type Counts struct {
	Selected         int64 `json:"selected"`
	MissingOrgNumber int64 `json:"missing_org_number"`
	InvalidOrgNumber int64 `json:"invalid_org_number"`
	NotFound         int64 `json:"not_found"`
	Unchanged        int64 `json:"unchanged"`
	Updated          int64 `json:"updated"`
	Failed           int64 `json:"failed"`
}

// Add counts one finished record.
func (c *Counts) Add(o Outcome) {
	c.Selected++
	switch o {
	case MissingOrgNumber:
		c.MissingOrgNumber++
	case InvalidOrgNumber:
		c.InvalidOrgNumber++
	case NotFound:
		c.NotFound++
	case Unchanged:
		c.Unchanged++
	case Updated:
		c.Updated++
	case Failed:
		c.Failed++
	}
}

// Plus returns the sum of two counts.
func (c Counts) Plus(d Counts) Counts {
	return Counts{
		Selected: c.Selected + d.Selected, MissingOrgNumber: c.MissingOrgNumber + d.MissingOrgNumber,
		InvalidOrgNumber: c.InvalidOrgNumber + d.InvalidOrgNumber, NotFound: c.NotFound + d.NotFound,
		Unchanged: c.Unchanged + d.Unchanged, Updated: c.Updated + d.Updated, Failed: c.Failed + d.Failed,
	}
}

// APICalls counts HTTP requests as sent, retries and logins included.
type APICalls struct {
	Proff      int64 `json:"proff"`
	Salesforce int64 `json:"salesforce"`
}

// Trigger says who started a run.
type Trigger string

const (
	Manual   Trigger = "manual"
	Schedule Trigger = "schedule"
	Demo     Trigger = "demo"
	Retry    Trigger = "retry"  // `run --retry RUN_ID`: the records that failed in RUN_ID
	Revert   Trigger = "revert" // `revert RUN_ID`: puts back what RUN_ID wrote
)

// Lookups says where a run's companies' data came from (issue 12): looked up in Proff in this run, served
// from the values stored at their last lookup, or left for a later run by sync.max_lookups.
type Lookups struct {
	Fresh    int64 `json:"fresh"`
	Cached   int64 `json:"cached"`
	Deferred int64 `json:"deferred"`
}

// Plus returns the sum of two lookups counts.
func (l Lookups) Plus(m Lookups) Lookups {
	return Lookups{Fresh: l.Fresh + m.Fresh, Cached: l.Cached + m.Cached, Deferred: l.Deferred + m.Deferred}
}

// Status is where a run stands.
type Status string

const (
	Running     Status = "running"
	Succeeded   Status = "succeeded"
	Partial     Status = "partial" // finished, some records failed
	StatusFail  Status = "failed"
	Interrupted Status = "interrupted" // stopped early; resumable unless dry or already resumed
)

// Run is one run as the store keeps it.
type Run struct {
	ID          string
	Trigger     Trigger
	Status      Status
	DryRun      bool
	Limit       int // 0: no limit
	StartedAt   time.Time
	FinishedAt  *time.Time
	ResumedFrom string // the interrupted run this one continues; "" when none
	ResumedBy   string // the run that continued this one; "" when none
	Checkpoint  string // the last record Id whose batch was fully recorded
	Counts      Counts
	Lookups     Lookups
	APICalls    APICalls
	Error       string // why the run failed or was interrupted
	Reverts     string // the run a revert undid; "" for other runs
	// NeverValued lists the mapped data points that had no value in any document the run found (fresh or
	// stored): most likely a misspelt path. Empty when the run found no company.
	NeverValued  []string
	Settings     json.RawMessage // the config the run used (object, fields, filter, mapping): never secrets
	ScheduledFor *time.Time      // the due time a scheduled run serves
}

// Summary is the run summary of README: Contract (`run --json`, each element of `history --json`).
type Summary struct {
	RunID       string     `json:"run_id"`
	Trigger     Trigger    `json:"trigger"`
	Status      Status     `json:"status"`
	DryRun      bool       `json:"dry_run"`
	StartedAt   Timestamp  `json:"started_at"`
	FinishedAt  *Timestamp `json:"finished_at"`
	ResumedFrom *string    `json:"resumed_from"`
	Counts      Counts     `json:"counts"`
	Lookups     Lookups    `json:"lookups"`
	APICalls    APICalls   `json:"api_calls"`
	Error       *string    `json:"error"`   // why the run failed or was interrupted; null otherwise
	Reverts     *string    `json:"reverts"` // the run a revert undid; null otherwise
}

// Summary returns the run's summary in the shape of README: Contract.
func (r Run) Summary() Summary {
	s := Summary{RunID: r.ID, Trigger: r.Trigger, Status: r.Status, DryRun: r.DryRun,
		StartedAt: Timestamp(r.StartedAt), Counts: r.Counts, Lookups: r.Lookups, APICalls: r.APICalls}
	if r.Error != "" {
		e := r.Error
		s.Error = &e
	}
	if r.Reverts != "" {
		id := r.Reverts
		s.Reverts = &id
	}
	if r.FinishedAt != nil {
		t := Timestamp(*r.FinishedAt)
		s.FinishedAt = &t
	}
	if r.ResumedFrom != "" {
		id := r.ResumedFrom
		s.ResumedFrom = &id
	}
	return s
}

// Timestamp marshals as RFC 3339 in UTC to the second, as README: Contract shows.
type Timestamp time.Time

func (t Timestamp) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format(time.RFC3339))
}

func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var tt time.Time
	if err := json.Unmarshal(b, &tt); err != nil {
		return err
	}
	*t = Timestamp(tt)
	return nil
}

// RecordResult is the outcome of one record, with the reason when it is not updated or unchanged.
type RecordResult struct {
	RecordID  string  `json:"record_id"`
	OrgNumber string  `json:"org_number"` // normalised when valid, else as read
	Country   string  `json:"country"`
	Outcome   Outcome `json:"outcome"`
	Reason    string  `json:"reason"`
	// Lookup says where the record's data came from: LookupFresh, LookupStored, or "" when the record had
	// nothing to look up (no or an invalid org number).
	Lookup string `json:"lookup,omitempty"`
	// The last-synced field's value before and as the run wrote it, when it did (LastSyncedSet): a revert
	// puts it back. It is no mapped field, so it stays out of the field changes.
	LastSyncedOld any  `json:"-"`
	LastSyncedNew any  `json:"-"`
	LastSyncedSet bool `json:"-"`
}

// Where a record's data came from (RecordResult.Lookup).
const (
	LookupFresh  = "fresh"
	LookupStored = "stored"
)

// FieldChange is one mapped field written (or, in a dry run, that would have been written). Old and New are
// JSON values as Salesforce holds them: string, float64, bool or nil.
type FieldChange struct {
	RecordID string `json:"record_id"`
	Field    string `json:"field"`
	Old      any    `json:"old"`
	New      any    `json:"new"`
}

// Detail is one run in full (`history show RUN_ID --json`).
type Detail struct {
	Run          Summary          `json:"run"`
	FieldChanges map[string]int64 `json:"field_changes"`
	Records      []RecordResult   `json:"records"`
	Changes      []FieldChange    `json:"changes"`
}

// Sentinel errors the adapters map their failures onto; the engine acts on these kinds only.
var (
	// ErrNotFound: the company does not exist in Proff. A normal outcome (not_found).
	ErrNotFound = errors.New("company not found")
	// ErrUnauthorized: a credential was rejected (Proff token, Salesforce login). The run stops, failed.
	ErrUnauthorized = errors.New("credentials rejected")
	// ErrCountryForbidden: the Proff token does not cover this country. Its records fail; others go on.
	ErrCountryForbidden = errors.New("the Proff token does not cover this country")
	// ErrQuotaExhausted: an API allowance is spent (Proff quota, Salesforce daily limit or reserve).
	// The run stops interrupted and can be resumed later.
	ErrQuotaExhausted = errors.New("API quota exhausted")
	// ErrLocked: another run holds the run lock. Nothing was done.
	ErrLocked = errors.New("another run is in progress")
	// ErrRunNotFound: no run has that id.
	ErrRunNotFound = errors.New("no such run")
	// ErrLockLost: the run's database session (and so its lock) died: the run must stop at once.
	ErrLockLost = errors.New("lost the run lock")
	// ErrAlreadyServed: a scheduled run for that due time exists already (another replica served it).
	ErrAlreadyServed = errors.New("this due time was already served")
)

// LockedError names the run that holds the lock; it wraps ErrLocked.
type LockedError struct{ RunID string }

func (e *LockedError) Error() string {
	if e.RunID == "" {
		return ErrLocked.Error()
	}
	return ErrLocked.Error() + ": run " + e.RunID
}
func (e *LockedError) Unwrap() error { return ErrLocked }
