package massupdate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/runctx"
)

var testNow = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

// stampedClock reads testNow, so that a run's stamps are fixed, and waits for real: the grace after a cancel
// must give a lookup in flight the time to finish. A test of the waits themselves passes clocktest.
var stampedClock = clock.WithNow(clock.System, func() time.Time { return testNow })

const syncedAt = "2026-11-29T02:00:00.000Z"

var testFields = map[string]mapping.Field{
	"Name":                 {Name: "Name", Type: "string", Updateable: true, Length: 40},
	"BillingPostalCode":    {Name: "BillingPostalCode", Type: "string", Updateable: true, Length: 10},
	"NumberOfEmployees":    {Name: "NumberOfEmployees", Type: "int", Updateable: true, Precision: 8},
	"Founded__c":           {Name: "Founded__c", Type: "date", Updateable: true},
	"Revenue__c":           {Name: "Revenue__c", Type: "double", Updateable: true, Precision: 12},
	"Proff_Last_Synced__c": {Name: "Proff_Last_Synced__c", Type: "datetime", Updateable: true},
	"CreatedDate":          {Name: "CreatedDate", Type: "datetime"},
}

var testKinds = map[string]mapping.Kind{
	"name": mapping.Text, "visitorAddress.zipCode": mapping.Text, "numberOfEmployees": mapping.Integer,
	"establishedDate": mapping.Date, "revenue": mapping.Text,
}

var testRules = []mapping.Rule{
	{Point: "name", Field: "Name"},
	{Point: "visitorAddress.zipCode", Field: "BillingPostalCode", Mode: mapping.Overwrite},
	{Point: "numberOfEmployees", Field: "NumberOfEmployees", Mode: mapping.FillBlank},
	{Point: "establishedDate", Field: "Founded__c"},
	{Point: "revenue", Field: "Revenue__c"},
}

func id(i int) string { return fmt.Sprintf("001%012d", i) }

type harness struct {
	src   *fakeSource
	look  *fakeLookup
	w     *fakeWriter
	st    *fakeStore
	e     *Engine
	logs  *bytes.Buffer
	calls *callCounter
}

type callCounter struct {
	mu sync.Mutex
	c  APICalls
}

func (c *callCounter) get() APICalls { c.mu.Lock(); defer c.mu.Unlock(); return c.c }

