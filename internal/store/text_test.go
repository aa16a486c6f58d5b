package store_test

import (
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
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
		Status: 502, ErrorClass: transport.ClassServer, ErrorExcerpt: transport.Scrub(utf16Page, nil)})
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
	if d.Run.Status != massupdate.Partial || d.Run.Counts != b.Counts || len(d.Records) != 1 || len(d.Changes) != 1 {
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
