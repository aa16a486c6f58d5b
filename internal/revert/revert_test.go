package revert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/revert"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

const (
	clientID, clientSecret = "revert-client", "revert-secret-9931"
	lastSynced             = "Proff_Last_Synced__c"
)

// env is a real store, the Salesforce emulator and a client against it configured, as the cli does, with
// the fields the reverted run wrote.
type env struct {
	t     *testing.T
	st    *store.Store
	emu   *sfemu.Server
	sf    *salesforce.Client
	tally *transport.Tally
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, st: storetest.New(t), emu: sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret}),
		tally: &transport.Tally{}}
	t.Cleanup(e.emu.Close)
	sf, err := salesforce.New(salesforce.Options{LoginURL: e.emu.URL(), ClientID: clientID, ClientSecret: clientSecret,
		APIVersion: "62.0", Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c",
		Fields: []string{"BillingPostalCode", "Name"}, LastSyncedField: lastSynced, Recorder: e.tally,
		Clock: clocktest.New()})
	if err != nil {
		t.Fatal(err)
	}
	e.sf = sf
	return e
}

func (e *env) engine(w massupdate.RecordWriter) *revert.Engine {
	e.t.Helper()
	if w == nil {
		w = e.sf
	}
	eng, err := revert.New(revert.Options{Store: e.st, Reader: e.sf, Writer: w, LastSyncedField: lastSynced,
		Calls: func() massupdate.APICalls {
			p, sf := e.tally.Counts()
			return massupdate.APICalls{Proff: p, Salesforce: sf}
		}})
	if err != nil {
		e.t.Fatal(err)
	}
	return eng
}

// wrote is what a seeded run wrote to one record.
type wrote struct {
	id                string
	name, postal      [2]any // old, new; nil pair: not written
	syncedOld, synced any    // the last-synced stamp before and as written; synced nil: not written
}

// seedRun records a finished sync run that wrote ws, and makes Salesforce hold what it wrote.
func (e *env) seedRun(dry bool, ws ...wrote) string {
	e.t.Helper()
	ctx := context.Background()
	r := &massupdate.Run{Trigger: massupdate.Manual, DryRun: dry}
	if err := e.st.CreateRun(ctx, r); err != nil {
		e.t.Fatal(err)
	}
	var b massupdate.Batch
	for _, w := range ws {
		res := massupdate.RecordResult{RecordID: w.id, OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated}
		vals := map[string]any{}
		if w.name[1] != nil {
			b.Changes = append(b.Changes, massupdate.FieldChange{RecordID: w.id, Field: "Name", Old: w.name[0], New: w.name[1]})
			vals["Name"] = w.name[1]
		}
		if w.postal[1] != nil {
			b.Changes = append(b.Changes, massupdate.FieldChange{RecordID: w.id, Field: "BillingPostalCode", Old: w.postal[0], New: w.postal[1]})
			vals["BillingPostalCode"] = w.postal[1]
		}
		if w.synced != nil {
			res.LastSyncedSet, res.LastSyncedOld, res.LastSyncedNew = true, w.syncedOld, w.synced
			vals[lastSynced] = w.synced
			if len(vals) == 1 {
				res.Outcome = massupdate.Unchanged
			}
		}
		b.Results = append(b.Results, res)
		b.Counts.Add(res.Outcome)
		b.Checkpoint = w.id
		if !dry {
			e.set(w.id, vals)
		}
	}
	if err := e.st.SaveBatch(ctx, r.ID, b); err != nil {
		e.t.Fatal(err)
	}
	r.Status, r.Counts = massupdate.Succeeded, b.Counts
	if err := e.st.FinishRun(ctx, r); err != nil {
		e.t.Fatal(err)
	}
	return r.ID
}

// set writes fields as a person would, through the emulator's single-record PATCH.
func (e *env) set(id string, vals map[string]any) {
	e.t.Helper()
	if len(vals) == 0 {
		return
	}
	res, err := e.sf.Write(context.Background(), []massupdate.Update{{RecordID: id, Fields: vals}})
	if err != nil || res[0].Err != nil {
		e.t.Fatalf("set %s: %v %v", id, err, res)
	}
}