func newHarness(t *testing.T, records []Record, answers map[string]lookupAnswer, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{
		src:   &fakeSource{fields: testFields, records: records},
		look:  &fakeLookup{answers: answers},
		w:     &fakeWriter{},
		st:    newFakeStore(),
		logs:  &bytes.Buffer{},
		calls: &callCounter{},
	}
	o := Options{Source: h.src, Lookup: h.look, Writer: h.w, Store: h.st, Rules: testRules, Kinds: testKinds,
		DefaultCountry: "NO", LastSyncedField: "Proff_Last_Synced__c", Concurrency: 4, RatePerSecond: 5,
		Calls: h.calls.get, Clock: stampedClock,
		Logger: slog.New(runctx.NewHandler(slog.NewJSONHandler(&syncWriter{b: h.logs}, nil))), Settings: json.RawMessage(`{"object":"Account"}`)}
	if mod != nil {
		mod(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	return h
}

type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// mixed is the mixed data set: every kind of record the contract names, with what Proff answers.
func mixed() ([]Record, map[string]lookupAnswer) {
	orgB, orgC, orgD, orgE, orgF, orgG, orgH, orgI := validNO(910000000), validNO(911000000), validNO(912000000),
		validNO(913000000), validNO(914000000), validNO(915000000), validNO(916000000), validNO(917000000)
	equinor := map[string]any{"name": "EQUINOR ASA", "visitorAddress.zipCode": "4035", "numberOfEmployees": 21126.0,
		"establishedDate": mapping.DateValue(1972, 9, 18), "revenue": "1000"}
	v := func(name, zip string, emp any, founded any, revenue any) map[string]any {
		return map[string]any{"Name": name, "BillingPostalCode": zip, "NumberOfEmployees": emp, "Founded__c": founded,
			"Revenue__c": revenue, "Proff_Last_Synced__c": nil}
	}
	records := []Record{
		{ID: id(1), OrgNumber: "923609016", Values: v("Equinor", "4035", 21000.0, "1972-09-18", 1000.0)},
		{ID: id(2), OrgNumber: "  ", Values: v("No Number AS", "", nil, nil, nil)},
		{ID: id(3), OrgNumber: "923609017", Values: v("Bad Digit AS", "", nil, nil, nil)},
		{ID: id(4), OrgNumber: "923609016", Country: "Germany", Values: v("Foreign GmbH", "", nil, nil, nil)},
		{ID: id(5), OrgNumber: "NO 923 609 016 MVA", Country: "Norge", Values: v("EQUINOR ASA ", "4035", 5.0, "1972-09-18", 1000.0)},
		{ID: id(6), OrgNumber: "984851006", Values: v("Unknown AS", "", nil, nil, nil)},
		{ID: id(7), OrgNumber: orgB, Values: v("Fill Blank AS", "0150", nil, nil, nil)},
		{ID: id(8), OrgNumber: orgC, Values: v("No Value AS", "0151", nil, nil, nil)},
		{ID: id(9), OrgNumber: orgD, Values: v("Convert Fail AS", "", nil, nil, 7.0)},
		{ID: id(10), OrgNumber: orgE, Values: v("Convert Partly", "", nil, nil, nil)},
		{ID: id(11), OrgNumber: orgF, Values: v("Rule Blocks", "", nil, nil, nil)},
		{ID: id(12), OrgNumber: "556012-5790", Country: "se", Values: v("Volvo", "", nil, nil, nil)},
		{ID: id(13), OrgNumber: orgG, Values: v("Malformed AS", "", nil, nil, nil)},
		{ID: id(14), OrgNumber: orgH, Values: v("Json Number AS", "", nil, nil, json.Number("2000"))},
		{ID: id(15), OrgNumber: orgI, Values: v("Dated AS", "", nil, "2000-01-01", nil)},
	}
	answers := map[string]lookupAnswer{
		"NO/923609016":  {values: equinor},
		"NO/" + orgB:    {values: map[string]any{"name": "Fill Blank AS", "numberOfEmployees": 250.0, "visitorAddress.zipCode": nil}},
		"NO/" + orgC:    {values: map[string]any{"name": "  ", "visitorAddress.zipCode": "", "numberOfEmployees": nil}},
		"NO/" + orgD:    {values: map[string]any{"name": "Convert Fail AS", "revenue": "n/a"}},
		"NO/" + orgE:    {values: map[string]any{"name": "CONVERT PARTLY AS", "revenue": "12-15"}},
		"NO/" + orgF:    {values: map[string]any{"name": "RULE BLOCKS AS"}},
		"SE/5560125790": {err: fmt.Errorf("look up SE: %w", ErrCountryForbidden)},
		"NO/" + orgG:    {err: errors.New("decode the company: invalid character '<' looking for beginning of value")},
		"NO/" + orgH:    {values: map[string]any{"name": "Json Number AS", "revenue": "2 000"}},
		"NO/" + orgI:    {values: map[string]any{"name": "Dated AS", "establishedDate": mapping.DateValue(2001, 2, 3)}},
	}
	return records, answers
}

func TestRunMixedDataSet(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	h := newHarness(t, records, answers, nil)
	h.w.recordErrs = map[string]error{id(11): errors.New("FIELD_CUSTOM_VALIDATION_EXCEPTION: Name may not be upper case")}
	h.calls.c = APICalls{Proff: 100, Salesforce: 50} // calls before this run are not its own

	run, err := h.e.Run(context.Background(), RunRequest{Trigger: Manual})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := Counts{Selected: 15, MissingOrgNumber: 1, InvalidOrgNumber: 2, NotFound: 1, Unchanged: 3, Updated: 4, Failed: 4}
	if run.Counts != want {
		t.Errorf("counts = %+v\nwant %+v", run.Counts, want)
	}
	if run.Status != Partial {
		t.Errorf("status %s, want partial", run.Status)
	}
	if run.Checkpoint != id(15) || run.APICalls != (APICalls{}) {
		t.Errorf("checkpoint %q calls %+v", run.Checkpoint, run.APICalls)
	}

	got := map[string]RecordResult{}
	for _, r := range h.st.results(run.ID) {
		if _, dup := got[r.RecordID]; dup {
			t.Errorf("record %s recorded twice", r.RecordID)
		}
		got[r.RecordID] = r
	}
	wantOutcome := []struct {
		i       int
		o       Outcome
		reason  string // substring
		org, cc string
	}{
		{1, Updated, "", "923609016", "NO"},
		{2, MissingOrgNumber, "no organisation number", "", ""},
		{3, InvalidOrgNumber, "", "923609017", "NO"},
		{4, InvalidOrgNumber, `country "Germany"`, "923609016", "Germany"},
		{5, Unchanged, "", "923609016", "NO"},
		{6, NotFound, "Proff has no company", "984851006", "NO"},
		{7, Updated, "", records[6].OrgNumber, "NO"},
		{8, Unchanged, "", records[7].OrgNumber, "NO"},
		{9, Failed, "Revenue__c not written: the text is not a number", records[8].OrgNumber, "NO"},
		{10, Updated, "Revenue__c not written", records[9].OrgNumber, "NO"},
		{11, Failed, "FIELD_CUSTOM_VALIDATION_EXCEPTION", records[10].OrgNumber, "NO"},
		{12, Failed, "does not cover this country", "5560125790", "SE"},
		{13, Failed, "Proff lookup failed: decode the company", records[12].OrgNumber, "NO"},
		{14, Unchanged, "", records[13].OrgNumber, "NO"},
		{15, Updated, "", records[14].OrgNumber, "NO"},
	}
	if len(got) != len(wantOutcome) {
		t.Errorf("%d results recorded, want %d", len(got), len(wantOutcome))
	}
	for _, w := range wantOutcome {
		r := got[id(w.i)]
		if r.Outcome != w.o || !strings.Contains(r.Reason, w.reason) || r.OrgNumber != w.org || r.Country != w.cc {
			t.Errorf("record %d: %+v\nwant outcome %s reason ~%q org %q country %q", w.i, r, w.o, w.reason, w.org, w.cc)
		}
		if (w.o == Failed || w.o == InvalidOrgNumber || w.o == MissingOrgNumber || w.o == NotFound) && r.Reason == "" {
			t.Errorf("record %d ended %s without a reason", w.i, w.o)
		}
	}
	if r := got[id(3)]; !strings.Contains(r.Reason, "invalid") && !strings.Contains(r.Reason, "check") {
		t.Errorf("record 3 reason %q does not say why", r.Reason)
	}

	// Exactly one write, of the changed mapped fields and the last-synced field only.
	calls := h.w.written()
	wantBodies := []Update{
		{RecordID: id(1), Fields: map[string]any{"Name": "EQUINOR ASA", "Proff_Last_Synced__c": syncedAt}},
		{RecordID: id(7), Fields: map[string]any{"NumberOfEmployees": 250.0, "Proff_Last_Synced__c": syncedAt}},
		{RecordID: id(10), Fields: map[string]any{"Name": "CONVERT PARTLY AS", "Proff_Last_Synced__c": syncedAt}},
		{RecordID: id(11), Fields: map[string]any{"Name": "RULE BLOCKS AS", "Proff_Last_Synced__c": syncedAt}},
		{RecordID: id(15), Fields: map[string]any{"Founded__c": "2001-02-03", "Proff_Last_Synced__c": syncedAt}},
	}
	if len(calls) != 1 || !reflect.DeepEqual(calls[0], wantBodies) {
		t.Errorf("writes:\n got %+v\nwant %+v", calls, wantBodies)
	}

	wantChanges := []FieldChange{
		{RecordID: id(1), Field: "Name", Old: "Equinor", New: "EQUINOR ASA"},
		{RecordID: id(7), Field: "NumberOfEmployees", Old: nil, New: 250.0},
		{RecordID: id(10), Field: "Name", Old: "Convert Partly", New: "CONVERT PARTLY AS"},
		{RecordID: id(15), Field: "Founded__c", Old: "2000-01-01", New: "2001-02-03"},
	}
	if ch := h.st.changes(run.ID); !reflect.DeepEqual(ch, wantChanges) {
		t.Errorf("changes:\n got %+v\nwant %+v", ch, wantChanges)
	}

	// One lookup per distinct valid (country, org number); none for missing or invalid ones.
	total, perKey := h.look.count()
	if total != 11 {
		t.Errorf("%d lookups, want 11: %v", total, perKey)
	}
	for k, n := range perKey {
		if n != 1 {
			t.Errorf("%s looked up %d times", k, n)
		}
	}

	stored := h.st.get(run.ID)
	if stored.Status != Partial || stored.FinishedAt == nil || stored.Counts != want || string(stored.Settings) != `{"object":"Account"}` {
		t.Errorf("stored run %+v", stored)
	}
	if h.st.releases != 1 {
		t.Errorf("lock released %d times", h.st.releases)
	}
	if !strings.Contains(h.logs.String(), `"run_id":"`+run.ID+`"`) {
		t.Errorf("log lines lack run_id: %s", h.logs)
	}
}

func TestRunCountsItsOwnCalls(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	h := newHarness(t, records[:1], answers, nil)
	h.calls.c = APICalls{Proff: 10, Salesforce: 20}
	h.look.hook = func(context.Context, string, int) {
		h.calls.mu.Lock()
		h.calls.c.Proff++
		h.calls.c.Salesforce += 2
		h.calls.mu.Unlock()
	}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if run.APICalls != (APICalls{Proff: 1, Salesforce: 2}) {
		t.Errorf("api calls %+v, want the run's own 1/2", run.APICalls)
	}
	if run.Trigger != Manual {
		t.Errorf("trigger %q, want manual by default", run.Trigger)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	h := newHarness(t, records, answers, nil)
	h.w.recordErrs = map[string]error{id(11): errors.New("FIELD_CUSTOM_VALIDATION_EXCEPTION: no")}
	run, err := h.e.Run(context.Background(), RunRequest{Trigger: Manual, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.w.written()); n != 0 {
		t.Fatalf("dry run made %d write calls", n)
	}
	// Record 11 would have been written: the validation rule never ran.
	want := Counts{Selected: 15, MissingOrgNumber: 1, InvalidOrgNumber: 2, NotFound: 1, Unchanged: 3, Updated: 5, Failed: 3}
	if run.Counts != want || !run.DryRun || run.Status != Partial {
		t.Errorf("dry run %+v %s, want %+v partial", run.Counts, run.Status, want)
	}
	ch := h.st.changes(run.ID)
	if len(ch) != 5 || ch[3].RecordID != id(11) {
		t.Errorf("dry run stored changes %+v, want the five that would be written", ch)
	}
}

func TestLastSyncedEveryCheck(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	// Records 5 (unchanged) and 7 (fill blank).
	h := newHarness(t, []Record{records[4], records[6]}, answers, func(o *Options) { o.LastSyncedEveryCheck = true })
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts.Unchanged != 1 || run.Counts.Updated != 1 {
		t.Errorf("counts %+v: a last-synced-only write must count unchanged", run.Counts)
	}
	calls := h.w.written()
	want := []Update{
		{RecordID: id(5), Fields: map[string]any{"Proff_Last_Synced__c": syncedAt}},
		{RecordID: id(7), Fields: map[string]any{"NumberOfEmployees": 250.0, "Proff_Last_Synced__c": syncedAt}},
	}
	if len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
		t.Errorf("writes %+v, want %+v", calls, want)
	}
	if ch := h.st.changes(run.ID); len(ch) != 1 || ch[0].Field != "NumberOfEmployees" {
		t.Errorf("changes %+v: the last-synced field is no mapped change", ch)
	}
}

func TestNoLastSyncedField(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	h := newHarness(t, records[:1], answers, func(o *Options) { o.LastSyncedField = "" })
	if _, err := h.e.Run(context.Background(), RunRequest{}); err != nil {
		t.Fatal(err)
	}
	want := []Update{{RecordID: id(1), Fields: map[string]any{"Name": "EQUINOR ASA"}}}
	if calls := h.w.written(); len(calls) != 1 || !reflect.DeepEqual(calls[0], want) {
		t.Errorf("writes %+v, want %+v", calls, want)
	}
}

// many returns n records of distinct companies, every one needing its Name written.
func many(n int) ([]Record, map[string]lookupAnswer) {
	var recs []Record
	answers := map[string]lookupAnswer{}
	base := 920000000
	for i := 1; i <= n; i++ {
		org := validNO(base)
		base = mustAtoi(org) + 1
		recs = append(recs, Record{ID: id(i), OrgNumber: org, Values: map[string]any{"Name": "old"}})
		answers["NO/"+org] = lookupAnswer{values: map[string]any{"name": "NEW " + org}}
	}
	return recs, answers
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestBatchesOfAtMostMaxBatch(t *testing.T) {
	t.Parallel()
	records, answers := many(450)
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 8 })
	h.src.pageSize = 100
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	calls := h.w.written()
	if len(calls) != 3 || len(calls[0]) != 200 || len(calls[1]) != 200 || len(calls[2]) != 50 {
		t.Fatalf("write sizes: %d calls", len(calls))
	}
	for i, u := range calls[1] {
		if u.RecordID != id(201+i) {
			t.Fatalf("second write holds %s at %d: writes are not in Id order", u.RecordID, i)
		}
	}
	h.st.mu.Lock()
	bs := h.st.batches[run.ID]
	h.st.mu.Unlock()
	if len(bs) != 3 || bs[0].Checkpoint != id(200) || bs[1].Checkpoint != id(400) || bs[2].Checkpoint != id(450) {
		t.Errorf("batches: %d", len(bs))
	}
	if bs[1].Counts.Updated != 400 || bs[1].Counts.Selected != 400 {
		t.Errorf("running counts after batch 2: %+v", bs[1].Counts)
	}
	if run.Counts.Updated != 450 || run.Status != Succeeded {
		t.Errorf("run %+v %s", run.Counts, run.Status)
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	h := newHarness(t, records, answers, nil)
	run, err := h.e.Run(context.Background(), RunRequest{Limit: 6})
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts.Selected != 6 || run.Checkpoint != id(6) || run.Status != Succeeded {
		t.Errorf("limited run: %+v checkpoint %s status %s", run.Counts, run.Checkpoint, run.Status)
	}
	// Pages of 3: the limit falls on the end of page 2, so a third page is never read.
	if h.src.pages != 2 {
		t.Errorf("%d pages read, want 2", h.src.pages)
	}
	if total, _ := h.look.count(); total != 2 {
		t.Errorf("%d lookups, want 2 (Equinor once, DNB once)", total)
	}
}

func TestWholeWriteFailureFailsItsRecordsAndGoesOn(t *testing.T) {
	t.Parallel()
	records, answers := many(250)
	h := newHarness(t, records, answers, nil)
	h.w.callErr = func(n int, _ []Update) error {
		if n == 1 {
			return errors.New("write: 503 Service Unavailable after 5 attempts")
		}
		return nil
	}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts.Failed != 200 || run.Counts.Updated != 50 || run.Status != Partial {
		t.Errorf("counts %+v status %s", run.Counts, run.Status)
	}
	res := h.st.results(run.ID)
	if !strings.Contains(res[0].Reason, "write failed: write: 503") {
		t.Errorf("reason %q", res[0].Reason)
	}
	if len(h.st.changes(run.ID)) != 50 {
		t.Errorf("changes of failed writes were stored")
	}
}

func TestMappingCheckedBeforeAnything(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	h := newHarness(t, records, answers, func(o *Options) {
		o.Rules = append(append([]mapping.Rule(nil), testRules...), mapping.Rule{Point: "establishedDate", Field: "CreatedDate"},
			mapping.Rule{Point: "name", Field: "Nope__c"})
	})
	run, err := h.e.Run(context.Background(), RunRequest{})
	var ce *mapping.CheckError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("err = %v, want both problems", err)
	}
	if run.Status != StatusFail || !strings.Contains(run.Error, "CreatedDate: not updateable") {
		t.Errorf("run %s %q", run.Status, run.Error)
	}
	if total, _ := h.look.count(); total != 0 || len(h.w.written()) != 0 || h.src.pages != 0 {
		t.Errorf("work was done before the mapping was checked")
	}
}

func TestLastSyncedFieldChecked(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Nope__c", "CreatedDate", "Name", "NumberOfEmployees"} {
		records, answers := mixed()
		h := newHarness(t, records, answers, func(o *Options) { o.LastSyncedField = name })
		run, err := h.e.Run(context.Background(), RunRequest{})
		if err == nil || run.Status != StatusFail || !strings.Contains(err.Error(), "last-synced field "+name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestUnauthorizedLookupFailsFastWritingNothing(t *testing.T) {
	t.Parallel()
	records, answers := many(20)
	answers["NO/"+records[2].OrgNumber] = lookupAnswer{err: fmt.Errorf("proff: 401: %w", ErrUnauthorized)}
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 1 })
	run, err := h.e.Run(context.Background(), RunRequest{})
	if !errors.Is(err, ErrUnauthorized) || run.Status != StatusFail {
		t.Fatalf("run %v err %v", run, err)
	}
	if len(h.w.written()) != 0 {
		t.Errorf("wrote after the Proff token was rejected")
	}
	if total, _ := h.look.count(); total > 4 {
		t.Errorf("%d lookups: the run did not stop", total)
	}
	if h.st.get(run.ID).Status != StatusFail {
		t.Errorf("stored status %s", h.st.get(run.ID).Status)
	}
	if !strings.Contains(h.logs.String(), `"level":"ERROR","msg":"run failed"`) {
		t.Errorf("failure not logged as an error: %s", h.logs)
	}
}

func TestUnauthorizedWriteFails(t *testing.T) {
	t.Parallel()
	records, answers := many(5)
	h := newHarness(t, records, answers, nil)
	h.w.callErr = func(int, []Update) error { return fmt.Errorf("salesforce: %w", ErrUnauthorized) }
	run, err := h.e.Run(context.Background(), RunRequest{})
	if !errors.Is(err, ErrUnauthorized) || run.Status != StatusFail {
		t.Fatalf("run %v err %v", run, err)
	}
	if n := len(h.st.results(run.ID)); n != 0 || run.Counts.Selected != 0 {
		t.Errorf("%d records recorded after the write was refused", n)
	}
}

func TestQuotaExhaustedInterrupts(t *testing.T) {
	t.Parallel()
	records, answers := many(10)
	answers["NO/"+records[2].OrgNumber] = lookupAnswer{err: fmt.Errorf("proff: %w", ErrQuotaExhausted)}
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 1 })
	run, err := h.e.Run(context.Background(), RunRequest{})
	if !errors.Is(err, ErrQuotaExhausted) || run.Status != Interrupted {
		t.Fatalf("run %+v err %v", run, err)
	}
	// What finished before the quota ran out is written and recorded.
	if run.Counts.Selected != 2 || run.Checkpoint != id(2) || len(h.w.written()) != 1 {
		t.Errorf("counts %+v checkpoint %s writes %d", run.Counts, run.Checkpoint, len(h.w.written()))
	}
	if total, _ := h.look.count(); total > 4 {
		t.Errorf("%d lookups: more than the one in flight after the quota ran out", total)
	}
}

