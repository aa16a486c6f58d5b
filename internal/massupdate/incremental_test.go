package massupdate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// Incremental sync at the engine's level (issue 12): the real store (a database per test) keeps runs and
// the sync state; Salesforce, Proff and the change feed are small in-memory fakes, so that each test can say
// exactly what changed between runs and count every lookup.

var syncFields = map[string]mapping.Field{
	"Name":                 {Name: "Name", Type: "string", Updateable: true, Length: 80},
	"NumberOfEmployees":    {Name: "NumberOfEmployees", Type: "int", Updateable: true, Precision: 8},
	"BillingPostalCode":    {Name: "BillingPostalCode", Type: "string", Updateable: true, Length: 10},
	"Proff_Last_Synced__c": {Name: "Proff_Last_Synced__c", Type: "datetime", Updateable: true},
}

var syncKinds = map[string]mapping.Kind{"name": mapping.Text, "numberOfEmployees": mapping.Integer,
	"visitorAddress.zipCode": mapping.Text}

var syncRules = []mapping.Rule{
	{Point: "name", Field: "Name", Mode: mapping.Overwrite},
	{Point: "numberOfEmployees", Field: "NumberOfEmployees", Mode: mapping.Overwrite},
}

// crm is Salesforce: the selected records, in Id order, which writes change.
type crm struct {
	mu      sync.Mutex
	recs    []massupdate.Record
	writes  int
	written map[string]int
}

func (c *crm) Describe(context.Context) (map[string]mapping.Field, error) { return syncFields, nil }
func (c *crm) Count(context.Context) (int, error)                         { return len(c.recs), nil }

