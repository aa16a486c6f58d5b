package massupdate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/proffconnect/proffsync/internal/orgnr"
)

// item is one selected record on its way through the run, in Id order.
type item struct {
	rec     Record
	country string
	org     string  // normalised when valid, else as read
	outcome Outcome // set already for missing and invalid org numbers
	reason  string
	note    string // a reason added whatever the outcome (the company was removed from Proff's register)
	co      *company
}

// classify reads a record's country and org number: the outcome when it needs no lookup.
func (e *Engine) classify(rec Record) item { return classifyWith(e.defaultC, rec) }

// classifyWith is classify with defaultC for a blank country.
func classifyWith(defaultC orgnr.Country, rec Record) item {
	it := item{rec: rec, org: strings.TrimSpace(rec.OrgNumber)}
	if it.org == "" {
		it.outcome, it.reason = MissingOrgNumber, "the record has no organisation number"
		return it
	}
	c := defaultC
	if raw := strings.TrimSpace(rec.Country); raw != "" {
		var ok bool
		if c, ok = orgnr.ParseCountry(raw); !ok {
			it.country = raw
			if len(raw) > 40 {
				raw = raw[:40] + "…"
			}
			it.outcome, it.reason = InvalidOrgNumber, fmt.Sprintf("country %q is not one proffsync reads as NO, SE, DK or FI", raw)
			return it
		}
	}
	it.country = string(c)
	n, err := orgnr.Normalize(c, it.org)
	switch {
	case errors.Is(err, orgnr.ErrMissing):
		it.outcome, it.reason = MissingOrgNumber, err.Error()
	case err != nil:
		it.outcome, it.reason = InvalidOrgNumber, err.Error()
	default:
		it.org = n
	}
	return it
}

type companyKey struct{ country, org string }

// companyIndex finds the companies a run has met. Canonical org numbers are at most ten digits, so a
// (country, number) pair packs into one uint64; anything else (never seen in practice) goes to a map by
// strings.
type companyIndex struct {
	packed map[uint64]*company
	other  map[companyKey]*company
}

func newCompanyIndex() *companyIndex {
	return &companyIndex{packed: map[uint64]*company{}, other: map[companyKey]*company{}}
}

func (x *companyIndex) get(country, org string) *company {
	if x == nil {
		return nil
	}
	if k, ok := orgnr.Pack(country, org); ok {
		return x.packed[k]
	}
	return x.other[companyKey{country, org}]
}

func (x *companyIndex) put(country, org string, co *company) {
	if k, ok := orgnr.Pack(country, org); ok {
		x.packed[k] = co
		return
	}
	x.other[companyKey{country, org}] = co
}

var errLimit = errors.New("limit reached")

// maxRereads bounds how often one run reads its records again after a read failed part-way (each time only
// after the failed read handed over at least one record).
const maxRereads = 100

// read streams the selected records after the checkpoint and hands each to the committer in Id order,
// dispatching a lookup for each company it meets first that is due (every company without incremental
// sync).
func (r *runner) read(ctx context.Context, queue chan<- *item, jobs chan<- job) {
	defer close(queue)
	defer close(jobs)
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer r.recoverPanic("watch the read", r.stop.crash)
		select {
		case <-r.stop.softDone():
			cancel()
		case <-readCtx.Done():
		}
	}()
	rd := &reading{r: r, queue: queue, jobs: jobs, companies: newCompanyIndex(), plan: r.newPlanning()}
	if err := rd.plan.buildBudget(readCtx, r.run.Checkpoint); err != nil {
		r.endRead(ctx, err)
		return
	}
	page := func(page []Record) error { return rd.page(readCtx, page) }
	after := r.run.Checkpoint
	var err error
	for rereads := 0; ; rereads++ {
		rd.progressed = false
		err = r.e.o.Source.Records(readCtx, after, page)
		if !rd.readAgain(ctx, err, rereads) {
			break
		}
		r.log.WarnContext(ctx, "the read of the selected records failed part-way; reading on after the last record read",
			slog.String("after", rd.last), slog.String("error", err.Error()))
		after = rd.last
	}
	r.endRead(ctx, err)
}

// reading is one read of the selected records, rereads included: what it handed to the committer.
type reading struct {
	r          *runner
	queue      chan<- *item
	jobs       chan<- job
	companies  *companyIndex
	plan       *planning // nil: every company is looked up
	n          int       // records handed over, deferred ones aside
	last       string    // the last record handed over
	progressed bool      // whether the current read handed one over
}