func TestSalesforceQuotaOnWriteInterrupts(t *testing.T) {
	t.Parallel()
	records, answers := many(5)
	h := newHarness(t, records, answers, nil)
	h.w.callErr = func(int, []Update) error {
		return fmt.Errorf("salesforce: REQUEST_LIMIT_EXCEEDED: %w", ErrQuotaExhausted)
	}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if !errors.Is(err, ErrQuotaExhausted) || run.Status != Interrupted || run.Counts.Selected != 0 || run.Checkpoint != "" {
		t.Fatalf("run %+v err %v", run, err)
	}
}

// checkConsistent asserts the invariants of a run's records: recorded in Id order with no gap or repeat up to
// the checkpoint, counts that add up, and nothing written that was not recorded.
func checkConsistent(t *testing.T, h *harness, run *Run, firstIdx int) {
	t.Helper()
	res := h.st.results(run.ID)
	for i, r := range res {
		if r.RecordID != id(firstIdx+i) {
			t.Fatalf("result %d is %s, want %s", i, r.RecordID, id(firstIdx+i))
		}
	}
	if len(res) > 0 && run.Checkpoint != res[len(res)-1].RecordID {
		t.Errorf("checkpoint %s, last recorded %s", run.Checkpoint, res[len(res)-1].RecordID)
	}
	c := run.Counts
	if int(c.Selected) != len(res) || c.MissingOrgNumber+c.InvalidOrgNumber+c.NotFound+c.Unchanged+c.Updated+c.Failed != c.Selected {
		t.Errorf("counts %+v do not add up to %d recorded", c, len(res))
	}
	recorded := map[string]bool{}
	for _, r := range res {
		recorded[r.RecordID] = true
	}
	for _, call := range h.w.written() {
		for _, u := range call {
			if !recorded[u.RecordID] && u.RecordID > run.Checkpoint {
				t.Errorf("%s written but not recorded", u.RecordID)
			}
		}
	}
}