func (e *env) add(name, postal string) string {
	return e.emu.AddRecord("Account", map[string]any{"Name": name, "BillingPostalCode": postal,
		"Org_Number__c": "923609016", "Proff_Mass_Update__c": true})
}

func (e *env) field(id, f string) any { return e.emu.Record("Account", id)[f] }

func (e *env) detail(id string) massupdate.Detail {
	e.t.Helper()
	d, err := e.st.RunDetail(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func patches(reqs []sfemu.Request) (calls, records int) {
	for _, r := range reqs {
		if r.Method == http.MethodPatch {
			calls++
			var body struct{ Records []json.RawMessage }
			_ = json.Unmarshal(r.Body, &body)
			records += max(len(body.Records), 1)
		}
	}
	return calls, records
}

func TestRevertPutsBackWhatTheRunWroteAndLeavesConflictsAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b, c := e.add("Acme", "0150"), e.add("Beta", "0151"), e.add("Gone", "0152")
	runID := e.seedRun(false,
		wrote{id: a, name: [2]any{"Acme", "ACME AS"}, postal: [2]any{"0150", "0250"}},
		wrote{id: b, name: [2]any{"Beta", "BETA AS"}, postal: [2]any{"0151", "0251"}},
		wrote{id: c, name: [2]any{"Gone", "GONE AS"}})
	e.set(b, map[string]any{"Name": "Beta by hand"}) // a person changed it since
	e.emu.DeleteRecord("Account", c)
	e.emu.ResetRequests()

	run, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if run.Trigger != massupdate.Revert || run.Reverts != runID || run.Status != massupdate.Partial {
		t.Fatalf("run %+v", run)
	}
	if got := e.field(a, "Name"); got != "Acme" {
		t.Errorf("a's Name = %v, want it put back", got)
	}
	if got := e.field(a, "BillingPostalCode"); got != "0150" {
		t.Errorf("a's postal code = %v, want it put back", got)
	}
	if got := e.field(b, "Name"); got != "Beta by hand" {
		t.Errorf("b's Name = %v: the person's change was overwritten", got)
	}
	if got := e.field(b, "BillingPostalCode"); got != "0151" {
		t.Errorf("b's postal code = %v: the field without conflict was not put back", got)
	}
	want := massupdate.Counts{Selected: 3, Updated: 1, Failed: 2}
	if run.Counts != want {
		t.Errorf("counts %+v, want %+v", run.Counts, want)
	}
	if run.APICalls.Proff != 0 || run.APICalls.Salesforce == 0 {
		t.Errorf("api calls %+v: want Salesforce only", run.APICalls)
	}
	d := e.detail(run.ID)
	reasons := map[string]string{}
	for _, r := range d.Records {
		reasons[r.RecordID] = r.Reason
	}
	if want := `conflict: Name holds "Beta by hand", the run wrote "BETA AS"`; reasons[b] != want {
		t.Errorf("b's reason %q, want %q", reasons[b], want)
	}
	if !strings.Contains(reasons[c], "gone from Salesforce") {
		t.Errorf("c's reason %q", reasons[c])
	}
	changes := map[string]massupdate.FieldChange{}
	for _, ch := range d.Changes {
		changes[ch.RecordID+"/"+ch.Field] = ch
	}
	if len(changes) != 3 || changes[a+"/Name"].Old != "ACME AS" || changes[a+"/Name"].New != "Acme" ||
		changes[b+"/BillingPostalCode"].New != "0151" {
		t.Errorf("revert's changes %+v", d.Changes)
	}
	// One read of the current values, one write.
	var queries int
	for _, r := range e.emu.Requests() {
		if strings.Contains(r.Path, "/query") {
			queries++
		}
	}
	if calls, _ := patches(e.emu.Requests()); calls != 1 || queries != 1 {
		t.Errorf("%d writes and %d queries, want 1 and 1", calls, queries)
	}
}

func TestRevertOfARevertPutsTheRunsValuesBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.add("Acme", "0150")
	runID := e.seedRun(false, wrote{id: a, name: [2]any{"Acme", "ACME AS"}})
	first, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	if err != nil || first.Status != massupdate.Succeeded {
		t.Fatalf("revert: %v %+v", err, first)
	}
	if got := e.field(a, "Name"); got != "Acme" {
		t.Fatalf("Name after the revert = %v", got)
	}
	second, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: first.ID})
	if err != nil || second.Status != massupdate.Succeeded || second.Reverts != first.ID || second.Counts.Updated != 1 {
		t.Fatalf("revert of the revert: %v %+v", err, second)
	}
	if got := e.field(a, "Name"); got != "ACME AS" {
		t.Errorf("Name after reverting the revert = %v, want the run's value again", got)
	}
	by, err := e.st.RevertedBy(context.Background(), runID)
	if err != nil || by != first.ID {
		t.Errorf("RevertedBy(run) = %q, %v; want %s", by, err, first.ID)
	}
}

