package massupdate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// noValues are Proff answers that carry no value: README: Contract says such a point never clears or changes a
// field, whatever the field holds.
var noValues = []any{nil, "", "   ", "\t\n", math.NaN(), []any{}, map[string]any{}}

// Through the whole run: Proff answering "no value" in every form leaves a record with values untouched
// (nothing written, nothing noted), also for a fill_blank field that is blank.
func TestProffPointWithoutValueNeverChangesAField(t *testing.T) {
	t.Parallel()
	for i, nv := range noValues {
		t.Run(fmt.Sprintf("%d_%T", i, nv), func(t *testing.T) {
			t.Parallel()
			org := validNO(930000000)
			rec := Record{ID: id(1), OrgNumber: org, Values: map[string]any{"Name": "Keep AS",
				"BillingPostalCode": "0150", "NumberOfEmployees": nil, "Founded__c": "1999-01-02", "Revenue__c": 5.0}}
			answers := map[string]lookupAnswer{"NO/" + org: {values: map[string]any{"name": nv,
				"visitorAddress.zipCode": nv, "numberOfEmployees": nv, "establishedDate": nv, "revenue": nv}}}
			h := newHarness(t, []Record{rec}, answers, nil)
			run, err := h.e.Run(context.Background(), RunRequest{})
			if err != nil {
				t.Fatal(err)
			}
			res := h.st.results(run.ID)
			if len(res) != 1 || res[0].Outcome != Unchanged || res[0].Reason != "" {
				t.Errorf("results %+v, want the record unchanged without a note", res)
			}
			if w := h.w.written(); len(w) != 0 {
				t.Errorf("a Proff point without a value wrote %+v", w)
			}
			if run.Status != Succeeded {
				t.Errorf("status %s, want succeeded", run.Status)
			}
		})
	}
}

// The engine's own guard, behind the packing that already drops empty values: a blank text or a NaN that
// reaches evaluate is still no value. (Packing drops them first, so only a direct test sees this guard.)
func TestEvaluateSkipsPointsWithoutValue(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil, nil)
	text := func(b []byte, s string) []byte {
		b = append(b, tagText)
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	// One slot per testRules entry: name, zipCode, numberOfEmployees (fill_blank), establishedDate, revenue.
	var p []byte
	p = text(p, "   ")
	p = text(p, "")
	p = append(p, tagNumber)
	p = binary.LittleEndian.AppendUint64(p, math.Float64bits(math.NaN()))
	p = append(p, tagNone)
	p = text(p, "\t")
	co := &company{values: packed(p)}
	co.finished.Store(true)
	r := &runner{e: h.e, fields: testFields, log: h.e.log}
	it := &item{rec: Record{ID: id(1), Values: map[string]any{"Name": "Keep AS", "BillingPostalCode": "0150",
		"NumberOfEmployees": nil, "Founded__c": "1999-01-02", "Revenue__c": 5.0}}, country: "NO", org: "923609016", co: co}
	d, ok := r.evaluate(it)
	if !ok || d.update != nil || len(d.changes) != 0 || d.res.Outcome != Unchanged || d.res.Reason != "" {
		t.Errorf("evaluate = %+v update %+v changes %+v ok %v; want unchanged, nothing to write, no note", d.res, d.update, d.changes, ok)
	}
}

// A write's results are attributed by position; an answer with more or fewer results than records sent, or
// naming another record in a place, cannot be attributed: every record of the write fails with the reason,
// and no field change is recorded as written.
func TestWriteResultsThatDoNotMatchFailTheWrite(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		answer func(us []Update, rs []WriteResult) []WriteResult
		reason string
	}{
		{"fewer", func(_ []Update, rs []WriteResult) []WriteResult { return rs[:len(rs)-1] }, "answered 2 results for 3 records"},
		{"more", func(_ []Update, rs []WriteResult) []WriteResult { return append(rs, WriteResult{}) }, "answered 4 results for 3 records"},
		{"swapped", func(_ []Update, rs []WriteResult) []WriteResult {
			// Salesforce's answer for the first record says it failed, but it sits in the second place: taken
			// by position, the failing record would be recorded as updated.
			rs[0], rs[1] = rs[1], rs[0]
			rs[1].Err = errors.New("FIELD_CUSTOM_VALIDATION_EXCEPTION: no")
			return rs
		}, "in the place of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			records, answers := many(3)
			h := newHarness(t, records, answers, nil)
			h.w.answer = c.answer
			run, err := h.e.Run(context.Background(), RunRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if run.Counts.Failed != 3 || run.Counts.Updated != 0 || run.Status != Partial {
				t.Errorf("counts %+v status %s, want the three records failed, partial", run.Counts, run.Status)
			}
			for _, r := range h.st.results(run.ID) {
				if r.Outcome != Failed || !strings.Contains(r.Reason, c.reason) {
					t.Errorf("record %s: %s %q, want failed ~%q", r.RecordID, r.Outcome, r.Reason, c.reason)
				}
			}
			if ch := h.st.changes(run.ID); len(ch) != 0 {
				t.Errorf("changes recorded for a write that cannot be attributed: %+v", ch)
			}
		})
	}
}