func TestCancelMidRunThenResume(t *testing.T) {
	t.Parallel()
	records, answers := many(30)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var h *harness
	h = newHarness(t, records, answers, func(o *Options) { o.Concurrency = 2 })
	order := map[string]int{}
	for i, r := range records {
		order["NO/"+r.OrgNumber] = i + 1
	}
	cancelled := make(chan struct{})
	h.look.hook = func(lctx context.Context, key string, _ int) {
		switch {
		case order[key] == 8:
			cancel() // SIGTERM while this lookup is in flight: it must be allowed to finish
			close(cancelled)
			select {
			case <-lctx.Done():
				t.Errorf("the lookup in flight was cut at once, not after the grace period")
			case <-time.After(5 * time.Millisecond):
			}
		case order[key] > 8:
			<-cancelled // later lookups are in flight at the shutdown at most
		}
	}
	run, err := h.e.Run(ctx, RunRequest{Trigger: Schedule})
	if !errors.Is(err, context.Canceled) || run.Status != Interrupted {
		t.Fatalf("run %+v err %v", run, err)
	}
	if run.Counts.Selected < 8 || run.Counts.Selected > 8+2 {
		_, perKey := h.look.count()
		t.Errorf("selected %d: the finished lookups were not recorded, or the run did not stop\nlookups %v\nresults %+v",
			run.Counts.Selected, perKey, h.st.results(run.ID))
	}
	checkConsistent(t, h, run, 1)
	for _, e := range h.w.ctxErrs {
		if e != nil {
			t.Errorf("the final write went out on a cancelled context: %v", e)
		}
	}
	if strings.Contains(h.logs.String(), `"level":"ERROR"`) {
		t.Errorf("an interruption was logged as an error: %s", h.logs)
	}
	first := run

	// Resume: a new run, linked, starting after the checkpoint, counting only what it finishes.
	run2, err := h.e.Run(context.Background(), RunRequest{Trigger: Manual, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if run2.ResumedFrom != first.ID || h.st.get(first.ID).ResumedBy != run2.ID || run2.Trigger != Manual {
		t.Errorf("runs not linked: %+v", run2)
	}
	if h.src.afters[len(h.src.afters)-1] != first.Checkpoint {
		t.Errorf("resumed read started after %q, want %q", h.src.afters[len(h.src.afters)-1], first.Checkpoint)
	}
	if run2.Counts.Selected+first.Counts.Selected != 30 || run2.Status != Succeeded {
		t.Errorf("resumed run %+v %s", run2.Counts, run2.Status)
	}
	checkConsistent(t, h, run2, int(first.Counts.Selected)+1)
	written := map[string]int{}
	for _, call := range h.w.written() {
		for _, u := range call {
			written[u.RecordID]++
		}
	}
	if len(written) != 30 {
		t.Errorf("%d records written, want 30", len(written))
	}
	for rid, n := range written {
		if n != 1 {
			t.Errorf("%s written %d times", rid, n)
		}
	}

	// An interrupted run that has been resumed is never resumed again.
	run3, err := h.e.Run(context.Background(), RunRequest{Resume: true})
	if run3 != nil || err != nil {
		t.Errorf("second resume: %v %v", run3, err)
	}
}

func TestResumeOfResumedRunKeepsCheckpoint(t *testing.T) {
	t.Parallel()
	records, answers := many(10)
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 1 })
	answers["NO/"+records[4].OrgNumber] = lookupAnswer{err: ErrQuotaExhausted}
	first, _ := h.e.Run(context.Background(), RunRequest{})
	if first.Checkpoint != id(4) {
		t.Fatalf("first checkpoint %s", first.Checkpoint)
	}
	// The second run stops at once (the quota is still spent on the same record).
	second, _ := h.e.Run(context.Background(), RunRequest{Resume: true})
	if second.Status != Interrupted || second.Checkpoint != id(4) {
		t.Fatalf("second %+v", second)
	}
	delete(answers, "NO/"+records[4].OrgNumber)
	answers["NO/"+records[4].OrgNumber] = lookupAnswer{values: map[string]any{"name": "x"}}
	third, err := h.e.Run(context.Background(), RunRequest{Resume: true})
	if err != nil || third.ResumedFrom != second.ID || third.Counts.Selected != 6 {
		t.Fatalf("third %+v %v", third, err)
	}
	if h.src.afters[len(h.src.afters)-1] != id(4) {
		t.Errorf("third run read after %q", h.src.afters[len(h.src.afters)-1])
	}
}