// page plans a page's records and hands them over, one by one.
func (rd *reading) page(ctx context.Context, page []Record) error {
	items := make([]item, len(page))
	for i := range page {
		items[i] = rd.r.e.classify(page[i])
	}
	ds, err := rd.plan.plan(ctx, items, rd.companies)
	if err != nil {
		return &planError{err}
	}
	for i := range items {
		if err := rd.next(ctx, &items[i], ds); err != nil {
			return err
		}
	}
	return nil
}

// planError is a page that could not be planned (the store, or a feed read that must stop the run): the
// read is not tried again, and stops as the error says (endRead).
type planError struct{ err error }

func (e *planError) Error() string { return "plan the lookups: " + e.err.Error() }
func (e *planError) Unwrap() error { return e.err }

// next dispatches the lookup of a record's company when it meets the company first and the company is
// due, and hands the record to the committer.
func (rd *reading) next(ctx context.Context, it *item, ds decisions) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	stop := rd.r.stop
	if !stop.reading() {
		return errAbandoned
	}
	if it.outcome == "" {
		co, err := rd.dispatch(it.country, it.org, ds)
		if err != nil {
			return err
		}
		it.co, it.note = co, rd.plan.removedNote(it)
	}
	// Once its lookup is dispatched a record goes on to the committer even when the run is stopping: the
	// lookup in flight may finish within the grace period, and then the record is finished too.
	select {
	case rd.queue <- it:
		rd.last, rd.progressed = it.rec.ID, true
	case <-stop.hardDone():
		return errAbandoned
	}
	if it.co != nil && it.co.source == deferred {
		return nil // not selected: the limit counts the records the run finishes
	}
	// Stop right at the limit: reading one more page would cost a query call for nothing.
	if rd.n++; rd.r.req.Limit > 0 && rd.n >= rd.r.req.Limit {
		return errLimit
	}
	return nil
}

// dispatch returns the run's company for (country, org). A company met first is served as the plan says,
// or its lookup is handed to a worker.
func (rd *reading) dispatch(country, org string, ds decisions) (*company, error) {
	if co := rd.companies.get(country, org); co != nil && !rd.plan.moved(ds, co, country, org) {
		return co, nil
	} else if co == nil {
		if co, ok := rd.plan.serve(ds, country, org); ok {
			rd.companies.put(country, org, co)
			return co, nil
		}
	}
	co := &company{}
	select {
	case rd.jobs <- job{co: co, country: country, org: org}:
		rd.companies.put(country, org, co)
		return co, nil
	case <-rd.r.stop.softDone():
		return nil, errAbandoned
	}
}

// readAgain tells whether a read that ended with err is read again after the last record it handed over.
//
// A read that fails after handing over records is read again after the last of them, in Id order as before:
// a long query's server-side cursor expires (Salesforce: INVALID_QUERY_LOCATOR after 15 minutes without a
// fetch, or when the user opens too many cursors), and a run reads a page only as fast as Proff lets it look
// the page's companies up. A read that fails again at once is not retried.
func (rd *reading) readAgain(ctx context.Context, err error, rereads int) bool {
	return err != nil && rd.progressed && rereads < maxRereads && ctx.Err() == nil && rd.r.stop.reading() &&
		!errors.Is(err, errLimit) && !errors.Is(err, errAbandoned) && !errors.As(err, new(*planError)) &&
		!errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrQuotaExhausted)
}

// endRead records the stop, if any, that the read's end causes.
func (r *runner) endRead(ctx context.Context, err error) {
	switch {
	case err == nil, errors.Is(err, errLimit), errors.Is(err, errAbandoned):
	case ctx.Err() != nil:
		// Shutdown: the watcher records it too, but the run must not end before the reason is set.
		r.stop.interrupt(fmt.Errorf("run interrupted: %w", context.Cause(ctx)))
	case !r.stop.reading():
		// The read was cut because the run is stopping for another reason.
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrQuotaExhausted):
		r.stop.stopReadingOn("read the selected records", err)
	case errors.As(err, new(*planError)):
		// The run cannot tell which companies it may serve from stored values: PostgreSQL went (the token and
		// the quota are the cases above, shutdown the ones before). It stops interrupted, as when a batch
		// cannot be recorded, and a resumed run plans again.
		r.stop.interrupt(fmt.Errorf("read the selected records: %w", err))
	default:
		// Nothing more can be read, but what was read goes on to its end: only the reason is recorded, and
		// lookups already dispatched are not abandoned.
		r.stop.failAtEnd(fmt.Errorf("read the selected records: %w", err))
	}
}