// A result without an Id (Salesforce leaves it out for some errors) is attributed by its place.
func TestWriteResultWithoutIDIsTakenByPlace(t *testing.T) {
	t.Parallel()
	records, answers := many(2)
	h := newHarness(t, records, answers, nil)
	h.w.answer = func(_ []Update, rs []WriteResult) []WriteResult {
		rs[1] = WriteResult{Err: errors.New("UNKNOWN_EXCEPTION: no id")}
		return rs
	}
	run, err := h.e.Run(context.Background(), RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts.Updated != 1 || run.Counts.Failed != 1 {
		t.Errorf("counts %+v, want one updated and one failed", run.Counts)
	}
}

// A failure outranks an interruption in the final status: a run interrupted (Proff's quota spent) whose last
// write is then refused for its credentials must end failed, which needs the admin, not interrupted, which
// invites a resume with the same bad credentials.
func TestFailureOutranksInterruption(t *testing.T) {
	t.Parallel()
	records, answers := many(3)
	h := newHarness(t, records, answers, func(o *Options) { o.Concurrency = 1 })
	quota := records[1].OrgNumber
	answers["NO/"+quota] = lookupAnswer{err: fmt.Errorf("proff lookup: %w", ErrQuotaExhausted)}
	h.w.callErr = func(int, []Update) error { return fmt.Errorf("write: %w", ErrUnauthorized) }
	run, err := h.e.Run(context.Background(), RunRequest{})
	if run == nil || err == nil {
		t.Fatalf("Run = %+v, %v", run, err)
	}
	if run.Status != StatusFail || !errors.Is(err, ErrUnauthorized) || !strings.Contains(run.Error, "write to Salesforce") {
		t.Errorf("status %s error %q (%v), want failed by the refused write", run.Status, run.Error, err)
	}
	if n := len(h.w.written()); n != 1 {
		t.Errorf("%d writes, want the one of the record finished before the interruption", n)
	}
}

// The first of the two guards: packing keeps no slot for a point without a value, so a run holds nothing
// for it (the engine's own check above is the second).
func TestPackDropsPointsWithoutValue(t *testing.T) {
	t.Parallel()
	for _, nv := range noValues {
		vals := map[string]any{}
		for _, r := range testRules {
			vals[r.Point] = nv
		}
		for i, v := range pack(testRules, vals).unpack(len(testRules)) {
			if v != nil {
				t.Errorf("pack(%#v) kept %#v for %s", nv, v, testRules[i].Point)
			}
		}
	}
}

// Between two failures the first is the run's error, as stop documents: here the read failed for good
// before the last batch's write was refused (the write comes only once the reader has closed the queue).
func TestFirstFailureIsTheRunsError(t *testing.T) {
	t.Parallel()
	records, answers := many(6)
	h := newHarness(t, records, answers, nil)
	h.src.readErrAfter, h.src.readErr = id(3), errors.New("query: 500 after 5 attempts")
	h.w.callErr = func(int, []Update) error { return fmt.Errorf("write: %w", ErrUnauthorized) }
	run, err := h.e.Run(context.Background(), RunRequest{})
	if run == nil || err == nil {
		t.Fatalf("Run = %+v, %v", run, err)
	}
	if run.Status != StatusFail || !strings.Contains(run.Error, "read the selected records: query: 500") {
		t.Errorf("status %s error %q, want failed by the read, the first failure", run.Status, run.Error)
	}
}
