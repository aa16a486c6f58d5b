package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// The reads behind serve's history pages (`GET /`, `GET /runs/{id}`). Each page is read in one read-only,
// repeatable-read transaction, so a run still being written shows one consistent picture, and every list
// is paged: a run can hold 100,000 records, and a page must answer in well under 100 ms. Offsets are
// applied to an index-only subquery of keys first (a "deferred join"), so a late page skips index entries,
// not table rows.

// RunsPageQuery asks for one page of the run list and the runs of the outcome chart.
type RunsPageQuery struct {
	Page     int // 1-based; beyond the last page it is clamped to the last page
	PageSize int // runs per page; <= 0: 50
	Chart    int // how many of the newest runs the chart shows; <= 0: 30
}

// RunsPage is one page of the run list, newest first.
type RunsPage struct {
	Runs  []massupdate.Run
	Total int64 // every run kept
	Page  int   // the page served, after clamping
	Pages int   // how many pages there are (at least 1)
	// Chart holds the newest runs (at most RunsPageQuery.Chart), oldest first, as a chart reads left to right.
	Chart []massupdate.Run
}

// RunsPage returns one page of the runs, newest first, with the newest runs for the outcome chart.
func (s *Store) RunsPage(ctx context.Context, q RunsPageQuery) (RunsPage, error) {
	if q.PageSize <= 0 {
		q.PageSize = 50
	}
	if q.Chart <= 0 {
		q.Chart = 30
	}
	var p RunsPage
	err := readOnly(ctx, s, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM runs`).Scan(&p.Total); err != nil {
			return fmt.Errorf("count runs: %w", err)
		}
		p.Page, p.Pages = clampPage(q.Page, q.PageSize, p.Total)
		rows, err := tx.Query(ctx, `SELECT `+runColumns+` FROM runs ORDER BY started_at DESC, id DESC LIMIT $1 OFFSET $2`,
			q.PageSize, int64(p.Page-1)*int64(q.PageSize))
		if err != nil {
			return fmt.Errorf("list runs: %w", err)
		}
		if p.Runs, err = pgx.CollectRows(rows, scanRun); err != nil {
			return fmt.Errorf("list runs: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT * FROM (SELECT `+runColumns+` FROM runs ORDER BY started_at DESC, id DESC LIMIT $1) r
			ORDER BY started_at, id`, q.Chart)
		if err != nil {
			return fmt.Errorf("chart runs: %w", err)
		}
		if p.Chart, err = pgx.CollectRows(rows, scanRun); err != nil {
			return fmt.Errorf("chart runs: %w", err)
		}
		return nil
	})
	if err != nil {
		return RunsPage{}, fmt.Errorf("runs page: %w", s.scrub(err))
	}
	return p, nil
}

// RunPageQuery asks for one run's page: which page of its problem records, which page of its field
// changes, and which field the changes are filtered by.
type RunPageQuery struct {
	RecordsPage int    // 1-based, clamped to the last page
	ChangesPage int    // 1-based, clamped to the last page
	Field       string // only the changes of this field; "" for all
	PageSize    int    // records and changes per page; <= 0: 100
}

// FieldCount is how many records of a run had one field changed.
type FieldCount struct {
	Field string
	Count int64
}

// PageRecord is a record of a run that was neither updated nor unchanged, with its reason.
type PageRecord struct {
	massupdate.RecordResult
	// FailedRuns is how many runs in a row, ending at this run, the record has ended failed: this run (even
	// a dry one) and the non-dry runs before it in which the record was processed. 0 when it did not fail
	// in this run. A run that did not process the record (a --limit run, a resumed run past it) neither
	// breaks nor extends the streak.
	FailedRuns int
}

// RunPage is one run as its page shows it.
type RunPage struct {
	Run         massupdate.Run
	FieldCounts []FieldCount // every field the run changed, by name

	Records      []PageRecord // one page of the records neither updated nor unchanged, by record Id
	RecordsTotal int64
	RecordsPage  int // the page served, after clamping
	RecordsPages int

	Changes      []massupdate.FieldChange // one page of the field changes (of Field when set), by record Id and field
	ChangesTotal int64
	ChangesPage  int
	ChangesPages int
	Field        string // the field filter applied; "" for all
}

// RunPage returns one run's page, or massupdate.ErrRunNotFound for an unknown or malformed id.
func (s *Store) RunPage(ctx context.Context, id string, q RunPageQuery) (RunPage, error) {
	if q.PageSize <= 0 {
		q.PageSize = 100
	}
	p := RunPage{Field: q.Field}
	err := readOnly(ctx, s, func(tx pgx.Tx) error {
		r, err := getRun(ctx, s, tx, id)
		if err != nil {
			return err
		}
		p.Run = r

		rows, err := tx.Query(ctx, `SELECT field, count(*) FROM field_changes WHERE run_id = $1 GROUP BY field ORDER BY field`, id)
		if err != nil {
			return fmt.Errorf("count field changes: %w", err)
		}
		if p.FieldCounts, err = pgx.CollectRows(rows, pgx.RowToStructByPos[FieldCount]); err != nil {
			return fmt.Errorf("count field changes: %w", err)
		}
		// The per-field counts give the changes' total without another scan.
		for _, fc := range p.FieldCounts {
			if q.Field == "" || fc.Field == q.Field {
				p.ChangesTotal += fc.Count
			}
		}

		// The run's counts are written in the same transaction as its records (SaveBatch), so they give the
		// total without counting up to 100,000 rows on every page.
		c := r.Counts
		p.RecordsTotal = c.MissingOrgNumber + c.InvalidOrgNumber + c.NotFound + c.Failed
		p.RecordsPage, p.RecordsPages = clampPage(q.RecordsPage, q.PageSize, p.RecordsTotal)
		if p.Records, err = pageRecords(ctx, tx, r, q.PageSize, int64(p.RecordsPage-1)*int64(q.PageSize)); err != nil {
			return err
		}

		p.ChangesPage, p.ChangesPages = clampPage(q.ChangesPage, q.PageSize, p.ChangesTotal)
		if p.Changes, err = pageChanges(ctx, tx, id, q.Field, q.PageSize, int64(p.ChangesPage-1)*int64(q.PageSize)); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, massupdate.ErrRunNotFound) {
			return RunPage{}, err
		}
		return RunPage{}, fmt.Errorf("run page %s: %w", id, s.scrub(err))
	}
	return p, nil
}

