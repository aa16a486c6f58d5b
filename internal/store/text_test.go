package store_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

// PostgreSQL refuses a NUL byte in text and the escape \u0000 in jsonb. Both can come from outside: an error
// body in UTF-16 (a proxy's error page) has a NUL after every ASCII letter, and a JSON string from Salesforce
// or Proff may hold \u0000. One such row must not stop the technical log or a run's bookkeeping.

// utf16Page is the start of an error page a Windows proxy sends in UTF-16LE, as the transport excerpts it.
const utf16Page = "\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00B\x00a\x00d\x00 \x00G\x00a\x00t\x00e\x00w\x00a\x00y\x00"

func TestCallLogKeepsWritingAfterANULByte(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	cl := s.CallLog()
	cl.RecordCall(ctx, transport.Call{CorrelationID: "c1", Service: transport.Proff, Method: "GET", Endpoint: "GET /x",
		Status: 502, ErrorClass: transport.ClassServer, ErrorExcerpt: secret.Scrub(utf16Page, nil)})
	cl.RecordCall(ctx, transport.Call{CorrelationID: "c2\x00", Service: transport.Proff, Method: "GET", Endpoint: "GET /x", Status: 200})
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	cl.RecordCall(ctx, transport.Call{CorrelationID: "c3", Service: transport.Proff, Method: "GET", Endpoint: "GET /x", Status: 200})
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("Flush after the odd row: %v", err)
	}
	if n := count(t, s, "SELECT count(*) FROM call_logs"); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	var ex string
	if err := s.Pool().QueryRow(ctx, "SELECT error_excerpt FROM call_logs WHERE correlation_id = 'c1'").Scan(&ex); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ex, "Bad Gateway") && !strings.Contains(ex, "B\uFFFDa") {
		t.Errorf("excerpt %q lost its text", ex)
	}
}

func TestSaveBatchAndFinishRunTakeANULByte(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	r := newRun(t, s, massupdate.Run{})
	b := massupdate.Batch{
		Results: []massupdate.RecordResult{
			{RecordID: "001A", OrgNumber: "9236\x0009016", Country: "N\x00O", Outcome: massupdate.InvalidOrgNumber,
				Reason: "the org number \"9236\x0009016\" is not valid"},
			{RecordID: "001B", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
		},
		Changes:    []massupdate.FieldChange{{RecordID: "001B", Field: "Name", Old: "Old\x00Name", New: "EQUINOR\x00 ASA"}},
		Checkpoint: "001B", Counts: massupdate.Counts{Selected: 2, InvalidOrgNumber: 1, Updated: 1},
	}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatalf("SaveBatch: %v", err)
	}
	r.Status, r.Error, r.Counts, r.Checkpoint = massupdate.Partial, "proff: 502: B\x00a\x00d", b.Counts, b.Checkpoint
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	d, err := s.RunDetail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Run.Status != massupdate.Partial || d.Run.Counts != b.Counts || len(d.Records) != 2 || len(d.Changes) != 1 ||
		d.Records[1].Outcome != massupdate.Updated {
		t.Fatalf("detail %+v", d)
	}
	if rec := d.Records[0]; !strings.Contains(rec.Reason, "is not valid") || rec.OrgNumber == "" {
		t.Errorf("record %+v", rec)
	}
	if c := d.Changes[0]; !strings.HasPrefix(c.New.(string), "EQUINOR") || !strings.HasPrefix(c.Old.(string), "Old") {
		t.Errorf("change %+v", c)
	}
	got, _ := s.GetRun(ctx, r.ID)
	if got.FinishedAt == nil || !strings.Contains(got.Error, "502") {
		t.Errorf("run %+v", got)
	}
}

// A text from Salesforce or Proff is stored bounded (200 runes for an org number or a country, 1,000 for a
// reason, a text value and an error excerpt), cut between runes and marked, so that one hostile or broken
// record cannot fill the history; a text within its bound is stored as it is.
func TestLongTextsAreStoredBoundedAndMarked(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	r := newRun(t, s, massupdate.Run{})
	const mark = "… (truncated)"
	long := strings.Repeat("9", 10000)
	longReason := strings.Repeat("ø", 10000) // two bytes a rune: a byte cut would split one
	longValue := strings.Repeat("€", 10000)  // three bytes a rune
	exactOrg := strings.Repeat("ø", 200)
	b := massupdate.Batch{
		Results: []massupdate.RecordResult{
			{RecordID: "001A", OrgNumber: long, Country: strings.Repeat("N", 10000), Outcome: massupdate.InvalidOrgNumber,
				Reason: longReason},
			{RecordID: "001B", OrgNumber: exactOrg, Country: "NO", Outcome: massupdate.InvalidOrgNumber,
				Reason: strings.Repeat("x", 1000)},
			{RecordID: "001C", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
		},
		Changes: []massupdate.FieldChange{{RecordID: "001C", Field: "Description", Old: longValue, New: 42.0}},
	}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatal(err)
	}
	s.CallLog().RecordCall(ctx, transport.Call{CorrelationID: "c1", Service: transport.Proff, Method: "GET", Endpoint: "GET /x",
		Status: 500, ErrorClass: transport.ClassServer, ErrorExcerpt: strings.Repeat("é", 10000)})
	if err := s.CallLog().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := s.RunDetail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Records) != 3 || len(d.Changes) != 1 { // the updated record is listed too
		t.Fatalf("detail: %d records, %d changes", len(d.Records), len(d.Changes))
	}
	var excerpt string
	if err := s.Pool().QueryRow(ctx, "SELECT error_excerpt FROM call_logs").Scan(&excerpt); err != nil {
		t.Fatal(err)
	}
	old, _ := d.Changes[0].Old.(string)
	for _, tc := range []struct {
		what, got, prefix string
		max               int
	}{
		{"org number", d.Records[0].OrgNumber, "9", 200},
		{"country", d.Records[0].Country, "N", 200},
		{"reason", d.Records[0].Reason, "ø", 1000},
		{"old value", old, "€", 1000},
		{"error excerpt", excerpt, "é", 1000},
	} {
		n := utf8.RuneCountInString(tc.got)
		body := strings.TrimSuffix(tc.got, mark)
		if n != tc.max || !strings.HasSuffix(tc.got, mark) || !utf8.ValidString(tc.got) ||
			strings.Trim(body, tc.prefix) != "" || utf8.RuneCountInString(body) != tc.max-utf8.RuneCountInString(mark) {
			t.Errorf("%s stored as %d runes (%q…), want %d runes of %q ending in %q", tc.what, n, first(tc.got, 20), tc.max,
				tc.prefix, mark)
		}
	}
	if got := d.Records[1]; got.OrgNumber != exactOrg || got.Reason != strings.Repeat("x", 1000) {
		t.Errorf("texts at their bound were changed: %q, %q", first(got.OrgNumber, 20), first(got.Reason, 20))
	}
	if d.Changes[0].New != 42.0 {
		t.Errorf("a number value changed: %v", d.Changes[0].New)
	}
}

func first(s string, n int) string {
	r := []rune(s)
	return string(r[:min(n, len(r))])
}