func TestGraceExpiresOnAHungLookup(t *testing.T) {
	t.Parallel()
	records, answers := many(10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// An hour of grace on a virtual clock: it passes at once, and the test shows it was waited on that clock.
	clk := clocktest.New()
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 1; o.Grace = time.Hour; o.Clock = clk })
	h.look.hook = func(lctx context.Context, _ string, n int) {
		if n == 4 {
			cancel()
			<-lctx.Done() // hangs until the grace period cuts it
		}
	}
	run, err := h.e.Run(ctx, RunRequest{})
	if run.Status != Interrupted || !errors.Is(err, context.Canceled) {
		t.Fatalf("run %+v err %v", run, err)
	}
	if sl := clk.Sleeps(); len(sl) != 1 || sl[0] != time.Hour {
		t.Errorf("waits %v, want the grace period once", sl)
	}
	if run.Counts.Selected != 3 || run.Checkpoint != id(3) {
		t.Errorf("counts %+v checkpoint %s, want the three finished records", run.Counts, run.Checkpoint)
	}
	checkConsistent(t, h, run, 1)
}

func TestLockLostStopsAtOnce(t *testing.T) {
	t.Parallel()
	records, answers := many(10)
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 1 })
	h.look.hook = func(lctx context.Context, _ string, n int) {
		if n == 3 {
			close(h.st.lock.lost)
			<-lctx.Done() // the lookup in flight is cut at once: no grace when the lock is gone
		}
	}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if !errors.Is(err, ErrLockLost) || run.Status != Interrupted {
		t.Fatalf("run %+v err %v", run, err)
	}
	if len(h.w.written()) != 0 || len(h.st.results(run.ID)) != 0 {
		t.Errorf("wrote or recorded after the lock was lost")
	}
	if h.st.finished[run.ID] != 1 {
		t.Errorf("the run's end was not recorded")
	}
}

