package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

func TestCallLogStoresTheCallAndNothingElse(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)

	// The table has exactly the fields of a Call: there is no column a header or a body could land in (P8).
	rows, err := s.Pool().Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'call_logs'`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(cols)
	want := []string{"api_max", "api_used", "at", "attempt", "correlation_id", "duration_ms", "endpoint", "error_class",
		"error_excerpt", "id", "method", "run_id", "service", "status"}
	if !reflect.DeepEqual(cols, want) {
		t.Fatalf("call_logs columns: %v, want %v", cols, want)
	}

	at := time.Date(2026, 11, 29, 2, 0, 1, 250000000, time.UTC)
	calls := []transport.Call{
		{RunID: "run-1", CorrelationID: "8f7c9a7e-0000-4000-8000-000000000001", Service: transport.Proff, Method: "GET",
			Endpoint: "GET /api/companies/register/{country}/{orgnr}", Status: 200, Duration: 1500 * time.Microsecond,
			Attempt: 1, StartedAt: at},
		{CorrelationID: "8f7c9a7e-0000-4000-8000-000000000002", Service: transport.Salesforce, Method: "PATCH",
			Endpoint: "PATCH /services/data/v62.0/composite/sobjects", Status: 500, Duration: 2 * time.Second, Attempt: 3,
			ErrorClass: transport.ClassServer, ErrorExcerpt: "UNKNOWN_EXCEPTION: try again", StartedAt: at.Add(time.Second),
			APIUsed: 25, APIMax: 5000},
	}
	cl := s.CallLog()
	for _, c := range calls {
		cl.RecordCall(ctx, c)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Pool().Query(ctx, `SELECT coalesce(run_id, ''), correlation_id, service, method, endpoint, status,
		duration_ms, attempt, error_class, error_excerpt, api_used, api_max, at FROM call_logs ORDER BY at`)
	if err != nil {
		t.Fatal(err)
	}
	var i int
	for ; got.Next(); i++ {
		var c transport.Call
		var ms float64
		if err := got.Scan(&c.RunID, &c.CorrelationID, &c.Service, &c.Method, &c.Endpoint, &c.Status, &ms, &c.Attempt,
			&c.ErrorClass, &c.ErrorExcerpt, &c.APIUsed, &c.APIMax, &c.StartedAt); err != nil {
			t.Fatal(err)
		}
		c.Duration = time.Duration(ms * float64(time.Millisecond))
		c.StartedAt = c.StartedAt.UTC()
		if !reflect.DeepEqual(c, calls[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, c, calls[i])
		}
	}
	if i != len(calls) {
		t.Fatalf("%d rows, want %d", i, len(calls))
	}

	// A successful call's body never reaches a row, even when a caller puts it in the Call (P8): the store
	// keeps an excerpt only of an error answer (400 and up) or of a call that got no answer (status 0).
	body := `{"companyName":"EQUINOR ASA","access_token":"00Dxx!BODYVALUE"}`
	for _, status := range []int{200, 201, 204, 302, 399} {
		cl.RecordCall(ctx, transport.Call{CorrelationID: fmt.Sprint("ok-", status), Service: transport.Proff, Method: "GET",
			Endpoint: "GET /x", Status: status, Attempt: 1, ErrorExcerpt: body, StartedAt: at})
	}
	cl.RecordCall(ctx, transport.Call{CorrelationID: "err-400", Service: transport.Proff, Method: "GET", Endpoint: "GET /x",
		Status: 400, Attempt: 1, ErrorClass: transport.ClassClient, ErrorExcerpt: "bad request", StartedAt: at})
	cl.RecordCall(ctx, transport.Call{CorrelationID: "err-0", Service: transport.Proff, Method: "GET", Endpoint: "GET /x",
		Attempt: 1, ErrorClass: transport.ClassNetwork, ErrorExcerpt: "connection refused", StartedAt: at})
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	excerpts := map[string]string{}
	rows, err = s.Pool().Query(ctx, `SELECT correlation_id, error_excerpt FROM call_logs
		WHERE correlation_id LIKE 'ok-%' OR correlation_id LIKE 'err-%'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, ex string
		if err := rows.Scan(&id, &ex); err != nil {
			t.Fatal(err)
		}
		excerpts[id] = ex
	}
	wantExcerpts := map[string]string{"ok-200": "", "ok-201": "", "ok-204": "", "ok-302": "", "ok-399": "",
		"err-400": "bad request", "err-0": "connection refused"}
	if !reflect.DeepEqual(excerpts, wantExcerpts) {
		t.Fatalf("excerpts: %q, want %q", excerpts, wantExcerpts)
	}
	if dump := storetest.Dump(t, s); strings.Contains(dump, "BODYVALUE") || strings.Contains(dump, "EQUINOR") {
		t.Fatalf("a success body reached the technical log:\n%s", dump)
	}
}

func TestCallLogSurvivesACut(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	direct, viaProxy, p := proxied(t, store.Options{CallLogFlushEvery: time.Hour})
	cl := viaProxy.CallLog()
	p.Cut()
	for i := range 50 {
		// Never blocks, whatever PostgreSQL does.
		cl.RecordCall(ctx, transport.Call{CorrelationID: "c", Service: transport.Proff, Method: "GET", Endpoint: "GET /x",
			Attempt: 1, StartedAt: time.Unix(int64(i), 0)})
	}
	if err := cl.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded with PostgreSQL gone")
	}
	p.Restore()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("Flush after restore: %v", err)
	}
	if n := count(t, direct, "SELECT count(*) FROM call_logs"); n != 50 {
		t.Fatalf("rows after the cut: %d", n)
	}

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl.Close(cctx)
	cl.RecordCall(ctx, transport.Call{CorrelationID: "late"})
	if cl.Dropped() != 1 {
		t.Fatalf("dropped after close: %d", cl.Dropped())
	}
	if err := cl.Flush(ctx); !errors.Is(err, store.ErrCallLogClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
}

func TestCallLogWritesOnItsOwn(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.NewWith(t, store.Options{CallLogFlushEvery: 5 * time.Millisecond})
	s.CallLog().RecordCall(ctx, transport.Call{CorrelationID: "c1", Service: transport.Proff, Method: "GET", Endpoint: "GET /x"})
	// No Flush: the background writer gets there by itself.
	for count(t, s, "SELECT count(*) FROM call_logs") == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the call was never written")
		case <-time.After(5 * time.Millisecond):
		}
	}
	var attempt int
	var at time.Time
	s.Pool().QueryRow(ctx, "SELECT attempt, at FROM call_logs").Scan(&attempt, &at)
	if attempt != 1 || at.IsZero() {
		t.Fatalf("defaults: attempt %d, at %v", attempt, at)
	}
}
