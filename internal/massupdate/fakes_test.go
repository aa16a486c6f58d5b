package massupdate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/orgnr"
)

// The fakes below stand in for the Salesforce, Proff and PostgreSQL adapters in the engine's unit tests; the
// integration tests run the real adapters against the emulators and a real PostgreSQL.

type fakeSource struct {
	fields   map[string]mapping.Field
	records  []Record // ascending Id
	pageSize int

	mu        sync.Mutex
	afters    []string // afterID of each Records call
	pages     int
	onPage    func(n int) // called before page n (0-based) is handed out
	readErrAt int         // page index that fails with readErr (when readErr is set)
	readErr   error
	// readErrOnce: readErr fails one read only (a query cursor that expired); later reads go through.
	readErrOnce bool
	// readErrAfter, when set, makes readErr fail every page that would hand out a record after this Id.
	readErrAfter string
	readFailed   bool
}

func (s *fakeSource) Describe(context.Context) (map[string]mapping.Field, error) {
	return s.fields, nil
}
func (s *fakeSource) Count(context.Context) (int, error) { return len(s.records), nil }

func (s *fakeSource) Records(ctx context.Context, afterID string, page func([]Record) error) error {
	s.mu.Lock()
	s.afters = append(s.afters, afterID)
	s.mu.Unlock()
	size := s.pageSize
	if size == 0 {
		size = 3
	}
	var rest []Record
	for _, r := range s.records {
		if r.ID > afterID {
			rest = append(rest, r)
		}
	}
	for n := 0; len(rest) > 0; n++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("query: %w", err)
		}
		s.mu.Lock()
		fail := s.readErr != nil && !(s.readErrOnce && s.readFailed) &&
			((s.readErrAfter == "" && n == s.readErrAt) || (s.readErrAfter != "" && rest[0].ID > s.readErrAfter))
		if fail {
			s.readFailed = true
		}
		s.mu.Unlock()
		if fail {
			return s.readErr
		}
		if s.onPage != nil {
			s.onPage(n)
		}
		k := min(size, len(rest))
		p := make([]Record, k)
		for i := range k { // the engine must not keep what it is handed: give it copies
			p[i] = rest[i]
			p[i].Values = map[string]any{}
			for f, v := range rest[i].Values {
				p[i].Values[f] = v
			}
		}
		rest = rest[k:]
		s.mu.Lock()
		s.pages++
		s.mu.Unlock()
		if err := page(p); err != nil {
			return err
		}
	}
	return nil
}

type lookupAnswer struct {
	values map[string]any
	err    error
}

type fakeLookup struct {
	answers map[string]lookupAnswer                      // "NO/923609016"
	hook    func(ctx context.Context, key string, n int) // called on the n-th call (1-based), before answering

	mu    sync.Mutex
	calls map[string]int
	total int
}

func (l *fakeLookup) Lookup(ctx context.Context, country, org string) (map[string]any, error) {
	key := country + "/" + org
	l.mu.Lock()
	if l.calls == nil {
		l.calls = map[string]int{}
	}
	l.calls[key]++
	l.total++
	n := l.total
	l.mu.Unlock()
	if l.hook != nil {
		l.hook(ctx, key, n)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	a, ok := l.answers[key]
	if !ok {
		return nil, fmt.Errorf("lookup %s: %w", country, ErrNotFound)
	}
	if a.err != nil {
		return nil, a.err
	}
	// Hand back a fresh map with an extra point nobody mapped: the engine keeps mapped points only.
	out := map[string]any{"unmapped.point": "x"}
	for k, v := range a.values {
		out[k] = v
	}
	return out, nil
}

func (l *fakeLookup) count() (total int, perKey map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	perKey = map[string]int{}
	for k, v := range l.calls {
		perKey[k] = v
	}
	return l.total, perKey
}

type fakeWriter struct {
	recordErrs map[string]error                  // per record id
	callErr    func(call int, us []Update) error // whole-call error for call n (1-based)
	// answer, when set, replaces the results of a call that did not fail as a whole (a misbehaving adapter).
	answer func(us []Update, results []WriteResult) []WriteResult

	mu      sync.Mutex
	calls   [][]Update
	ctxErrs []error // the context's error when each call came in
}

func (w *fakeWriter) Write(ctx context.Context, us []Update) ([]WriteResult, error) {
	w.mu.Lock()
	cp := make([]Update, len(us))
	for i, u := range us {
		f := map[string]any{}
		for k, v := range u.Fields {
			f[k] = v
		}
		cp[i] = Update{RecordID: u.RecordID, Fields: f}
	}
	w.calls = append(w.calls, cp)
	w.ctxErrs = append(w.ctxErrs, ctx.Err())
	n := len(w.calls)
	w.mu.Unlock()
	if len(us) > MaxBatch {
		return nil, fmt.Errorf("write: %d records in one call", len(us))
	}
	if w.callErr != nil {
		if err := w.callErr(n, us); err != nil {
			return nil, err
		}
	}
	out := make([]WriteResult, len(us))
	for i, u := range us {
		out[i] = WriteResult{RecordID: u.RecordID, Err: w.recordErrs[u.RecordID]}
	}
	if w.answer != nil {
		out = w.answer(us, out)
	}
	return out, nil
}

func (w *fakeWriter) written() (calls [][]Update) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]Update(nil), w.calls...)
}