func TestStoreFailureInterrupts(t *testing.T) {
	t.Parallel()
	records, answers := many(450)
	h := newHarness(t, records, answers, nil)
	h.st.saveErr = func(_ string, n int) error {
		if n == 2 {
			return errors.New("save batch: connection refused (after 5 attempts)")
		}
		return nil
	}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err == nil || !strings.Contains(err.Error(), "connection refused") || run.Status != Interrupted {
		t.Fatalf("run %+v err %v", run, err)
	}
	if run.Checkpoint != id(200) || run.Counts.Selected != 200 {
		t.Errorf("checkpoint %s counts %+v", run.Checkpoint, run.Counts)
	}
	if n := len(h.w.written()); n != 2 {
		t.Errorf("%d writes, want 2 (nothing after the store failed)", n)
	}
	if h.st.get(run.ID).Status != Interrupted {
		t.Errorf("stored %s", h.st.get(run.ID).Status)
	}
}

func TestReadFailureKeepsWhatFinished(t *testing.T) {
	t.Parallel()
	records, answers := many(10)
	h := newHarness(t, records, answers, nil)
	// The failure lasts: the read made again after the last record read fails too.
	h.src.readErrAfter, h.src.readErr = id(6), errors.New("query: 500 after 5 attempts")
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err == nil || run.Status != StatusFail || run.Counts.Selected != 6 || len(h.w.written()) != 1 {
		t.Fatalf("run %+v err %v", run, err)
	}
}