func TestRevertRestoresTheLastSyncedStamp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.add("Acme", "0150"), e.add("Beta", "0151")
	e.set(b, map[string]any{lastSynced: "2026-11-01T02:00:00.000Z"})
	runID := e.seedRun(false,
		wrote{id: a, name: [2]any{"Acme", "ACME AS"}, synced: "2026-11-29T02:00:00.000Z"},
		// b: only the stamp was written (last-synced on every check); its old stamp comes back.
		wrote{id: b, syncedOld: "2026-11-01T02:00:00.000Z", synced: "2026-11-29T02:00:00.000Z"})
	run, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	if err != nil || run.Status != massupdate.Succeeded {
		t.Fatalf("revert: %v %+v", err, run)
	}
	if got := e.field(a, lastSynced); got != nil {
		t.Errorf("a's stamp = %v, want null again", got)
	}
	if got := e.field(b, lastSynced); got == nil || !strings.HasPrefix(got.(string), "2026-11-01T02:00:00") {
		t.Errorf("b's stamp = %v, want the earlier one again", got)
	}
	if want := (massupdate.Counts{Selected: 2, Updated: 1, Unchanged: 1}); run.Counts != want {
		t.Errorf("counts %+v, want %+v (a stamp alone counts unchanged)", run.Counts, want)
	}
	// The revert's own stamps are kept, so that reverting it puts the run's stamp back.
	again, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: run.ID})
	if err != nil || again.Status != massupdate.Succeeded {
		t.Fatalf("revert of the revert: %v %+v", err, again)
	}
	if got := e.field(b, lastSynced); got == nil || !strings.HasPrefix(got.(string), "2026-11-29T02:00:00") {
		t.Errorf("b's stamp after reverting the revert = %v", got)
	}
}

func TestRevertRefusesADryRunAndARunningRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.add("Acme", "0150")
	dry := e.seedRun(true, wrote{id: a, name: [2]any{"Acme", "ACME AS"}})
	run, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: dry})
	if run != nil || !errors.Is(err, revert.ErrDryRunTarget) {
		t.Fatalf("revert of a dry run: %+v, %v; want refused", run, err)
	}
	if runs, _ := e.st.ListRuns(context.Background(), 10); len(runs) != 1 {
		t.Errorf("%d runs recorded, want only the dry run", len(runs))
	}
	if _, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: "0190c0de-0000-7000-8000-000000000000"}); !errors.Is(err, massupdate.ErrRunNotFound) {
		t.Errorf("revert of an unknown run: %v", err)
	}
	// A run being written by a live process (it holds the lock): the revert cannot even take the lock.
	lock, err := e.st.AcquireRunLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release(context.Background())
	live := &massupdate.Run{Trigger: massupdate.Manual}
	if err := e.st.CreateRun(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: live.ID}); !errors.Is(err, massupdate.ErrLocked) {
		t.Errorf("revert while another process runs: %v, want ErrLocked", err)
	}
}

func TestRevertDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.add("Acme", "0150")
	runID := e.seedRun(false, wrote{id: a, name: [2]any{"Acme", "ACME AS"}, synced: "2026-11-29T02:00:00.000Z"})
	e.emu.ResetRequests()
	run, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID, DryRun: true})
	if err != nil || !run.DryRun || run.Counts.Updated != 1 {
		t.Fatalf("dry revert: %v %+v", err, run)
	}
	if calls, _ := patches(e.emu.Requests()); calls != 0 {
		t.Errorf("a dry revert sent %d writes", calls)
	}
	if got := e.field(a, "Name"); got != "ACME AS" {
		t.Errorf("Name = %v after a dry revert", got)
	}
	if d := e.detail(run.ID); len(d.Changes) != 1 || d.Changes[0].New != "Acme" {
		t.Errorf("dry revert's changes %+v, want what would be written", d.Changes)
	}
	if by, _ := e.st.RevertedBy(context.Background(), runID); by != "" {
		t.Errorf("a dry revert shows as the run's revert %s", by)
	}
}

// cutAfter is a writer that shuts the revert down once n writes went through, as SIGTERM would.
type cutAfter struct {
	w      massupdate.RecordWriter
	n      int
	cancel context.CancelFunc
	mu     sync.Mutex
	calls  int
}

func (c *cutAfter) Write(ctx context.Context, u []massupdate.Update) ([]massupdate.WriteResult, error) {
	res, err := c.w.Write(ctx, u)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls++; c.calls == c.n {
		c.cancel()
	}
	return res, err
}

func TestRevertInterruptedIsContinuedByTheNextRevert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ws []wrote
	for i := range 450 {
		id := e.add(fmt.Sprintf("Company %d", i), "0150")
		ws = append(ws, wrote{id: id, name: [2]any{fmt.Sprintf("Company %d", i), fmt.Sprintf("COMPANY %d AS", i)}})
	}
	runID := e.seedRun(false, ws...)
	e.emu.ResetRequests()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := e.engine(&cutAfter{w: e.sf, n: 1, cancel: cancel}).Run(ctx, revert.Request{RunID: runID})
	if first == nil || first.Status != massupdate.Interrupted || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted revert: %+v, %v", first, err)
	}
	if first.Counts.Updated != 200 || first.Checkpoint != ws[199].id {
		t.Fatalf("interrupted after %d records at %s, want 200 at %s", first.Counts.Updated, first.Checkpoint, ws[199].id)
	}
	second, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	if err != nil || second.Status != massupdate.Succeeded || second.ResumedFrom != first.ID || second.Counts.Updated != 250 {
		t.Fatalf("continued revert: %v %+v", err, second)
	}
	calls, records := patches(e.emu.Requests())
	if calls != 3 || records != 450 {
		t.Errorf("%d writes of %d records, want 3 of 450 (batches of at most 200, none written twice)", calls, records)
	}
	for _, w := range ws {
		if got := e.field(w.id, "Name"); got != w.name[0] {
			t.Fatalf("%s: Name %v, want %v", w.id, got, w.name[0])
		}
	}
	// Once continued, it is not continued again: a third revert starts afresh and finds everything put back.
	third, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	if err != nil || third.ResumedFrom != "" || third.Counts.Unchanged != 450 {
		t.Fatalf("third revert: %v %+v", err, third)
	}
}

// lostAnswer is a writer whose first write reaches Salesforce but whose answer is lost as the quota runs out.
type lostAnswer struct {
	w    massupdate.RecordWriter
	mu   sync.Mutex
	done bool
}

func (l *lostAnswer) Write(ctx context.Context, u []massupdate.Update) ([]massupdate.WriteResult, error) {
	res, err := l.w.Write(ctx, u)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.done = true
		return nil, fmt.Errorf("write Account: %w", massupdate.ErrQuotaExhausted)
	}
	return res, err
}

