package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

var syncT0 = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)

func ck(country, org string) incremental.CompanyKey {
	return incremental.CompanyKey{Country: country, Org: org}
}

func saved(k incremental.CompanyKey, vals string, st incremental.Status, at time.Time) incremental.SavedCompany {
	return incremental.SavedCompany{Key: k, MappingKey: "m1", Vals: []byte(vals), Status: st, LookedUpAt: at}
}

func countRows(t *testing.T, s *store.Store, table string) int {
	t.Helper()
	var n int
	// table is one of this test's literals.
	if err := s.Pool().QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSyncSaveThenLoadOnePage(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	a, b, c := ck("NO", "923609016"), ck("SE", "5560125790"), ck("DK", "24256790")
	err := s.SaveSync(ctx, incremental.Save{
		Companies: []incremental.SavedCompany{
			saved(a, "old", incremental.Found, syncT0),
			saved(a, "new", incremental.Found, syncT0.Add(time.Minute)), // the same company twice: the later wins
			saved(b, "ignored", incremental.NotFound, syncT0),           // nothing found: no values kept
		},
		Records: []incremental.RecordKey{
			{RecordID: "001A", Key: a}, {RecordID: "001B", Key: b}, {RecordID: "001B", Key: a}, // the last wins
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.LoadSyncState(ctx, []string{"001A", "001B", "001C"}, []incremental.CompanyKey{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]incremental.CompanyKey{"001A": a, "001B": a}; !reflect.DeepEqual(st.Records, want) {
		t.Errorf("records = %v, want %v", st.Records, want)
	}
	if len(st.Companies) != 2 {
		t.Fatalf("companies = %v, want a and b only", st.Companies)
	}
	ga, gb := st.Companies[a], st.Companies[b]
	if string(ga.Vals) != "new" || ga.Status != incremental.Found || !ga.LookedUpAt.Equal(syncT0.Add(time.Minute)) ||
		ga.MappingKey != "m1" || !ga.FeedChangedAt.IsZero() {
		t.Errorf("a = %+v", ga)
	}
	if len(gb.Vals) != 0 || gb.Status != incremental.NotFound {
		t.Errorf("b = %+v, want not_found without values", gb)
	}
}

func TestSyncSaveNeverGoesBackToAnOlderLookup(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	a := ck("NO", "923609016")
	for _, c := range []incremental.SavedCompany{saved(a, "newer", incremental.Found, syncT0.Add(time.Hour)),
		saved(a, "older", incremental.Failed, syncT0)} {
		if err := s.SaveSync(ctx, incremental.Save{Companies: []incremental.SavedCompany{c}}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.LoadSyncState(ctx, nil, []incremental.CompanyKey{a})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Companies[a]; string(got.Vals) != "newer" || got.Status != incremental.Found {
		t.Errorf("a = %+v, want the newer lookup kept", got)
	}
}

func TestSyncSaveRefusesWhatItCannotKeepHonestly(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	a, b := ck("NO", "923609016"), ck("NO", "984851006")
	huge := saved(a, strings.Repeat("x", store.MaxStoredVals+1), incremental.Found, syncT0)
	if err := s.SaveSync(ctx, incremental.Save{Companies: []incremental.SavedCompany{huge}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.LoadSyncState(ctx, nil, []incremental.CompanyKey{a})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Companies[a]; got.Status != incremental.Failed || len(got.Vals) != 0 {
		t.Errorf("oversized values stored as status %s with %d bytes, want failed without values", got.Status, len(got.Vals))
	}
	for _, bad := range []incremental.SavedCompany{saved(b, "v", "fresh", syncT0), saved(b, "v", incremental.Found, time.Time{})} {
		if err := s.SaveSync(ctx, incremental.Save{Companies: []incremental.SavedCompany{bad}}); err == nil {
			t.Errorf("SaveSync(%+v) accepted", bad)
		}
	}
}

// The values are stored in the caller's transaction: rolled back with it, nothing is marked fresh.
func TestSaveSyncTxIsTheCallersTransaction(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	a := ck("NO", "923609016")
	errCrash := errors.New("the batch's own insert failed")
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if err := s.SaveSyncTx(ctx, tx, incremental.Save{Companies: []incremental.SavedCompany{saved(a, "v", incremental.Found, syncT0)},
			Records: []incremental.RecordKey{{RecordID: "001A", Key: a}}}); err != nil {
			return err
		}
		return errCrash
	})
	if !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	if n, m := countRows(t, s, "sync_companies"), countRows(t, s, "sync_records"); n != 0 || m != 0 {
		t.Errorf("after a rollback: %d companies and %d records stored, want none", n, m)
	}
}

func TestMarkFeedChangesMarksStoredCompaniesOnly(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	a, b, se := ck("NO", "923609016"), ck("NO", "984851006"), ck("SE", "923609016")
	if err := s.SaveSync(ctx, incremental.Save{Companies: []incremental.SavedCompany{
		saved(a, "a", incremental.Found, syncT0), saved(b, "b", incremental.Found, syncT0), saved(se, "se", incremental.Found, syncT0)}}); err != nil {
		t.Fatal(err)
	}
	day := func(n int) time.Time { return syncT0.Add(time.Duration(n) * 24 * time.Hour) }
	// a twice in one chunk (the newest counts), a company no CRM holds, nothing for b.
	if err := s.MarkFeedChanges(ctx, "NO", []incremental.FeedChange{{Org: a.Org, At: day(2)}, {Org: a.Org, At: day(3)},
		{Org: "971274808", At: day(2)}}, nil); err != nil {
		t.Fatal(err)
	}
	// An older entry read again later never moves a mark back.
	if err := s.MarkFeedChanges(ctx, "NO", []incremental.FeedChange{{Org: a.Org, At: day(1)}}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := s.LoadSyncState(ctx, nil, []incremental.CompanyKey{a, b, se, ck("NO", "971274808")})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Companies[a].FeedChangedAt; !got.Equal(day(3)) {
		t.Errorf("a marked %v, want %v", got, day(3))
	}
	if got := st.Companies[b].FeedChangedAt; !got.IsZero() {
		t.Errorf("b marked %v, want unmarked", got)
	}
	if got := st.Companies[se].FeedChangedAt; !got.IsZero() {
		t.Errorf("the same number in SE marked %v by NO's feed", got)
	}
	if n := countRows(t, s, "sync_companies"); n != 3 {
		t.Errorf("%d companies stored, want 3: the feed's other companies are never stored", n)
	}
	states, err := s.FeedStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 0 {
		t.Errorf("feed states %v after marks without advance, want none", states)
	}
}

func TestFeedStateAdvancesAndRemembersUnsupported(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	if err := s.MarkFeedUnsupported(ctx, "SE", syncT0); err != nil {
		t.Fatal(err)
	}
	adv := incremental.FeedAdvance{ReadUntil: syncT0.Add(time.Hour), CoveredSince: syncT0.Add(-29 * 24 * time.Hour)}
	if err := s.MarkFeedChanges(ctx, "NO", nil, &adv); err != nil {
		t.Fatal(err)
	}
	states, err := s.FeedStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	no, se := states["NO"], states["SE"]
	if !no.ReadUntil.Equal(adv.ReadUntil) || !no.CoveredSince.Equal(adv.CoveredSince) || !no.UnsupportedAt.IsZero() || no.Country != "NO" {
		t.Errorf("NO = %+v", no)
	}
	if !se.UnsupportedAt.Equal(syncT0) || !se.ReadUntil.IsZero() {
		t.Errorf("SE = %+v", se)
	}
	// A country that answers again is supported again: the advance clears the mark.
	if err := s.MarkFeedChanges(ctx, "SE", nil, &adv); err != nil {
		t.Fatal(err)
	}
	if states, err = s.FeedStates(ctx); err != nil {
		t.Fatal(err)
	}
	if se := states["SE"]; !se.UnsupportedAt.IsZero() || !se.ReadUntil.Equal(adv.ReadUntil) {
		t.Errorf("SE after a read = %+v", se)
	}
}

func TestPruneSyncCompaniesKeepsReferencedOnes(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	a, b := ck("NO", "923609016"), ck("NO", "984851006")
	if err := s.SaveSync(ctx, incremental.Save{
		Companies: []incremental.SavedCompany{saved(a, "a", incremental.Found, syncT0), saved(b, "b", incremental.Found, syncT0)},
		Records:   []incremental.RecordKey{{RecordID: "001A", Key: a}, {RecordID: "001B", Key: b}}}); err != nil {
		t.Fatal(err)
	}
	// 001B moved to a: b is no one's any more.
	if err := s.SaveSync(ctx, incremental.Save{Records: []incremental.RecordKey{{RecordID: "001B", Key: a}}}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneSyncCompanies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.LoadSyncState(ctx, nil, []incremental.CompanyKey{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if _, kept := st.Companies[a]; n != 1 || !kept || len(st.Companies) != 1 {
		t.Errorf("pruned %d, left %v; want b pruned and a kept", n, st.Companies)
	}
}

// Benchmarks of the stored values' cost at 100,000 records (issue 12): run with
//
//	go test -run '^$' -bench SyncState -benchtime 5x ./internal/store/
//
// The seed is COPYed: 100,000 companies (40 % NO, the rest SE, DK, FI) with 120 bytes of packed values (a
// mapping of about ten points), each held by one record.
const (
	benchCompanies = 100_000
	benchPage      = 2000
	benchValBytes  = 120
)

func seedSync(b *testing.B, s *store.Store) ([]string, []incremental.CompanyKey) {
	b.Helper()
	ctx := context.Background()
	countries := []string{"NO", "NO", "NO", "NO", "SE", "SE", "DK", "DK", "FI", "FI"}
	ids, keys := make([]string, benchCompanies), make([]incremental.CompanyKey, benchCompanies)
	vals := bytes.Repeat([]byte{1}, benchValBytes)
	companies, records := make([][]any, benchCompanies), make([][]any, benchCompanies)
	for i := range benchCompanies {
		ids[i] = fmt.Sprintf("001%015d", i)
		keys[i] = ck(countries[i%len(countries)], fmt.Sprintf("%09d", 100_000_000+i))
		companies[i] = []any{keys[i].Country, keys[i].Org, "0123456789abcdef0123456789abcdef", vals, syncT0, "found"}
		records[i] = []any{ids[i], keys[i].Country, keys[i].Org}
	}
	if _, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"sync_companies"},
		[]string{"country", "org_number", "mapping_key", "vals", "looked_up_at", "status"}, pgx.CopyFromRows(companies)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().CopyFrom(ctx, pgx.Identifier{"sync_records"}, []string{"record_id", "country", "org_number"},
		pgx.CopyFromRows(records)); err != nil {
		b.Fatal(err)
	}
	for _, table := range []string{"sync_companies", "sync_records"} {
		if _, err := s.Pool().Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			b.Fatal(err)
		}
	}
	return ids, keys
}

// BenchmarkSyncStateLoad100k loads what a run needs for 100,000 records, page by page (one round trip a
// page), and reports the stored bytes per company (tables and indexes, companies and records together).
func BenchmarkSyncStateLoad100k(b *testing.B) {
	s := storetest.New(b)
	ctx := context.Background()
	ids, keys := seedSync(b, s)
	var bytesTotal int64
	if err := s.Pool().QueryRow(ctx, `SELECT pg_total_relation_size('sync_companies') + pg_total_relation_size('sync_records')`).
		Scan(&bytesTotal); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		for i := 0; i < len(ids); i += benchPage {
			j := min(i+benchPage, len(ids))
			st, err := s.LoadSyncState(ctx, ids[i:j], keys[i:j])
			if err != nil {
				b.Fatal(err)
			}
			if len(st.Companies) != j-i || len(st.Records) != j-i {
				b.Fatalf("page %d: %d companies, %d records", i/benchPage, len(st.Companies), len(st.Records))
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/100k-records")
	b.ReportMetric(float64(bytesTotal)/benchCompanies, "stored-bytes/company")
	b.ReportMetric(2, "rows/company")
}

// BenchmarkSyncStateSave100k stores a run's fresh lookups and record keys for 100,000 records, page by page,
// as SaveBatch would in each batch's transaction.
func BenchmarkSyncStateSave100k(b *testing.B) {
	s := storetest.New(b)
	ctx := context.Background()
	ids, keys := seedSync(b, s)
	vals := bytes.Repeat([]byte{2}, benchValBytes)
	b.ResetTimer()
	for n := range b.N {
		at := syncT0.Add(time.Duration(n+1) * time.Hour)
		for i := 0; i < len(ids); i += benchPage {
			j := min(i+benchPage, len(ids))
			save := incremental.Save{}
			for k := i; k < j; k++ {
				save.Companies = append(save.Companies, incremental.SavedCompany{Key: keys[k], MappingKey: "m", Vals: vals,
					Status: incremental.Found, LookedUpAt: at})
				save.Records = append(save.Records, incremental.RecordKey{RecordID: ids[k], Key: keys[k]})
			}
			if err := s.SaveSync(ctx, save); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/100k-records")
}

// run_records can say where a record's data came from; what writes it is the engine's wiring.
func TestRunRecordsHoldWhereTheDataCameFrom(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	seeded := storetest.Seed(t, s, syncT0)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `UPDATE run_records SET lookup = 'stored' WHERE run_id = $1`, seeded.RunID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE run_records SET lookup = 'cached' WHERE run_id = $1`, seeded.RunID); err == nil {
		t.Error("run_records took a lookup that is neither fresh nor stored")
	}
}