func TestSecondRunIsLocked(t *testing.T) {
	t.Parallel()
	records, answers := many(3)
	h := newHarness(t, records, answers, nil)
	h.st.locked, h.st.holder = true, "run-42"
	run, err := h.e.Run(context.Background(), RunRequest{})
	if run != nil || !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "run-42") {
		t.Fatalf("run %v err %v", run, err)
	}
	if len(h.st.runs) != 0 || h.src.pages != 0 {
		t.Errorf("a locked run did something")
	}
}

func TestAbandonedRunsMarked(t *testing.T) {
	t.Parallel()
	records, answers := many(3)
	h := newHarness(t, records, answers, nil)
	h.st.runs = append(h.st.runs, &Run{ID: "run-0", Status: Running, Checkpoint: id(1)})
	run, err := h.e.Run(context.Background(), RunRequest{Resume: true})
	if err != nil || run.ResumedFrom != "run-0" || run.Counts.Selected != 2 {
		t.Fatalf("run %+v err %v", run, err)
	}
}

func TestDryRunResumeRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	if _, err := h.e.Run(context.Background(), RunRequest{DryRun: true, Resume: true}); err == nil {
		t.Fatal("a dry run resumed")
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil || !strings.Contains(err.Error(), "Source, Lookup, Writer, Store") {
		t.Errorf("New(empty) = %v", err)
	}
	h := newHarness(t, nil, nil, nil)
	o := h.e.o
	o.DefaultCountry = "DE"
	if _, err := New(o); err == nil {
		t.Errorf("New accepted default country DE")
	}
}