func (c *crm) Records(ctx context.Context, after string, page func([]massupdate.Record) error) error {
	c.mu.Lock()
	var rest []massupdate.Record
	for _, r := range c.recs {
		if r.ID > after {
			cp := r
			cp.Values = map[string]any{}
			for k, v := range r.Values {
				cp.Values[k] = v
			}
			rest = append(rest, cp)
		}
	}
	c.mu.Unlock()
	for len(rest) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(3, len(rest))
		if err := page(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

func (c *crm) Write(_ context.Context, us []massupdate.Update) ([]massupdate.WriteResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	out := make([]massupdate.WriteResult, len(us))
	for i, u := range us {
		out[i].RecordID = u.RecordID
		c.written[u.RecordID]++
		for j := range c.recs {
			if c.recs[j].ID == u.RecordID {
				for f, v := range u.Fields {
					c.recs[j].Values[f] = v
				}
			}
		}
	}
	return out, nil
}

// set is a person's edit in Salesforce.
func (c *crm) set(id, field string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j := range c.recs {
		if c.recs[j].ID == id {
			if field == "org" {
				c.recs[j].OrgNumber = v.(string)
			} else {
				c.recs[j].Values[field] = v
			}
		}
	}
}

func (c *crm) value(id, field string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.recs {
		if r.ID == id {
			return r.Values[field]
		}
	}
	return nil
}

// register is Proff: documents by "CC/org", and the lookups asked of it.
type register struct {
	mu    sync.Mutex
	docs  map[string]map[string]any
	calls map[string]int
	total int
	hook  func(n int) // called with the 1-based number of each lookup
}

func (p *register) Lookup(ctx context.Context, country, org string) (map[string]any, error) {
	p.mu.Lock()
	p.calls[country+"/"+org]++
	p.total++
	n, doc := p.total, p.docs[country+"/"+org]
	p.mu.Unlock()
	if p.hook != nil {
		p.hook(n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, fmt.Errorf("lookup: %w", massupdate.ErrNotFound)
	}
	out := map[string]any{}
	for k, v := range doc {
		out[k] = v
	}
	return out, nil
}

func (p *register) set(country, org, point string, v any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.docs[country+"/"+org][point] = v
}

func (p *register) lookups() (int, map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string]int{}
	for k, v := range p.calls {
		m[k] = v
	}
	return p.total, m
}

// feed is Proff's change feed: entries per country; the countries not in it answer unsupported.
type feed struct {
	mu      sync.Mutex
	entries map[string][]feedEntry
	calls   int
	// failAfter, when > 0, makes the next read fail after handing out that many entries (then it is reset).
	failAfter int
	hook      func() // called at the start of every read
}

type feedEntry struct {
	incremental.FeedChange
	removed bool
}

func (f *feed) Changes(ctx context.Context, country string, q incremental.FeedQuery, fn func(incremental.FeedChange) error) (int, error) {
	if f.hook != nil {
		f.hook()
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	f.calls++
	es, ok := f.entries[country]
	failAfter := f.failAfter
	f.failAfter = 0
	f.mu.Unlock()
	if !ok {
		return 1, fmt.Errorf("feed %s: 404: %w", country, incremental.ErrFeedUnsupported)
	}
	n := 0
	for _, e := range es {
		if e.removed != q.Removed || e.At.Before(q.Since) {
			continue
		}
		if failAfter > 0 && n == failAfter {
			return 1, fmt.Errorf("feed %s: page 2: 502: %w", country, incremental.ErrFeedFailed)
		}
		n++
		if err := fn(e.FeedChange); err != nil {
			return 1, err
		}
	}
	if failAfter > 0 && n >= failAfter {
		return 1, fmt.Errorf("feed %s: page 2: 502: %w", country, incremental.ErrFeedFailed)
	}
	return 1, nil
}

func (f *feed) change(country, org string, at time.Time, removed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[country] = append(f.entries[country], feedEntry{incremental.FeedChange{Org: org, At: at}, removed})
}

func (f *feed) reads() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

// syncWorld is one database, one CRM, one register and one feed, shared by the runs of a test.
type syncWorld struct {
	st   *store.Store
	crm  *crm
	reg  *register
	feed *feed
	clk  *clocktest.Clock
	logs *bytes.Buffer
	logm sync.Mutex
	orgs []string // the companies, in record order
}

func (w *syncWorld) Write(p []byte) (int, error) {
	w.logm.Lock()
	defer w.logm.Unlock()
	return w.logs.Write(p)
}

func (w *syncWorld) log() string {
	w.logm.Lock()
	defer w.logm.Unlock()
	return w.logs.String()
}

// newSyncWorld holds n NO companies (one record each, numbered from 001…001) and the SE companies se.
func newSyncWorld(t *testing.T, n int, se ...string) *syncWorld {
	t.Helper()
	w := &syncWorld{st: storetest.New(t), crm: &crm{written: map[string]int{}},
		reg:  &register{docs: map[string]map[string]any{}, calls: map[string]int{}},
		feed: &feed{entries: map[string][]feedEntry{"NO": nil}}, clk: clocktest.New(), logs: &bytes.Buffer{}}
	next := 900000000
	add := func(cc, org string) {
		i := len(w.crm.recs) + 1
		w.crm.recs = append(w.crm.recs, massupdate.Record{ID: fmt.Sprintf("001%012d", i), OrgNumber: org, Country: cc,
			Values: map[string]any{"Name": nil, "NumberOfEmployees": nil, "Proff_Last_Synced__c": nil}})
		w.reg.docs[cc+"/"+org] = map[string]any{"name": fmt.Sprintf("Company %d AS", i), "numberOfEmployees": float64(i)}
		w.orgs = append(w.orgs, org)
	}
	for range n {
		for !orgnr.Valid(orgnr.NO, fmt.Sprint(next)) {
			next++
		}
		add("NO", fmt.Sprint(next))
		next++
	}
	for _, org := range se {
		add("SE", org)
	}
	return w
}

type syncOpts struct {
	maxLookups, refreshDays int
	version                 string
	rules                   []mapping.Rule
	feedOff                 bool
	store                   massupdate.RunStore
}

func (w *syncWorld) engine(t *testing.T, so syncOpts) *massupdate.Engine {
	t.Helper()
	rules := so.rules
	if rules == nil {
		rules = syncRules
	}
	if so.version == "" {
		so.version = "catalogue=1"
	}
	var st massupdate.RunStore = w.st
	if so.store != nil {
		st = so.store
	}
	e, err := massupdate.New(massupdate.Options{Source: w.crm, Lookup: w.reg, Writer: w.crm, Store: st,
		Rules: rules, Kinds: syncKinds, DefaultCountry: "NO", LastSyncedField: "Proff_Last_Synced__c", Concurrency: 3,
		SyncStore: w.st, Feed: w.feed, ChangeFeed: !so.feedOff, RefreshDays: so.refreshDays, MaxLookups: so.maxLookups,
		MappingVersion: so.version, Clock: w.clk,
		Logger: slog.New(runctx.NewHandler(slog.NewJSONHandler(w, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *syncWorld) run(t *testing.T, so syncOpts, req massupdate.RunRequest) *massupdate.Run {
	t.Helper()
	run, err := w.engine(t, so).Run(context.Background(), req)
	if err != nil || run == nil {
		t.Fatalf("run: %+v %v", run, err)
	}
	return run
}

// detail returns a run's records by Id (all of them, updated and unchanged ones included).
func (w *syncWorld) records(t *testing.T, runID string) map[string][2]string {
	t.Helper()
	rows, err := w.st.Pool().Query(context.Background(), `SELECT record_id, outcome, lookup, reason FROM run_records WHERE run_id = $1`, runID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var id, outcome, lookup, reason string
		if err := rows.Scan(&id, &outcome, &lookup, &reason); err != nil {
			t.Fatal(err)
		}
		out[id] = [2]string{outcome + "/" + lookup, reason}
	}
	return out
}

func (w *syncWorld) stored(t *testing.T) (companies, records int64) {
	t.Helper()
	ctx := context.Background()
	if err := w.st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM sync_companies), (SELECT count(*) FROM sync_records)`).
		Scan(&companies, &records); err != nil {
		t.Fatal(err)
	}
	return companies, records
}

func wantLookups(t *testing.T, run *massupdate.Run, want massupdate.Lookups) {
	t.Helper()
	if run.Lookups != want {
		t.Errorf("run lookups %+v, want %+v", run.Lookups, want)
	}
}

// The second night: the feed lists one company, a person edited another's name; nothing else changed. The
// edit is put right from the stored values with no Proff call, the listed company alone is looked up, and
// the SE companies (no feed, refresh_days 7) are served from their values too. The summary and the history
// say so.
func TestSecondRunLooksUpOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 5, "5560125790", "5567037485")
	so := syncOpts{refreshDays: 7}
	first := w.run(t, so, massupdate.RunRequest{})
	wantLookups(t, first, massupdate.Lookups{Fresh: 7})
	if first.Counts.Updated != 7 {
		t.Fatalf("first run %+v", first.Counts)
	}
	if c, r := w.stored(t); c != 7 || r != 7 {
		t.Fatalf("stored %d companies %d records", c, r)
	}

	w.clk.Advance(24 * time.Hour)
	changed, edited := w.orgs[1], w.crm.recs[3].ID
	w.reg.set("NO", changed, "name", "Renamed AS")
	w.feed.change("NO", changed, w.clk.Now().Add(-2*time.Hour), false)
	w.crm.set(edited, "Name", "typed by a person")
	before, _ := w.reg.lookups()
	second := w.run(t, so, massupdate.RunRequest{})
	total, per := w.reg.lookups()
	if total-before != 1 || per["NO/"+changed] != 2 {
		t.Errorf("second run made %d lookups (%v), want the changed company only", total-before, per)
	}
	wantLookups(t, second, massupdate.Lookups{Fresh: 1, Cached: 6})
	if second.Counts.Selected != 7 || second.Counts.Updated != 2 || second.Counts.Unchanged != 5 {
		t.Errorf("second run counts %+v", second.Counts)
	}
	if got := w.crm.value(edited, "Name"); got != "Company 4 AS" {
		t.Errorf("the edit was left: %v", got)
	}
	recs := w.records(t, second.ID)
	if recs[w.crm.recs[1].ID][0] != "updated/fresh" || recs[edited][0] != "updated/stored" || recs[w.crm.recs[0].ID][0] != "unchanged/stored" {
		t.Errorf("records %v", recs)
	}
	got, err := w.st.GetRun(context.Background(), second.ID)
	if err != nil || got.Lookups != second.Lookups {
		t.Errorf("stored lookups %+v %v", got.Lookups, err)
	}
}

// A feed that fails part-way makes its country fall back to full lookups for the run, logged; the feed's
// state is not advanced, so the next run reads the same days again.
func TestFeedFailureFallsBackToFullLookups(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 4)
	w.run(t, syncOpts{}, massupdate.RunRequest{})
	states, _ := w.st.FeedStates(context.Background())
	w.clk.Advance(24 * time.Hour)
	w.feed.change("NO", w.orgs[0], w.clk.Now().Add(-time.Hour), false)
	w.feed.change("NO", w.orgs[1], w.clk.Now().Add(-time.Hour), false)
	w.feed.failAfter = 1
	before, _ := w.reg.lookups()
	run := w.run(t, syncOpts{}, massupdate.RunRequest{})
	if total, _ := w.reg.lookups(); total-before != 4 {
		t.Errorf("%d lookups, want all 4 companies after the feed failed", total-before)
	}
	wantLookups(t, run, massupdate.Lookups{Fresh: 4})
	if run.Status != massupdate.Succeeded || !strings.Contains(w.log(), "change feed could not be read") {
		t.Errorf("status %s; the fallback is not logged:\n%s", run.Status, w.log())
	}
	after, _ := w.st.FeedStates(context.Background())
	if !after["NO"].ReadUntil.Equal(states["NO"].ReadUntil) {
		t.Errorf("feed state moved after a failed read: %v → %v", states["NO"].ReadUntil, after["NO"].ReadUntil)
	}
}

// A company whose last lookup is older than the feed's 30 days of history is due, whatever the feed says;
// a new mapping makes every company due once; a record whose org number changed makes its new company due.
func TestGapMappingAndOrgNumberChangesMakeCompaniesDue(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 4)
	w.run(t, syncOpts{}, massupdate.RunRequest{})

	w.clk.Advance(31 * 24 * time.Hour)
	gap := w.run(t, syncOpts{}, massupdate.RunRequest{})
	wantLookups(t, gap, massupdate.Lookups{Fresh: 4})

	w.clk.Advance(24 * time.Hour)
	quiet := w.run(t, syncOpts{}, massupdate.RunRequest{})
	wantLookups(t, quiet, massupdate.Lookups{Cached: 4})

	w.clk.Advance(24 * time.Hour)
	remapped := w.run(t, syncOpts{version: "catalogue=2"}, massupdate.RunRequest{})
	wantLookups(t, remapped, massupdate.Lookups{Fresh: 4})
	again := w.run(t, syncOpts{version: "catalogue=2"}, massupdate.RunRequest{})
	wantLookups(t, again, massupdate.Lookups{Cached: 4})

	// Record 4 now names company 1, which is stored and fresh: the move makes company 1 due.
	w.crm.set(w.crm.recs[3].ID, "org", w.orgs[0])
	before, per := w.reg.lookups()
	moved := w.run(t, syncOpts{version: "catalogue=2"}, massupdate.RunRequest{})
	total, per2 := w.reg.lookups()
	if total-before != 1 || per2["NO/"+w.orgs[0]] != per["NO/"+w.orgs[0]]+1 {
		t.Errorf("after the org number change: %d lookups %v", total-before, per2)
	}
	// Company 1 was served from its stored values to record 1, and is looked up for record 4 on.
	wantLookups(t, moved, massupdate.Lookups{Fresh: 1, Cached: 3})
}

// sync.max_lookups: each run looks up at most the cap, never-looked-up companies first, then the oldest
// lookups; the deferred companies' records are not selected. Over successive runs every company is
// refreshed.
func TestCapTakesTheStalestFirstUntilEverythingIsRefreshed(t *testing.T) {
	t.Parallel()
	se := []string{"5560125790", "5567037485", "5560360793", "5560364274", "5566728217"}
	w := newSyncWorld(t, 0, se...)
	w.feed.entries = map[string][]feedEntry{} // no country has a feed: refresh_days 0 makes every company due
	so := syncOpts{maxLookups: 2}
	var order [][]string
	seen := map[string]int{}
	for night := range 4 {
		_, before := w.reg.lookups()
		run := w.run(t, so, massupdate.RunRequest{})
		_, after := w.reg.lookups()
		var took []string
		for _, org := range se {
			if after["SE/"+org] > before["SE/"+org] {
				took = append(took, org)
				seen[org]++
			}
		}
		order = append(order, took)
		if len(took) != 2 || run.Counts.Selected != 2 || run.Lookups.Fresh != 2 || run.Lookups.Deferred != 3 {
			t.Errorf("night %d: took %v, counts %+v lookups %+v", night, took, run.Counts, run.Lookups)
		}
		w.clk.Advance(24 * time.Hour)
	}
	// The first three nights take the five never looked up (the third adds the stalest of the first
	// night's); the fourth takes what is then stalest: the rest of the first night's and one of the second's.
	first3 := map[string]bool{}
	for _, took := range order[:3] {
		for _, org := range took {
			first3[org] = true
		}
	}
	if len(first3) != 5 || !slices.Contains(order[2], order[0][0]) || !slices.Contains(order[3], order[0][1]) ||
		!slices.Contains(order[1], order[3][1]) {
		t.Errorf("nights took %v", order)
	}
}

// Interrupted during the feed read, then in the middle of the lookups, and resumed each time: no record is
// lost, and a company whose batch was recorded is not looked up again.
func TestInterruptAndResumeDuringFeedReadAndLookups(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 9)
	w.run(t, syncOpts{}, massupdate.RunRequest{})
	w.clk.Advance(24 * time.Hour)
	for _, org := range w.orgs {
		w.reg.set("NO", org, "numberOfEmployees", 1000.0)
		w.feed.change("NO", org, w.clk.Now().Add(-time.Hour), false)
	}

	// Shutdown comes between the feed's two reads (its changes were read, its removals not yet).
	ctx, cancel := context.WithCancel(context.Background())
	reads := 0
	w.feed.hook = func() {
		if reads++; reads == 2 {
			cancel()
		}
	}
	run, err := w.engine(t, syncOpts{}).Run(ctx, massupdate.RunRequest{})
	w.feed.hook = nil
	if run == nil || run.Status != massupdate.Interrupted || run.Counts.Selected != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted in the feed read: %+v %v", run, err)
	}
	if states, _ := w.st.FeedStates(context.Background()); states["NO"].ReadUntil.After(w.clk.Now().Add(-time.Hour)) {
		t.Errorf("the interrupted feed read advanced the feed's state: %+v", states["NO"])
	}

	ctx, cancel = context.WithCancel(context.Background())
	before, _ := w.reg.lookups()
	w.reg.hook = func(n int) {
		if n == before+5 {
			cancel()
		}
	}
	run, err = w.engine(t, syncOpts{}).Run(ctx, massupdate.RunRequest{Resume: true})
	w.reg.hook = nil
	if run == nil || run.Status != massupdate.Interrupted || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted in the lookups: %+v %v", run, err)
	}
	done := run.Counts.Selected
	mid, _ := w.reg.lookups()
	last := w.run(t, syncOpts{}, massupdate.RunRequest{Resume: true})
	end, _ := w.reg.lookups()
	if done+last.Counts.Selected != 9 || last.Status != massupdate.Succeeded {
		t.Errorf("resumed runs finished %d + %d records, want 9", done, last.Counts.Selected)
	}
	// The resumed run looks up only the companies of records the interrupted one did not record.
	if int64(end-mid) != 9-done {
		t.Errorf("the last resume made %d lookups for %d records", end-mid, 9-done)
	}
	for _, r := range w.crm.recs {
		if r.Values["NumberOfEmployees"] != 1000.0 {
			t.Errorf("record %s not brought up to date: %v", r.ID, r.Values["NumberOfEmployees"])
		}
	}
}

// A dry run stores nothing a later run would skip a lookup for: after it, every company is still new.
func TestDryRunLeavesNoTrace(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 3, "5560125790")
	dry := w.run(t, syncOpts{}, massupdate.RunRequest{DryRun: true})
	wantLookups(t, dry, massupdate.Lookups{Fresh: 4})
	if c, r := w.stored(t); c != 0 || r != 0 || w.crm.writes != 0 {
		t.Fatalf("a dry run stored %d companies, %d records, wrote %d times", c, r, w.crm.writes)
	}
	first := w.run(t, syncOpts{}, massupdate.RunRequest{})
	wantLookups(t, first, massupdate.Lookups{Fresh: 4})

	// After a real run, a dry run that meets a feed entry leaves the company due for the next real run.
	w.clk.Advance(24 * time.Hour)
	w.reg.set("NO", w.orgs[0], "name", "Changed AS")
	w.feed.change("NO", w.orgs[0], w.clk.Now().Add(-time.Hour), false)
	dry = w.run(t, syncOpts{}, massupdate.RunRequest{DryRun: true})
	wantLookups(t, dry, massupdate.Lookups{Fresh: 2, Cached: 2}) // the SE company has no feed: refresh_days 0
	next := w.run(t, syncOpts{}, massupdate.RunRequest{})
	wantLookups(t, next, massupdate.Lookups{Fresh: 2, Cached: 2})
	if got := w.crm.value(w.crm.recs[0].ID, "Name"); got != "Changed AS" {
		t.Errorf("the change the dry run saw was not written by the next run: %v", got)
	}
}

// failingStore fails SaveBatch after Salesforce took the batch: the crash between write and record.
type failingStore struct {
	*store.Store
}

func (f failingStore) SaveBatch(context.Context, string, massupdate.Batch) error {
	return errors.New("save batch: connection reset by peer")
}

// A crash between the write to Salesforce and the record of the batch never leaves a company stored as
// fresh: its values are stored in the batch's transaction only, so the next run looks it up again.
func TestCrashBetweenWriteAndRecordLeavesNothingFresh(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 3)
	run, err := w.engine(t, syncOpts{store: failingStore{w.st}}).Run(context.Background(), massupdate.RunRequest{})
	if run == nil || run.Status != massupdate.Interrupted || err == nil || w.crm.writes != 1 {
		t.Fatalf("run %+v err %v writes %d", run, err, w.crm.writes)
	}
	if c, r := w.stored(t); c != 0 || r != 0 {
		t.Fatalf("stored %d companies %d records without their batch", c, r)
	}
	next := w.run(t, syncOpts{}, massupdate.RunRequest{Resume: true})
	wantLookups(t, next, massupdate.Lookups{Fresh: 3})
}

// `run --full` ignores the feed, the stored values and the cap, and stores what it looked up.
func TestFullIgnoresFeedStoredValuesAndCap(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 4)
	w.run(t, syncOpts{}, massupdate.RunRequest{})
	reads := w.feed.reads()
	w.clk.Advance(time.Hour)
	full := w.run(t, syncOpts{maxLookups: 1}, massupdate.RunRequest{Full: true})
	wantLookups(t, full, massupdate.Lookups{Fresh: 4})
	if full.Counts.Selected != 4 || w.feed.reads() != reads {
		t.Errorf("full run selected %d, read the feed %d times", full.Counts.Selected, w.feed.reads()-reads)
	}
	after := w.run(t, syncOpts{}, massupdate.RunRequest{})
	wantLookups(t, after, massupdate.Lookups{Cached: 4})
}

// A mapped point no document had a value for is named in a warning and stored with the run; a run that
// found no company says nothing.
func TestNeverValuedPointsAreNamed(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 2)
	rules := append(slices.Clone(syncRules), mapping.Rule{Point: "visitorAddress.zipCode", Field: "BillingPostalCode"})
	run := w.run(t, syncOpts{rules: rules}, massupdate.RunRequest{})
	got, err := w.st.GetRun(context.Background(), run.ID)
	if err != nil || !slices.Equal(got.NeverValued, []string{"visitorAddress.zipCode"}) {
		t.Errorf("never valued %v %v", got.NeverValued, err)
	}
	if !strings.Contains(w.log(), "mapped data point never had a value in this run: check the spelling") ||
		!strings.Contains(w.log(), `"run_id":"`+run.ID+`"`) {
		t.Errorf("no warning with the run id:\n%s", w.log())
	}
	// Served from stored values, the point still has none.
	second := w.run(t, syncOpts{rules: rules}, massupdate.RunRequest{})
	if !slices.Equal(second.NeverValued, []string{"visitorAddress.zipCode"}) || second.Lookups.Cached != 2 {
		t.Errorf("second run: never valued %v lookups %+v", second.NeverValued, second.Lookups)
	}

	empty := newSyncWorld(t, 2)
	empty.reg.docs = map[string]map[string]any{}
	none := empty.run(t, syncOpts{rules: rules}, massupdate.RunRequest{})
	if none.NeverValued != nil || none.Counts.NotFound != 2 {
		t.Errorf("a run that found nothing: never valued %v counts %+v", none.NeverValued, none.Counts)
	}
}

// A company the feed lists as removed from the register: its record gets a reason, nothing is cleared.
func TestRemovedCompanyGetsAReason(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 2)
	w.run(t, syncOpts{}, massupdate.RunRequest{})
	w.clk.Advance(24 * time.Hour)
	w.feed.change("NO", w.orgs[0], w.clk.Now().Add(-time.Hour), true)
	delete(w.reg.docs, "NO/"+w.orgs[0])
	run := w.run(t, syncOpts{}, massupdate.RunRequest{})
	rec := w.records(t, run.ID)[w.crm.recs[0].ID]
	if rec[0] != "not_found/fresh" || !strings.Contains(rec[1], "removed from the register") {
		t.Errorf("record %v", rec)
	}
	if got := w.crm.value(w.crm.recs[0].ID, "Name"); got != "Company 1 AS" {
		t.Errorf("name cleared: %v", got)
	}
}

// The last-synced field's old and new values are kept with the record (a revert puts them back), and a
// rule's `format: title` is applied to what is written.
func TestLastSyncedValuesAndTitleFormat(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 1)
	w.reg.set("NO", w.orgs[0], "name", "OSEBERG SOLUTIONS AS")
	w.crm.set(w.crm.recs[0].ID, "Proff_Last_Synced__c", "2026-11-01T02:00:00.000Z")
	rules := []mapping.Rule{{Point: "name", Field: "Name", Format: mapping.Title}}
	run := w.run(t, syncOpts{rules: rules}, massupdate.RunRequest{})
	if got := w.crm.value(w.crm.recs[0].ID, "Name"); got != "Oseberg Solutions AS" {
		t.Errorf("name written %v", got)
	}
	var old, nw string
	if err := w.st.Pool().QueryRow(context.Background(), `SELECT last_synced_old::text, last_synced_new::text FROM run_records
		WHERE run_id = $1`, run.ID).Scan(&old, &nw); err != nil {
		t.Fatal(err)
	}
	if old != `"2026-11-01T02:00:00.000Z"` || nw != `"`+w.clk.Now().UTC().Format("2006-01-02T15:04:05.000Z")+`"` {
		t.Errorf("last synced %s → %s", old, nw)
	}
	// A dry run writes nothing, so it keeps no last-synced values a revert could put back.
	w.crm.set(w.crm.recs[0].ID, "Name", "edited")
	dry := w.run(t, syncOpts{rules: rules}, massupdate.RunRequest{DryRun: true})
	var set bool
	if err := w.st.Pool().QueryRow(context.Background(), `SELECT last_synced_old IS NOT NULL FROM run_records
		WHERE run_id = $1 AND outcome = 'updated'`, dry.ID).Scan(&set); err != nil || set {
		t.Errorf("dry run kept last-synced values: %v %v", set, err)
	}
}

// The preview plans as a run would, from Salesforce and the stored state only: due companies by reason,
// cached, deferred by the cap, and the Proff calls with the feed's pages.
func TestPreviewShowsThePlan(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 4, "5560125790")
	w.run(t, syncOpts{}, massupdate.RunRequest{})
	w.clk.Advance(24 * time.Hour)
	w.feed.change("NO", w.orgs[2], w.clk.Now().Add(-time.Hour), false)
	w.run(t, syncOpts{}, massupdate.RunRequest{DryRun: true}) // reads the feed: its marks are what preview knows
	w.crm.set(w.crm.recs[1].ID, "org", w.orgs[0])             // record 2 moves to company 1

	lookups, _ := w.reg.lookups()
	reads := w.feed.reads()
	states, err := w.st.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	preview := func(max int, full bool) massupdate.Preview {
		p, err := massupdate.NewPreviewer(massupdate.PreviewOptions{Source: w.crm, DefaultCountry: "NO", Rules: syncRules,
			Kinds: syncKinds, MappingVersion: "catalogue=1", SyncState: w.st, FeedStates: states, ChangeFeed: true,
			MaxLookups: max, Full: full, RatePerSecond: 2, Clock: w.clk})
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Preview(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := preview(0, false)
	want := massupdate.Preview{Selected: 5, Duplicates: 2, Lookups: 5, EstimatedSeconds: 2.5, Cached: 1, CompanyLookups: 3, FeedPages: 2,
		Due: map[incremental.Reason]int{incremental.ReasonChangedInSalesforce: 1, incremental.ReasonInFeed: 1, incremental.ReasonNoFeed: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("preview\n got %+v\nwant %+v", got, want)
	}
	if capped := preview(2, false); capped.Deferred != 1 || capped.CompanyLookups != 2 || capped.Lookups != 4 {
		t.Errorf("capped preview %+v", capped)
	}
	if full := preview(2, true); full.Due[incremental.ReasonFull] != 4 || full.Deferred != 0 || full.FeedPages != 0 || full.Lookups != 4 {
		t.Errorf("full preview %+v", full)
	}
	if now, _ := w.reg.lookups(); now != lookups || w.feed.reads() != reads {
		t.Errorf("preview called Proff")
	}
}

// --limit counts the records a run finishes: the deferred companies' records before the limit is reached
// are neither selected nor recorded, and do not use it up.
func TestLimitCountsOnlySelectedRecordsUnderTheCap(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 0, "5567037485", "5566728217", "5560125790", "5560360793")
	w.feed.entries = map[string][]feedEntry{}
	run := w.run(t, syncOpts{maxLookups: 2}, massupdate.RunRequest{Limit: 1})
	recs := w.records(t, run.ID)
	third := w.crm.recs[2].ID
	if run.Counts.Selected != 1 || len(recs) != 1 || recs[third][0] != "updated/fresh" || run.Checkpoint != third {
		t.Errorf("counts %+v records %v checkpoint %s", run.Counts, recs, run.Checkpoint)
	}
	wantLookups(t, run, massupdate.Lookups{Fresh: 1, Deferred: 2})
}

// P10 for the stored sync values: Proff's document holds more than the mapping selects (here a point whose
// kind is known but that no rule maps, and one the catalogue does not know); what a run stores of the
// company holds the mapped points' values and nothing else, in any table, and a later run serves them.
func TestStoredValuesHoldOnlyTheMappedPoints(t *testing.T) {
	t.Parallel()
	w := newSyncWorld(t, 2)
	org := w.orgs[0]
	w.reg.set("NO", org, "visitorAddress.zipCode", "UNMAPPED-ZIP-0150")
	w.reg.set("NO", org, "boardChairman", "UNMAPPED-CHAIR-Kari Nordmann")
	first := w.run(t, syncOpts{}, massupdate.RunRequest{})
	wantLookups(t, first, massupdate.Lookups{Fresh: 2})
	dump := storetest.Dump(t, w.st)
	if strings.Contains(dump, "UNMAPPED-") {
		t.Errorf("a point no rule maps was stored:\n%s", dump)
	}
	seen := false // the search sees the stored values' text: the mapped name is there
	for _, l := range strings.Split(dump, "\n") {
		seen = seen || strings.HasPrefix(l, "public.sync_companies ") && strings.Contains(l, "Company 1 AS")
	}
	if !seen {
		t.Fatalf("the mapped name is not in the stored values' dump, so it proves nothing:\n%s", dump)
	}
	w.clk.Advance(time.Hour)
	w.crm.set(w.crm.recs[0].ID, "Name", "typed by a person")
	second := w.run(t, syncOpts{}, massupdate.RunRequest{})
	wantLookups(t, second, massupdate.Lookups{Cached: 2})
	if got := w.crm.value(w.crm.recs[0].ID, "Name"); got != "Company 1 AS" {
		t.Errorf("served from stored values: Name %v", got)
	}
}

// lostSyncStore is a sync store whose PostgreSQL went away for longer than the store retries.
type lostSyncStore struct{ *store.Store }

func (lostSyncStore) LoadSyncState(context.Context, []string, []incremental.CompanyKey) (incremental.State, error) {
	return incremental.State{}, errors.New("load sync state: gave up after 6 tries in 30s: connection refused")
}

// PostgreSQL lost while a run plans its lookups (in the cap's first pass or in the run's own pass) ends the
// run interrupted, resumable (exit 4), as when a batch cannot be recorded: not failed.
func TestStoreLostWhilePlanningInterruptsTheRun(t *testing.T) {
	t.Parallel()
	for _, max := range []int{0, 2} {
		w := newSyncWorld(t, 4)
		e, err := massupdate.New(massupdate.Options{Source: w.crm, Lookup: w.reg, Writer: w.crm, Store: w.st,
			Rules: syncRules, Kinds: syncKinds, DefaultCountry: "NO", SyncStore: lostSyncStore{w.st}, Feed: w.feed,
			ChangeFeed: true, MaxLookups: max, MappingVersion: "catalogue=1", Clock: w.clk})
		if err != nil {
			t.Fatal(err)
		}
		run, err := e.Run(context.Background(), massupdate.RunRequest{})
		if run == nil || run.Status != massupdate.Interrupted || !strings.Contains(run.Error, "connection refused") {
			t.Errorf("max_lookups %d: run %+v, %v; want interrupted by the lost store", max, run, err)
		}
		if total, _ := w.reg.lookups(); total != 0 {
			t.Errorf("max_lookups %d: %d lookups without a plan", max, total)
		}
	}
}
