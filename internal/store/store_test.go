package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func count(t *testing.T, s *store.Store, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t) // migrated once
	before := count(t, s, "SELECT count(*) FROM schema_migrations")
	var at1 time.Time
	s.Pool().QueryRow(ctx, "SELECT max(applied_at) FROM schema_migrations").Scan(&at1)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if after := count(t, s, "SELECT count(*) FROM schema_migrations"); after != before || before == 0 {
		t.Fatalf("schema_migrations rows: %d then %d", before, after)
	}
	var at2 time.Time
	s.Pool().QueryRow(ctx, "SELECT max(applied_at) FROM schema_migrations").Scan(&at2)
	if !at1.Equal(at2) {
		t.Fatalf("a migration was re-applied: %v then %v", at1, at2)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("Ready after migrate: %v", err)
	}
}

func TestReadyBeforeMigrate(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, storetest.URL(t), store.Options{})
	err := s.Ready(ctxT(t))
	if err == nil || !strings.Contains(err.Error(), "not migrated") {
		t.Fatalf("Ready on an empty database: %v", err)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	u := storetest.URL(t)
	const n = 8
	stores := make([]*store.Store, n)
	for i := range stores {
		stores[i] = storetest.Open(t, u, store.Options{MaxConns: 2})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Migrate(ctx)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrate %d: %v", i, err)
		}
	}
	s := stores[0]
	if got, dup := count(t, s, "SELECT count(*) FROM schema_migrations"),
		count(t, s, "SELECT count(*) - count(DISTINCT version) FROM schema_migrations"); got == 0 || dup != 0 {
		t.Fatalf("schema_migrations: %d rows, %d duplicates", got, dup)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureDatabaseCreatesIt(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	u := storetest.MissingURL(t)
	if _, err := store.Open(ctx, u, nil); err == nil {
		t.Fatal("Open on a missing database succeeded")
	}
	if err := store.EnsureDatabase(ctx, u); err != nil {
		t.Fatalf("EnsureDatabase: %v", err)
	}
	if err := store.EnsureDatabase(ctx, u); err != nil { // and again: a no-op
		t.Fatalf("EnsureDatabase twice: %v", err)
	}
	s := storetest.Open(t, u, store.Options{})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableErrorHasNoPassword(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	// A port nothing listens on: take one and let it go.
	p := storetest.NewProxy(t, "127.0.0.1:1")
	p.Cut()
	const secret = "s3cretPassw0rd-xyz"
	u := "postgres://postgres:" + secret + "@" + p.Addr() + "/proffsync?sslmode=disable&connect_timeout=5"
	for name, err := range map[string]error{
		"ensure": store.EnsureDatabase(ctx, u),
		"open":   func() error { _, err := store.Open(ctx, u, nil); return err }(),
	} {
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		msg := err.Error()
		if strings.Contains(msg, secret) {
			t.Fatalf("%s: error holds the password: %s", name, msg)
		}
		if !strings.Contains(msg, "cannot reach PostgreSQL at "+p.Addr()) || !strings.Contains(msg, "start it or set DATABASE_URL") {
			t.Fatalf("%s: unclear error: %s", name, msg)
		}
	}
	// A malformed URL must not echo the password either.
	if _, err := store.Open(ctx, "postgres://postgres:"+secret+"@127.0.0.1:notaport/x", nil); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("bad URL: %v", err)
	}
}

func newRun(t *testing.T, s *store.Store, r massupdate.Run) massupdate.Run {
	t.Helper()
	if r.Trigger == "" {
		r.Trigger = massupdate.Manual
	}
	if err := s.CreateRun(context.Background(), &r); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return r
}

func TestRunLifecycle(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	started := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	r := newRun(t, s, massupdate.Run{Trigger: massupdate.Manual, Limit: 50, StartedAt: started,
		Settings: []byte(`{"object":"Account","mapping":[{"proff":"name","field":"Name"}]}`)})
	if r.ID == "" || r.Status != massupdate.Running {
		t.Fatalf("created run: %+v", r)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != massupdate.Running || got.Limit != 50 || !got.StartedAt.Equal(started) || got.FinishedAt != nil ||
		!strings.Contains(string(got.Settings), `"Account"`) {
		t.Fatalf("stored run: %+v", got)
	}

	b := massupdate.Batch{
		Results: []massupdate.RecordResult{
			{RecordID: "001A", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
			{RecordID: "001B", OrgNumber: "", Country: "NO", Outcome: massupdate.MissingOrgNumber, Reason: "no org number"},
		},
		Changes:    []massupdate.FieldChange{{RecordID: "001A", Field: "Name", Old: "Equinor", New: "EQUINOR ASA"}},
		Checkpoint: "001B",
		Counts:     massupdate.Counts{Selected: 2, Updated: 1, MissingOrgNumber: 1},
		APICalls:   massupdate.APICalls{Proff: 1, Salesforce: 3},
	}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetRun(ctx, r.ID)
	if got.Checkpoint != "001B" || got.Counts != b.Counts || got.APICalls != b.APICalls {
		t.Fatalf("after batch: %+v", got)
	}

	r.Status, r.Error = massupdate.Interrupted, "quota"
	r.Counts, r.APICalls = b.Counts, massupdate.APICalls{Proff: 1, Salesforce: 4}
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetRun(ctx, r.ID)
	if got.Status != massupdate.Interrupted || got.FinishedAt == nil || got.Error != "quota" || got.APICalls.Salesforce != 4 {
		t.Fatalf("finished: %+v", got)
	}

	latest, err := s.LatestInterrupted(ctx)
	if err != nil || latest == nil || latest.ID != r.ID || latest.Checkpoint != "001B" {
		t.Fatalf("LatestInterrupted: %+v, %v", latest, err)
	}
	r2 := newRun(t, s, massupdate.Run{Trigger: massupdate.Schedule, ResumedFrom: r.ID, Checkpoint: latest.Checkpoint})
	if err := s.MarkResumed(ctx, r.ID, r2.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkResumed(ctx, r.ID, r2.ID); err == nil {
		t.Fatal("a run was resumed twice")
	}
	if latest, err := s.LatestInterrupted(ctx); err != nil || latest != nil {
		t.Fatalf("LatestInterrupted after resume: %+v, %v", latest, err)
	}
	if got, _ := s.GetRun(ctx, r.ID); got.ResumedBy != r2.ID {
		t.Fatalf("resumed_by: %q", got.ResumedBy)
	}
	if got, _ := s.GetRun(ctx, r2.ID); got.ResumedFrom != r.ID || got.Checkpoint != "001B" {
		t.Fatalf("resumed run: %+v", got)
	}

	// A dry run that was interrupted is never offered for resume.
	dry := newRun(t, s, massupdate.Run{DryRun: true})
	dry.Status = massupdate.Interrupted
	if err := s.FinishRun(ctx, &dry); err != nil {
		t.Fatal(err)
	}
	if latest, _ := s.LatestInterrupted(ctx); latest != nil {
		t.Fatalf("a dry run is offered for resume: %+v", latest)
	}

	runs, err := s.ListRuns(ctx, 10)
	if err != nil || len(runs) != 3 {
		t.Fatalf("ListRuns: %d, %v", len(runs), err)
	}
	for i := 1; i < len(runs); i++ {
		if runs[i].StartedAt.After(runs[i-1].StartedAt) {
			t.Fatalf("ListRuns not newest first: %v", runs)
		}
	}
	if runs, _ := s.ListRuns(ctx, 1); len(runs) != 1 {
		t.Fatalf("ListRuns(1): %d runs", len(runs))
	}
}

func TestRunNotFound(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	for _, id := range []string{"0190c1d2-0000-7000-8000-000000000000", "", "not a run id'; DROP TABLE runs;--", strings.Repeat("x", 500)} {
		if _, err := s.GetRun(ctx, id); !errors.Is(err, massupdate.ErrRunNotFound) {
			t.Errorf("GetRun(%q): %v", id, err)
		}
		if _, err := s.RunDetail(ctx, id); !errors.Is(err, massupdate.ErrRunNotFound) {
			t.Errorf("RunDetail(%q): %v", id, err)
		}
	}
	if err := s.SaveBatch(ctx, "nope", massupdate.Batch{}); !errors.Is(err, massupdate.ErrRunNotFound) {
		t.Errorf("SaveBatch on unknown run: %v", err)
	}
	if err := s.FinishRun(ctx, &massupdate.Run{ID: "nope", Status: massupdate.Succeeded}); !errors.Is(err, massupdate.ErrRunNotFound) {
		t.Errorf("FinishRun on unknown run: %v", err)
	}
}

func TestAlreadyServed(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	due := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	newRun(t, s, massupdate.Run{Trigger: massupdate.Schedule, ScheduledFor: &due})
	second := massupdate.Run{Trigger: massupdate.Schedule, ScheduledFor: &due}
	if err := s.CreateRun(ctx, &second); !errors.Is(err, massupdate.ErrAlreadyServed) {
		t.Fatalf("second scheduled run for the same due time: %v", err)
	}
	next := due.Add(24 * time.Hour)
	newRun(t, s, massupdate.Run{Trigger: massupdate.Schedule, ScheduledFor: &next})
	// Manual runs carry no due time and never collide.
	newRun(t, s, massupdate.Run{})
	newRun(t, s, massupdate.Run{})
	if n := count(t, s, "SELECT count(*) FROM runs"); n != 4 {
		t.Fatalf("runs: %d", n)
	}
}

func TestSaveBatchIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	r := newRun(t, s, massupdate.Run{})
	good := massupdate.Batch{
		Results:    []massupdate.RecordResult{{RecordID: "001A", Outcome: massupdate.Unchanged}},
		Checkpoint: "001A", Counts: massupdate.Counts{Selected: 1, Unchanged: 1},
	}
	if err := s.SaveBatch(ctx, r.ID, good); err != nil {
		t.Fatal(err)
	}
	// The second record's outcome is invalid: nothing of this batch may land, not even its first record,
	// its change, its checkpoint or its totals.
	bad := massupdate.Batch{
		Results: []massupdate.RecordResult{
			{RecordID: "001B", Outcome: massupdate.Updated},
			{RecordID: "001C", Outcome: "exploded"},
		},
		Changes:    []massupdate.FieldChange{{RecordID: "001B", Field: "Name", Old: nil, New: "X"}},
		Checkpoint: "001C", Counts: massupdate.Counts{Selected: 3, Unchanged: 1, Updated: 2},
	}
	if err := s.SaveBatch(ctx, r.ID, bad); err == nil {
		t.Fatal("a batch with an invalid outcome was saved")
	}
	got, _ := s.GetRun(ctx, r.ID)
	if got.Checkpoint != "001A" || got.Counts != good.Counts {
		t.Fatalf("run after failed batch: %+v", got)
	}
	if n := count(t, s, "SELECT count(*) FROM run_records"); n != 1 {
		t.Fatalf("records after failed batch: %d", n)
	}
	if n := count(t, s, "SELECT count(*) FROM field_changes"); n != 0 {
		t.Fatalf("changes after failed batch: %d", n)
	}
	// Saving the same batch again (a retry after a lost commit answer) changes nothing.
	if err := s.SaveBatch(ctx, r.ID, good); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM run_records"); n != 1 {
		t.Fatalf("records after repeated batch: %d", n)
	}
	// A batch for a run that is over is refused.
	r.Status = massupdate.Succeeded
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveBatch(ctx, r.ID, good); err == nil {
		t.Fatal("a batch was saved into a finished run")
	}
}

func TestEnsureDatabaseWithoutCreateRight(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	admin := storetest.New(t)
	// Roles are global to the server: a random name, dropped when the test ends.
	role := "proffsync_test_role_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")[:8] + randHex(t)
	if _, err := admin.Pool().Exec(ctx, "CREATE ROLE "+role+" LOGIN NOCREATEDB"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Pool().Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	u, _ := url.Parse(storetest.MissingURL(t))
	u.User = url.UserPassword(role, "pw-not-to-be-shown-0042")
	err := store.EnsureDatabase(ctx, u.String())
	if err == nil {
		t.Skip("the server let a NOCREATEDB role in without creating: cannot test the refusal here")
	}
	if strings.Contains(err.Error(), "pw-not-to-be-shown-0042") {
		t.Fatalf("password in error: %v", err)
	}
	if !strings.Contains(err.Error(), "may not create it") && !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("unclear error: %v", err)
	}
}

func randHex(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func TestRunIDsAreTimeOrderedUUIDs(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var prev string
	for i := range 5 {
		r := newRun(t, s, massupdate.Run{StartedAt: t0.Add(time.Duration(i) * time.Second)})
		if !re.MatchString(r.ID) || r.ID <= prev {
			t.Fatalf("run id %q after %q", r.ID, prev)
		}
		prev = r.ID
	}
	bad := massupdate.Run{Trigger: massupdate.Manual, Settings: []byte("{not json")}
	if err := s.CreateRun(ctxT(t), &bad); err == nil {
		t.Fatal("invalid settings JSON accepted")
	}
}

// The store scrubs what it keeps by itself (README: Privacy P1): an excerpt, a reason or a run error that reaches
// it unscrubbed, holding the configured secrets and a credential in the form an OAuth answer has, leaves
// no trace of them in any row.
func TestNoSecretInTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	const proffToken, sfSecret = "proff-Tok3n-0123456789abcdef", "sf-client-Secr3t-9876"
	s := storetest.NewWith(t, store.Options{Secrets: []string{proffToken, sfSecret}})
	r := newRun(t, s, massupdate.Run{Settings: []byte(`{"object":"Account","filter":"Type = 'Customer'"}`)})
	if err := s.SaveBatch(ctx, r.ID, massupdate.Batch{Results: []massupdate.RecordResult{{RecordID: "001A",
		Outcome: massupdate.Failed, Reason: "INVALID_SESSION_ID: Session expired; key " + proffToken}}}); err != nil {
		t.Fatal(err)
	}
	r.Status, r.Error = massupdate.StatusFail, "salesforce: login refused for client secret "+sfSecret
	if err := s.FinishRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	s.CallLog().RecordCall(ctx, transport.Call{RunID: r.ID, CorrelationID: "c1", Service: transport.Salesforce,
		Method: "POST", Endpoint: "POST /services/oauth2/token", Status: 400, ErrorClass: transport.ClassClient,
		ErrorExcerpt: `{"error":"invalid_grant","access_token":"00Dxx!SECRETVALUE","echo":"` + sfSecret + `"}`})
	s.CallLog().RecordCall(ctx, transport.Call{CorrelationID: "c2", Service: transport.Proff, Method: "GET",
		Endpoint: "GET /api/companies/register/{country}/{orgnr}", ErrorClass: transport.ClassNetwork,
		ErrorExcerpt: "Get \"https://proff.example/api?token=" + proffToken + "\": dial tcp: connection refused"})
	if err := s.CallLog().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dump := storetest.Dump(t, s)
	for _, w := range []string{"invalid_grant", "001A", "INVALID_SESSION_ID", "login refused", "connection refused"} {
		if !strings.Contains(dump, w) {
			t.Fatalf("the dump misses %q:\n%s", w, dump)
		}
	}
	for _, secret := range []string{"SECRETVALUE", proffToken, sfSecret} {
		if strings.Contains(dump, secret) {
			t.Errorf("secret %q reached the database:\n%s", secret, dump)
		}
	}
}

func TestSaveBatchOfAFullWrite(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := storetest.New(t)
	r := newRun(t, s, massupdate.Run{})
	var b massupdate.Batch
	fields := []string{"Name", "Phone", "Website", "BillingCity", "NumberOfEmployees"}
	for i := range massupdate.MaxBatch {
		id := fmt.Sprintf("001%015d", i)
		b.Results = append(b.Results, massupdate.RecordResult{RecordID: id, OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated})
		for _, f := range fields {
			b.Changes = append(b.Changes, massupdate.FieldChange{RecordID: id, Field: f, Old: nil, New: f + " ' \" \\ ø"})
		}
		b.Counts.Add(massupdate.Updated)
		b.Checkpoint = id
	}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, "SELECT count(*) FROM run_records WHERE run_id = $1", r.ID); n != massupdate.MaxBatch {
		t.Fatalf("records: %d", n)
	}
	d, err := s.RunDetail(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != massupdate.MaxBatch*len(fields) || d.FieldChanges["Phone"] != massupdate.MaxBatch ||
		d.Changes[0].New != "BillingCity ' \" \\ ø" || len(d.Records) != massupdate.MaxBatch || d.Run.Counts.Updated != massupdate.MaxBatch {
		t.Fatalf("detail: %d changes, %v, first %+v", len(d.Changes), d.FieldChanges, d.Changes[0])
	}
}