func TestPreview(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	h := newHarness(t, records, answers, nil)
	pv, err := NewPreviewer(PreviewOptions{Source: h.e.o.Source, DefaultCountry: h.e.o.DefaultCountry, Rules: h.e.rules,
		Kinds: h.e.o.Kinds, RatePerSecond: h.e.o.RatePerSecond})
	if err != nil {
		t.Fatal(err)
	}
	p, err := pv.Preview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 15 records: 1 missing, 2 invalid, records 1 and 5 share Equinor (2 sharing), 11 distinct companies.
	// Without a sync store every company is new.
	want := Preview{Selected: 15, MissingOrgNumber: 1, InvalidOrgNumber: 2, Duplicates: 2, Lookups: 11, EstimatedSeconds: 11.0 / 5,
		Due: map[incremental.Reason]int{incremental.ReasonNew: 11}, CompanyLookups: 11}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("preview %+v\nwant %+v", p, want)
	}
	if total, _ := h.look.count(); total != 0 || len(h.st.runs) != 0 {
		t.Errorf("preview looked up or recorded")
	}
	b, _ := json.Marshal(p)
	if string(b) != `{"selected":15,"missing_org_number":1,"invalid_org_number":2,"duplicates":2,"lookups":11,"estimated_seconds":2.2,`+
		`"due":{"new":11},"cached":0,"deferred":0,"company_lookups":11,"feed_pages":0}` {
		t.Errorf("preview JSON %s", b)
	}
}

type recProgress struct {
	started, finished int
	total             int
	added             map[Outcome]int
}

func (p *recProgress) Start(total int)      { p.started++; p.total = total }
func (p *recProgress) Add(n int, o Outcome) { p.added[o] += n }
func (p *recProgress) Finish()              { p.finished++ }

func TestProgress(t *testing.T) {
	t.Parallel()
	records, answers := mixed()
	p := &recProgress{added: map[Outcome]int{}}
	h := newHarness(t, records, answers, func(o *Options) { o.Progress = p })
	run, err := h.e.Run(context.Background(), RunRequest{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, n := range p.added {
		sum += n
	}
	if p.started != 1 || p.finished != 1 || p.total != 10 || int64(sum) != run.Counts.Selected || p.added[Updated] != int(run.Counts.Updated) {
		t.Errorf("progress %+v, run %+v", p, run.Counts)
	}
}