// A batch Salesforce took but the revert could not record is found put back by the continued revert:
// unchanged, not written twice, not a conflict.
func TestRevertContinuedAfterAWriteItCouldNotRecord(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ws []wrote
	for i := range 250 {
		id := e.add(fmt.Sprintf("Company %d", i), "0150")
		ws = append(ws, wrote{id: id, name: [2]any{fmt.Sprintf("Company %d", i), fmt.Sprintf("COMPANY %d AS", i)}})
	}
	runID := e.seedRun(false, ws...)
	first, err := e.engine(&lostAnswer{w: e.sf}).Run(context.Background(), revert.Request{RunID: runID})
	if first == nil || first.Status != massupdate.Interrupted || !errors.Is(err, massupdate.ErrQuotaExhausted) || first.Counts.Selected != 0 {
		t.Fatalf("revert whose answer was lost: %+v, %v", first, err)
	}
	second, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	want := massupdate.Counts{Selected: 250, Unchanged: 200, Updated: 50}
	if err != nil || second.ResumedFrom != first.ID || second.Counts != want {
		t.Fatalf("continued revert: %v %+v, want counts %+v", err, second, want)
	}
}

type refused struct{}

func (refused) Write(context.Context, []massupdate.Update) ([]massupdate.WriteResult, error) {
	return nil, fmt.Errorf("write Account: %w", massupdate.ErrUnauthorized)
}

func TestRevertFailsWhenSalesforceRefusesTheCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.add("Acme", "0150")
	runID := e.seedRun(false, wrote{id: a, name: [2]any{"Acme", "ACME AS"}})
	run, err := e.engine(refused{}).Run(context.Background(), revert.Request{RunID: runID})
	if run == nil || run.Status != massupdate.StatusFail || !errors.Is(err, massupdate.ErrUnauthorized) || run.Counts.Selected != 0 {
		t.Fatalf("revert with refused credentials: %+v, %v", run, err)
	}
	// A failed revert is not continued: the next one starts afresh.
	again, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	if err != nil || again.ResumedFrom != "" || again.Counts.Updated != 1 {
		t.Fatalf("revert after the failed one: %v %+v", err, again)
	}
}

// P4: a revert's write holds only Id, the type marker, the fields the reverted run wrote to that record and
// the last-synced field where the run set it; a configured field the run did not write on that record (and
// a person changed since) is never in the body.
func TestRevertWritesOnlyTheFieldsTheRunWrote(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.add("Acme", "0150"), e.add("Beta", "0151")
	runID := e.seedRun(false,
		wrote{id: a, name: [2]any{"Acme", "ACME AS"}, synced: "2026-11-29T02:00:00.000Z"},
		wrote{id: b, postal: [2]any{"0151", "0251"}})
	e.set(a, map[string]any{"BillingPostalCode": "9999"}) // configured, not written by the run on a
	e.emu.ResetRequests()
	run, err := e.engine(nil).Run(context.Background(), revert.Request{RunID: runID})
	if err != nil || run.Status != massupdate.Succeeded || run.Counts.Updated != 2 {
		t.Fatalf("revert: %v %+v", err, run)
	}
	want := map[string][]string{
		a: {"Name", lastSynced, "attributes", "id"},
		b: {"BillingPostalCode", "attributes", "id"},
	}
	got := map[string][]string{}
	for _, r := range e.emu.Requests() {
		if r.Method != http.MethodPatch {
			continue
		}
		var body struct{ Records []map[string]json.RawMessage }
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		for _, rec := range body.Records {
			var id string
			if err := json.Unmarshal(rec["id"], &id); err != nil {
				t.Fatalf("a written record without its id: %v", rec)
			}
			got[id] = slices.Sorted(maps.Keys(rec))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("write bodies carry %v, want %v", got, want)
	}
	if v := e.field(a, "BillingPostalCode"); v != "9999" {
		t.Errorf("a's postal code = %v: a field the run did not write was touched", v)
	}
}
