package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// What migration 0005 adds to a run comes back as it was stored: the retry and revert triggers, the run a
// revert undid, the lookups totals of the last batch and of the end, and the never-valued points.
func TestRunKeepsLookupsRevertsAndNeverValued(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	undone := newRun(t, s, massupdate.Run{Trigger: massupdate.Retry})
	r := newRun(t, s, massupdate.Run{Trigger: massupdate.Revert, Reverts: undone.ID})
	if err := s.SaveBatch(ctx, r.ID, massupdate.Batch{Results: []massupdate.RecordResult{{RecordID: "001A", Outcome: massupdate.Unchanged}},
		Checkpoint: "001A", Counts: massupdate.Counts{Selected: 1, Unchanged: 1},
		Lookups: massupdate.Lookups{Fresh: 3, Cached: 2, Deferred: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Trigger != massupdate.Revert || got.Reverts != undone.ID || got.Lookups != (massupdate.Lookups{Fresh: 3, Cached: 2, Deferred: 1}) {
		t.Errorf("after a batch: %+v", got)
	}
	if sum := got.Summary(); sum.Reverts == nil || *sum.Reverts != undone.ID || sum.Error != nil {
		t.Errorf("summary reverts %v error %v", sum.Reverts, sum.Error)
	}
	got.Status, got.Error = massupdate.Interrupted, "run interrupted: quota"
	got.Lookups, got.NeverValued = massupdate.Lookups{Fresh: 4, Cached: 2, Deferred: 1}, []string{"visitorAddress.zipcod", "revenu"}
	if err := s.FinishRun(ctx, &got); err != nil {
		t.Fatal(err)
	}
	end, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Lookups != got.Lookups || !reflect.DeepEqual(end.NeverValued, got.NeverValued) {
		t.Errorf("after finish: lookups %+v never valued %v", end.Lookups, end.NeverValued)
	}
	if sum := end.Summary(); sum.Error == nil || *sum.Error != got.Error {
		t.Errorf("summary error %v", sum.Error)
	}
	other, err := s.GetRun(ctx, undone.ID)
	if err != nil || other.Reverts != "" {
		t.Errorf("run without reverts: %+v %v", other, err)
	}
}

// A record's lookup and its last-synced values are stored with it; a record whose run did not write the
// last-synced field keeps NULL, not a JSON null (a revert must tell "was empty" from "not written").
func TestSaveBatchKeepsLookupAndLastSynced(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	r := newRun(t, s, massupdate.Run{})
	results := []massupdate.RecordResult{
		{RecordID: "001A", Outcome: massupdate.Updated, Lookup: massupdate.LookupFresh, LastSyncedSet: true,
			LastSyncedOld: nil, LastSyncedNew: "2026-12-01T02:00:00.000Z"},
		{RecordID: "001B", Outcome: massupdate.Unchanged, Lookup: massupdate.LookupStored, LastSyncedSet: true,
			LastSyncedOld: "2026-11-30T02:00:00.000Z", LastSyncedNew: "2026-12-01T02:00:00.000Z"},
		{RecordID: "001C", Outcome: massupdate.MissingOrgNumber, Reason: "no org number"},
	}
	if err := s.SaveBatch(ctx, r.ID, massupdate.Batch{Results: results, Checkpoint: "001C",
		Counts: massupdate.Counts{Selected: 3, Updated: 1, Unchanged: 1, MissingOrgNumber: 1}}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		lookup   string
		old, new *string
	}
	want := map[string]row{
		"001A": {"fresh", ptr("null"), ptr(`"2026-12-01T02:00:00.000Z"`)},
		"001B": {"stored", ptr(`"2026-11-30T02:00:00.000Z"`), ptr(`"2026-12-01T02:00:00.000Z"`)},
		"001C": {"", nil, nil},
	}
	rows, err := s.Pool().Query(ctx, `SELECT record_id, lookup, last_synced_old::text, last_synced_new::text
		FROM run_records WHERE run_id = $1`, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var got row
		if err := rows.Scan(&id, &got.lookup, &got.old, &got.new); err != nil {
			t.Fatal(err)
		}
		n++
		if w := want[id]; got.lookup != w.lookup || str(got.old) != str(w.old) || str(got.new) != str(w.new) ||
			(got.old == nil) != (w.old == nil) {
			t.Errorf("%s: lookup %q old %s new %s, want %q %s %s", id, got.lookup, str(got.old), str(got.new), w.lookup, str(w.old), str(w.new))
		}
	}
	if n != 3 {
		t.Errorf("%d rows", n)
	}
}

// The batch's sync state is stored in the batch's transaction: a batch refused (its run closed by another
// process) stores no company either, so no company is ever fresh without a recorded batch.
func TestSaveBatchStoresSyncStateInItsTransaction(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	save := func(key string) incremental.Save {
		k := incremental.CompanyKey{Country: "NO", Org: key}
		return incremental.Save{Companies: []incremental.SavedCompany{{Key: k, MappingKey: "m", Vals: []byte{1}, Status: incremental.Found, LookedUpAt: at}},
			Records: []incremental.RecordKey{{RecordID: "001" + key, Key: k}}}
	}
	r := newRun(t, s, massupdate.Run{})
	res := []massupdate.RecordResult{{RecordID: "001923609016", Outcome: massupdate.Unchanged, Lookup: massupdate.LookupFresh}}
	if err := s.SaveBatch(ctx, r.ID, massupdate.Batch{Results: res, Checkpoint: "001923609016",
		Counts: massupdate.Counts{Selected: 1, Unchanged: 1}, Sync: save("923609016")}); err != nil {
		t.Fatal(err)
	}
	r.Status = massupdate.Succeeded
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	res[0].RecordID = "001914778271"
	if err := s.SaveBatch(ctx, r.ID, massupdate.Batch{Results: res, Checkpoint: "001914778271",
		Counts: massupdate.Counts{Selected: 2, Unchanged: 2}, Sync: save("914778271")}); err == nil {
		t.Fatal("a batch for a finished run was recorded")
	}
	st, err := s.LoadSyncState(ctx, []string{"001923609016", "001914778271"},
		[]incremental.CompanyKey{{Country: "NO", Org: "923609016"}, {Country: "NO", Org: "914778271"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Companies) != 1 || len(st.Records) != 1 || st.Companies[incremental.CompanyKey{Country: "NO", Org: "923609016"}].MappingKey != "m" {
		t.Errorf("stored state %+v", st)
	}
}

func ptr(s string) *string { return &s }

func str(p *string) string {
	if p == nil {
		return "NULL"
	}
	return *p
}