type fakeLock struct {
	s    *fakeStore
	lost chan struct{}
}

func (l *fakeLock) Lost() <-chan struct{} { return l.lost }
func (l *fakeLock) Release(context.Context) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	l.s.locked = false
	l.s.releases++
	return nil
}

type fakeStore struct {
	mu       sync.Mutex
	locked   bool
	holder   string
	lock     *fakeLock
	releases int
	runs     []*Run
	batches  map[string][]Batch
	saveErr  func(runID string, n int) error // error for the n-th SaveBatch of a run (1-based)
	finished map[string]int
	resumed  [][2]string
	// finishErr, when set, fails every FinishRun.
	finishErr error
	// markErr, when set, fails every MarkResumed.
	markErr error
	// panicIn, when set, names the method that panics ("MarkResumed", "FinishRun").
	panicIn string
}

func newFakeStore() *fakeStore {
	return &fakeStore{batches: map[string][]Batch{}, finished: map[string]int{}}
}

func (s *fakeStore) AcquireRunLock(context.Context) (RunLock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return nil, &LockedError{RunID: s.holder}
	}
	s.locked = true
	s.lock = &fakeLock{s: s, lost: make(chan struct{})}
	return s.lock, nil
}

func (s *fakeStore) MarkAbandoned(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.runs {
		if r.Status == Running {
			r.Status, r.Error, r.FinishedAt = Interrupted, "abandoned", &now
			n++
		}
	}
	return n, nil
}

func (s *fakeStore) CreateRun(_ context.Context, r *Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.ID = "run-" + strconv.Itoa(len(s.runs)+1)
	cp := *r
	s.runs = append(s.runs, &cp)
	s.holder = r.ID
	return nil
}

func (s *fakeStore) get(id string) *Run {
	for _, r := range s.runs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (s *fakeStore) LatestInterrupted(context.Context) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.runs) - 1; i >= 0; i-- {
		if r := s.runs[i]; r.Status == Interrupted && !r.DryRun && r.ResumedBy == "" {
			cp := *r
			return &cp, nil
		}
	}
	return nil, nil
}

func (s *fakeStore) MarkResumed(_ context.Context, old, by string) error {
	if s.panicIn == "MarkResumed" {
		panic("store exploded\nsecond line")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.markErr != nil {
		return s.markErr
	}
	s.get(old).ResumedBy = by
	s.resumed = append(s.resumed, [2]string{old, by})
	return nil
}

func (s *fakeStore) SaveBatch(_ context.Context, runID string, b Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr != nil {
		if err := s.saveErr(runID, len(s.batches[runID])+1); err != nil {
			return err
		}
	}
	s.batches[runID] = append(s.batches[runID], b)
	r := s.get(runID)
	r.Checkpoint, r.Counts, r.APICalls = b.Checkpoint, b.Counts, b.APICalls
	return nil
}

func (s *fakeStore) FinishRun(_ context.Context, r *Run) error {
	if s.panicIn == "FinishRun" {
		panic("store exploded\nsecond line")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finishErr != nil {
		return s.finishErr
	}
	cp := *r
	cp.ResumedBy = s.get(r.ID).ResumedBy
	*s.get(r.ID) = cp
	s.finished[r.ID]++
	return nil
}

// results returns every recorded result of a run, in recording order.
func (s *fakeStore) results(runID string) []RecordResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RecordResult
	for _, b := range s.batches[runID] {
		out = append(out, b.Results...)
	}
	return out
}

func (s *fakeStore) changes(runID string) []FieldChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []FieldChange
	for _, b := range s.batches[runID] {
		out = append(out, b.Changes...)
	}
	return out
}

// validNO returns the n-th valid Norwegian org number at or after base.
func validNO(base int) string {
	for i := base; ; i++ {
		s := fmt.Sprintf("%09d", i)
		if orgnr.Valid(orgnr.NO, s) {
			return s
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var errBoom = errors.New("boom")