// pageRecordsSQL reads one page of a run's problem records and, in the same statement, the failure streak
// of each failed one: the record's outcomes in this run and the earlier non-dry runs, newest first (the
// index run_records_by_record), counted until the first that is not `failed`. Only the records of the page
// are walked back, and only those that failed here.
//
// $1 run id, $2 its started_at, $3 limit, $4 offset.
const pageRecordsSQL = `
WITH page AS (
	SELECT rr.record_id, rr.org_number, rr.country, rr.outcome, rr.reason, rr.lookup
	FROM (SELECT record_id FROM run_records
		WHERE run_id = $1 AND outcome NOT IN ('updated', 'unchanged')
		ORDER BY record_id LIMIT $3 OFFSET $4) k
	JOIN run_records rr ON rr.run_id = $1 AND rr.record_id = k.record_id
)
SELECT p.record_id, p.org_number, p.country, p.outcome, p.reason, p.lookup, coalesce(streak.n, 0)
FROM page p
LEFT JOIN LATERAL (
	SELECT count(*) AS n FROM (
		SELECT bool_or(h.outcome <> 'failed') OVER (ORDER BY r.started_at DESC, r.id DESC) AS broken
		FROM run_records h JOIN runs r ON r.id = h.run_id
		WHERE h.record_id = p.record_id
			AND (r.id = $1 OR (NOT r.dry_run AND r.trigger <> 'revert' AND (r.started_at, r.id) < ($2::timestamptz, $1::text)))
	) w WHERE NOT w.broken
) streak ON p.outcome = 'failed'
ORDER BY p.record_id`

func pageRecords(ctx context.Context, tx pgx.Tx, r massupdate.Run, limit int, offset int64) ([]PageRecord, error) {
	rows, err := tx.Query(ctx, pageRecordsSQL, r.ID, r.StartedAt, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("read records: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (PageRecord, error) {
		var pr PageRecord
		var outcome string
		var n int64
		err := row.Scan(&pr.RecordID, &pr.OrgNumber, &pr.Country, &outcome, &pr.Reason, &pr.Lookup, &n)
		pr.Outcome, pr.FailedRuns = massupdate.Outcome(outcome), int(n)
		return pr, err
	})
	if err != nil {
		return nil, fmt.Errorf("read records: %w", err)
	}
	return recs, nil
}

// Two statements rather than one whose filter holds for an empty field: a cached generic plan of that could
// not pick the field index.
const (
	pageChangesSQL = `SELECT fc.record_id, fc.field, fc.old_value::text, fc.new_value::text
	FROM (SELECT record_id, field FROM field_changes WHERE run_id = $1
		ORDER BY record_id, field LIMIT $2 OFFSET $3) k
	JOIN field_changes fc ON fc.run_id = $1 AND fc.record_id = k.record_id AND fc.field = k.field
	ORDER BY fc.record_id, fc.field`
	pageFieldChangesSQL = `SELECT fc.record_id, fc.field, fc.old_value::text, fc.new_value::text
	FROM (SELECT record_id FROM field_changes WHERE run_id = $1 AND field = $4
		ORDER BY record_id LIMIT $2 OFFSET $3) k
	JOIN field_changes fc ON fc.run_id = $1 AND fc.record_id = k.record_id AND fc.field = $4
	ORDER BY fc.record_id`
)

func pageChanges(ctx context.Context, tx pgx.Tx, runID, field string, limit int, offset int64) ([]massupdate.FieldChange, error) {
	var rows pgx.Rows
	var err error
	if field == "" {
		rows, err = tx.Query(ctx, pageChangesSQL, runID, limit, offset)
	} else {
		rows, err = tx.Query(ctx, pageFieldChangesSQL, runID, limit, offset, field)
	}
	if err != nil {
		return nil, fmt.Errorf("read field changes: %w", err)
	}
	changes, err := pgx.CollectRows(rows, scanFieldChange)
	if err != nil {
		return nil, fmt.Errorf("read field changes: %w", err)
	}
	return changes, nil
}

// clampPage returns the page to serve (1 for anything below; the last page for anything beyond) and how
// many pages there are, at least 1 so that an empty list still has its page.
func clampPage(page, size int, total int64) (served, pages int) {
	pages = int(max((total+int64(size)-1)/int64(size), 1))
	return min(max(page, 1), pages), pages
}

// readOnly runs f in a read-only repeatable-read transaction: the reads of one page share a snapshot.
func readOnly(ctx context.Context, s *Store, f func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, f)
}
