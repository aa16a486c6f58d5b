// Command synccost measures what incremental sync's stored values cost in PostgreSQL (issue 12): rows and
// bytes per company of sync_companies and sync_records, and the time to load what a run needs, page by
// page, exactly as the engine does (incremental.PlanPage: one round trip per page of records).
//
//	go run ./.ci/synccost -db URL                     measure a database that real runs filled (.ci/bench)
//	go run ./.ci/synccost -db URL -seed 100000        first store N companies and records with synthetic
//	                                                  values of -vals bytes (a database of its own: it is
//	                                                  refused when sync_companies already holds rows)
//
// It prints one line of figures. The records are planned in record-Id order with the mapping key the
// stored companies carry, so a database from a real run plans as that run's next run would (times are
// PostgreSQL's and the planner's, not Salesforce's).
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/store"
)

func main() {
	db := flag.String("db", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
	seed := flag.Int("seed", 0, "store this many synthetic companies and records first (0: measure what is there)")
	vals := flag.Int("vals", 120, "bytes of packed values per synthetic company")
	page := flag.Int("page", 2000, "records per page, as a Salesforce query page")
	refresh := flag.Int("refresh-days", 7, "sync.refresh_days the plan assumes (NO plans by a feed read just now)")
	flag.Parse()
	if err := run(context.Background(), *db, *seed, *vals, *page, *refresh); err != nil {
		fmt.Fprintln(os.Stderr, "synccost:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, db string, seed, vals, page, refreshDays int) error {
	if seed > 0 {
		if err := store.EnsureDatabase(ctx, db); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if seed > 0 {
		if err := seedRows(ctx, conn, st, seed, vals); err != nil {
			return err
		}
	}
	var mappingKey string
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(mapping_key), '') FROM sync_companies`).Scan(&mappingKey); err != nil {
		return err
	}
	recs, err := records(ctx, conn)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("sync_records is empty: run proffsync (or -seed N) first")
	}
	// Load what a run needs, as the engine does: a page of records at a time, one round trip each.
	now := time.Now()
	opt := incremental.Options{MappingKey: mappingKey, RefreshDays: refreshDays,
		Feeds: map[string]incremental.FeedCoverage{"NO": {Read: true, Since: now.Add(-incremental.FeedHistory)}}}
	var longest time.Duration
	due, pages := 0, 0
	start := time.Now()
	for i := 0; i < len(recs); i += page {
		t := time.Now()
		ds, err := incremental.PlanPage(ctx, st, recs[i:min(i+page, len(recs))], opt, now)
		if err != nil {
			return err
		}
		longest = max(longest, time.Since(t))
		pages++
		for _, d := range ds {
			if d.Due {
				due++
			}
		}
	}
	load := time.Since(start)

	var companies, records, compBytes, recBytes, valsBytes int64
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM sync_companies), (SELECT count(*) FROM sync_records),
		pg_total_relation_size('sync_companies'), pg_total_relation_size('sync_records'),
		(SELECT coalesce(sum(length(vals)), 0) FROM sync_companies)`).Scan(&companies, &records, &compBytes, &recBytes, &valsBytes)
	if err != nil {
		return err
	}
	perCompany := func(b int64) float64 { return float64(b) / float64(max(companies, 1)) }
	fmt.Printf("stored: %d companies, %d records; sync_companies %.1f MiB (%.0f B/company, values %.0f B), "+
		"sync_records %.1f MiB (%.0f B/record); together %.0f B per company\n",
		companies, records, mib(compBytes), perCompany(compBytes), perCompany(valsBytes),
		mib(recBytes), float64(recBytes)/float64(max(records, 1)), perCompany(compBytes+recBytes))
	fmt.Printf("load: %d records in %d pages of %d: %s (%.1f ms a page, longest %.1f ms); %d companies due\n",
		len(recs), pages, page, load.Round(time.Millisecond), ms(load)/float64(pages), ms(longest), due)
	return nil
}

func records(ctx context.Context, conn *pgx.Conn) ([]incremental.Record, error) {
	rows, err := conn.Query(ctx, `SELECT record_id, country, org_number FROM sync_records ORDER BY record_id`)
	if err != nil {
		return nil, err
	}
	var out []incremental.Record
	for rows.Next() {
		var r incremental.Record
		if err := rows.Scan(&r.ID, &r.Key.Country, &r.Key.Org); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// seedRows stores n synthetic companies (one record each) through the store's own save, in batches as a
// run saves them.
func seedRows(ctx context.Context, conn *pgx.Conn, st *store.Store, n, valsLen int) error {
	var have int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM sync_companies`).Scan(&have); err != nil {
		return err
	}
	if have > 0 {
		return fmt.Errorf("sync_companies already holds %d rows: -seed needs a database of its own", have)
	}
	countries := []string{"NO", "NO", "SE", "DK", "FI"} // 40 % NO
	now := time.Now().Add(-time.Hour)
	for i := 0; i < n; i += 2000 {
		var save incremental.Save
		for j := i; j < min(i+2000, n); j++ {
			v := make([]byte, valsLen)
			rand.Read(v) // incompressible: TOAST must not flatter the figure
			k := incremental.CompanyKey{Country: countries[j%len(countries)], Org: fmt.Sprintf("9%08d", j)}
			save.Companies = append(save.Companies, incremental.SavedCompany{Key: k, MappingKey: "synthetic",
				Vals: v, Status: incremental.Found, LookedUpAt: now})
			save.Records = append(save.Records, incremental.RecordKey{RecordID: fmt.Sprintf("001SYN%012d", j), Key: k})
		}
		if err := st.SaveSync(ctx, save); err != nil {
			return err
		}
	}
	for _, t := range []string{"sync_companies", "sync_records"} { // VACUUM runs outside a transaction: one each
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
			return err
		}
	}
	return nil
}

func mib(b int64) float64        { return float64(b) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
