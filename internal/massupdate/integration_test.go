package massupdate_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

// The integration tests wire the real adapters (salesforce, proff, store) to the emulators of the sandbox
// and a real PostgreSQL database per test. Retries wait on a virtual clock: nothing here sleeps for real.

// world is one sandbox, one database and the adapters wired to them as `proffsync run` wires them.
type world struct {
	sb    *sandbox.Sandbox
	cfg   *config.Config
	st    *store.Store
	sf    *salesforce.Client
	pc    *proff.Client
	tally *transport.Tally
	rules []mapping.Rule
	kinds map[string]mapping.Kind
	clock *clocktest.Clock
	// hook, when set, is called before each lookup with its 1-based number.
	hook func(n int64)
	n    atomic.Int64
}

func newWorld(t testing.TB, st *store.Store, sb *sandbox.Sandbox) *world {
	t.Helper()
	if sb == nil {
		sb = sandbox.Start(sandbox.Options{})
		t.Cleanup(sb.Close)
	}
	if st == nil {
		st = storetest.New(t)
	}
	cfg, err := sb.Config("postgres://unused")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{sb: sb, cfg: cfg, st: st, clock: clocktest.New(),
		kinds: map[string]mapping.Kind{}}
	var points []proff.DataPoint
	for _, m := range cfg.Mapping {
		dp, err := proff.ResolvePoint(m.Proff)
		if err != nil {
			t.Fatal(err)
		}
		w.rules = append(w.rules, mapping.Rule{Point: dp.Name, Field: m.Field, Mode: mapping.Mode(m.Mode), Format: m.Format})
		if _, ok := w.kinds[dp.Name]; !ok {
			points = append(points, dp)
			w.kinds[dp.Name] = dp.Kind
		}
	}
	w.tally = &transport.Tally{Next: st.CallLog()}
	e := cfg.Env
	w.sf, err = salesforce.New(salesforce.Options{
		LoginURL: e.SFLoginURL, Flow: e.SFAuthFlow, ClientID: e.SFClientID, ClientSecret: e.SFClientSecret, APIVersion: e.SFAPIVersion,
		Object: cfg.Salesforce.Object, OrgNumberField: cfg.Salesforce.OrgNumberField,
		CountryField: cfg.Salesforce.CountryField, OptInField: cfg.Salesforce.OptInField,
		Fields: cfg.Fields(), LastSyncedField: cfg.Salesforce.LastSyncedField,
		Recorder: w.tally, Clock: w.clock, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.pc, err = proff.New(proff.Options{BaseURL: e.ProffAPIURL, Token: e.ProffAPIToken, RatePerSecond: 1000,
		Concurrency: 8, Points: points, Recorder: w.tally, Clock: w.clock,
		Rand: func() float64 { return 0.5 }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Lookup counts lookups and calls the hook: the test's way to act at a chosen moment of a run.
func (w *world) Lookup(ctx context.Context, country, org string) (map[string]any, error) {
	n := w.n.Add(1)
	if w.hook != nil {
		w.hook(n)
	}
	return w.pc.Lookup(ctx, country, org)
}

func (w *world) engine(t testing.TB) *massupdate.Engine {
	t.Helper()
	e, err := massupdate.New(massupdate.Options{
		Source: w.sf, Lookup: w, Writer: w.sf, Store: w.st, Rules: w.rules, Kinds: w.kinds,
		DefaultCountry: w.cfg.Salesforce.DefaultCountry, LastSyncedField: w.cfg.Salesforce.LastSyncedField,
		// The run's stamps are on the virtual clock; the engine's one wait, the grace after a cancel, stays
		// real: the lookups in flight it waits for run in real time.
		Concurrency: 8, RatePerSecond: 100, Clock: clock.WithNow(clock.System, w.clock.Now), Settings: w.cfg.Settings(),
		Calls: func() massupdate.APICalls {
			p, s := w.tally.Counts()
			return massupdate.APICalls{Proff: p, Salesforce: s}
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (w *world) counts() massupdate.Counts {
	x := w.sb.Expect
	return massupdate.Counts{Selected: int64(x.Selected), MissingOrgNumber: int64(x.MissingOrgNumber),
		InvalidOrgNumber: int64(x.InvalidOrgNumber), NotFound: int64(x.NotFound), Unchanged: int64(x.Unchanged),
		Updated: int64(x.Updated), Failed: int64(x.Failed)}
}

// writtenIDs counts, per record, the writes Salesforce received; it also checks every write body carries
// nothing but the id, the type marker, mapped fields and the last-synced field (P4).
func (w *world) writtenIDs(t testing.TB) map[string]int {
	t.Helper()
	allowed := map[string]bool{"attributes": true, "id": true, w.cfg.Salesforce.LastSyncedField: true}
	for _, r := range w.rules {
		allowed[r.Field] = true
	}
	out := map[string]int{}
	for _, req := range w.sb.SF.Requests() {
		if req.Method != "PATCH" {
			continue
		}
		var body struct {
			Records []map[string]any `json:"records"`
		}
		if err := json.Unmarshal(req.Body, &body); err != nil {
			t.Fatalf("write body: %v", err)
		}
		for _, rec := range body.Records {
			for k := range rec {
				if !allowed[k] {
					t.Errorf("write carries %s, which is not mapped", k)
				}
			}
			id, _ := rec["id"].(string)
			out[id]++
		}
	}
	return out
}

func TestIntegrationMixedDataSet(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	ctx := context.Background()
	run, err := w.engine(t).Run(ctx, massupdate.RunRequest{Trigger: massupdate.Manual})
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts != w.counts() || run.Status != massupdate.Partial {
		t.Fatalf("run %s %+v\nwant partial %+v", run.Status, run.Counts, w.counts())
	}
	detail, err := w.st.RunDetail(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	malformed, rejected := 0, 0
	for _, r := range detail.Records {
		if r.Outcome == massupdate.Failed {
			switch {
			case strings.Contains(r.Reason, "Proff lookup failed"):
				malformed++
			case strings.Contains(r.Reason, "FIELD_CUSTOM_VALIDATION_EXCEPTION"):
				rejected++
			default:
				t.Errorf("failed for an unexpected reason: %+v", r)
			}
		}
	}
	if malformed != 2 || rejected != 3 {
		t.Errorf("%d malformed, %d rejected, want 2 and 3", malformed, rejected)
	}
	written := w.writtenIDs(t)
	if len(written) != int(run.Counts.Updated)+rejected {
		t.Errorf("%d records written, want %d updated + %d rejected", len(written), run.Counts.Updated, rejected)
	}
	// Salesforce calls: one login, one describe, one query page, ⌈writes/200⌉ writes.
	wantSF := int64(1 + 1 + 1 + (len(written)+199)/200)
	if run.APICalls.Salesforce != wantSF {
		t.Errorf("%d Salesforce calls, want the minimum %d", run.APICalls.Salesforce, wantSF)
	}
	if got := w.sb.Expect.Selected - w.sb.Expect.MissingOrgNumber - w.sb.Expect.InvalidOrgNumber; run.APICalls.Proff >= int64(got) {
		t.Errorf("%d Proff calls: duplicates were looked up again", run.APICalls.Proff)
	}

	// A second run finds Salesforce converged: nothing left to update, the rejected ones still fail.
	w.sb.SF.ResetRequests()
	run2, err := w.engine(t).Run(ctx, massupdate.RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if run2.Counts.Updated != 0 || run2.Counts.Failed != int64(malformed+rejected) || run2.Counts.Selected != run.Counts.Selected {
		t.Errorf("second run %+v", run2.Counts)
	}
}

func TestIntegrationDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	run, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(w.writtenIDs(t)); n != 0 {
		t.Fatalf("dry run wrote %d records", n)
	}
	want := w.counts()
	want.Updated, want.Failed = want.Updated+3, want.Failed-3 // the validation rules never run
	if run.Counts != want {
		t.Errorf("dry run %+v, want %+v", run.Counts, want)
	}
}

func TestIntegrationFaults429And5xxSessionExpiry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	// Bursts the retries absorb whichever lookups draw them: a lookup tries 5 times, and no burst has more
	// than 4 failures, so none can use up its tries however the workers interleave.
	w.sb.Proff.FailNext(4, 429, "1")
	w.sb.SF.FailNext(2, 503)
	// Expire the session mid-run, and a burst of 5xx from Proff later on.
	w.hook = func(n int64) {
		switch n {
		case 40:
			w.sb.SF.ExpireSessions()
		case 80:
			w.sb.Proff.FailNext(4, 503, "")
		case 120:
			w.sb.Proff.FailNext(4, 502, "")
		}
	}
	run, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts != w.counts() {
		t.Errorf("under faults: %+v\nwant %+v", run.Counts, w.counts())
		d, _ := w.st.RunDetail(context.Background(), run.ID)
		for _, r := range d.Records {
			if r.Outcome == massupdate.Failed {
				t.Logf("%+v", r)
			}
		}
	}
	if w.sb.SF.Logins() < 2 {
		t.Errorf("%d logins: the expired session was not renewed", w.sb.SF.Logins())
	}
}

func TestIntegrationRowLocks(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	// A dry run tells which records will be written; lock each of those rows for two tries.
	dry, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := w.st.RunDetail(context.Background(), dry.ID)
	if err != nil {
		t.Fatal(err)
	}
	locked := 0
	for _, c := range d.Changes {
		if locked < 5 {
			w.sb.SF.LockRow(c.RecordID, 1)
			locked++
		}
	}
	run, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts != w.counts() {
		t.Errorf("with locked rows: %+v\nwant %+v", run.Counts, w.counts())
	}
}

func TestIntegrationRevokedProffTokenFailsFast(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	w.sb.Proff.RevokeToken()
	run, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{})
	if !errors.Is(err, massupdate.ErrUnauthorized) || run.Status != massupdate.StatusFail {
		t.Fatalf("run %+v err %v", run, err)
	}
	if n := len(w.writtenIDs(t)); n != 0 {
		t.Errorf("%d records written with a revoked token", n)
	}
	if run.APICalls.Proff > 20 {
		t.Errorf("%d Proff calls: the run did not stop at once", run.APICalls.Proff)
	}
	if strings.Contains(run.Error, w.sb.Proff.Token()) {
		t.Errorf("the token leaked into the run's error")
	}
}

func TestIntegrationSIGTERMThenResume(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.hook = func(n int64) {
		if n == 100 {
			cancel()
		}
	}
	run, err := w.engine(t).Run(ctx, massupdate.RunRequest{})
	if !errors.Is(err, context.Canceled) || run.Status != massupdate.Interrupted {
		t.Fatalf("run %+v err %v", run, err)
	}
	if run.Counts.Selected == 0 || run.Counts.Selected >= w.counts().Selected {
		t.Fatalf("interrupted run finished %d records", run.Counts.Selected)
	}
	w.hook = nil
	run2, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if run2.ResumedFrom != run.ID || run2.Counts.Plus(run.Counts) != w.counts() {
		t.Errorf("resumed %+v + %+v, want %+v", run2.Counts, run.Counts, w.counts())
	}
	stored, err := w.st.GetRun(context.Background(), run.ID)
	if err != nil || stored.ResumedBy != run2.ID {
		t.Errorf("interrupted run not linked: %+v %v", stored, err)
	}
	for id, n := range w.writtenIDs(t) {
		if n != 1 {
			t.Errorf("record %s written %d times across the two runs", id, n)
		}
	}
	again, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{Resume: true})
	if again != nil || err != nil {
		t.Errorf("a resumed run was resumed again: %+v %v", again, err)
	}
}

func TestIntegrationTwoConcurrentRuns(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	started, release := make(chan struct{}), make(chan struct{})
	w.hook = func(n int64) {
		if n == 1 {
			close(started)
			<-release
		}
	}
	done := make(chan error, 1)
	var first *massupdate.Run
	go func() {
		var err error
		first, err = w.engine(t).Run(context.Background(), massupdate.RunRequest{})
		done <- err
	}()
	<-started
	second, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{})
	close(release)
	if second != nil || !errors.Is(err, massupdate.ErrLocked) {
		t.Errorf("second run: %+v %v", second, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errorString(err), first.ID) {
		t.Errorf("the locked error %q does not name run %s", errorString(err), first.ID)
	}
	runs, _ := w.st.ListRuns(context.Background(), 10)
	if len(runs) != 1 {
		t.Errorf("%d runs recorded, want 1", len(runs))
	}
}

func errorString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestIntegrationPostgresLostMidRun(t *testing.T) {
	t.Parallel()
	url := storetest.URL(t)
	direct := storetest.Open(t, url, store.Options{})
	if err := direct.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	proxy := storetest.NewProxy(t, "127.0.0.1:5432")
	viaProxy := storetest.Open(t, proxy.URL(url), store.Options{RetryFor: 300 * time.Millisecond,
		RetryBackoff: 20 * time.Millisecond, LockPingEvery: 20 * time.Millisecond})
	w := newWorld(t, viaProxy, nil)
	w.hook = func(n int64) {
		if n == 60 {
			proxy.Cut()
		}
	}
	run, err := w.engine(t).Run(context.Background(), massupdate.RunRequest{})
	if run == nil || run.Status != massupdate.Interrupted || err == nil {
		t.Fatalf("run %+v err %v", run, err)
	}
	// What was written to Salesforce is there; the next start (over a working connection) marks the run
	// abandoned if its end could not be recorded, and the resumed run finishes the rest.
	proxy.Restore()
	w2 := newWorld(t, direct, w.sb)
	run2, err := w2.engine(t).Run(context.Background(), massupdate.RunRequest{Resume: true})
	if err != nil || run2 == nil {
		t.Fatalf("resume: %+v %v", run2, err)
	}
	check, err := w2.engine(t).Run(context.Background(), massupdate.RunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if check.Counts.Updated != 0 || check.Counts.Selected != w.counts().Selected {
		t.Errorf("after the resume Salesforce has not converged: %+v", check.Counts)
	}
}
