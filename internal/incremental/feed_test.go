package incremental_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/incremental/proffeed"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// feedEnv is a Proff emulator with a few NO and SE companies, a Proff client on the emulator's virtual
// clock, and a fresh database. Tests move the clock between simulated runs.
type feedEnv struct {
	emu    *proffemu.Server
	st     *store.Store
	reader proffeed.Reader
	ck     *clocktest.Clock
}

var (
	coA = key("NO", "923609016")
	coB = key("NO", "984851006")
	coC = key("NO", "971274808")
	coS = key("SE", "5560125790")
)

func newFeedEnv(t *testing.T) *feedEnv {
	t.Helper()
	e := &feedEnv{ck: clocktest.At(t0)}
	e.emu = proffemu.New(proffemu.Options{Empty: true, Now: e.ck.Now})
	t.Cleanup(e.emu.Close)
	for _, k := range []incremental.CompanyKey{coA, coB, coC, coS} {
		e.emu.SetDocument(k.Country, k.Org, proffemu.Document(proffemu.Company{Country: k.Country, OrgNumber: k.Org,
			Name: "FICTIONAL " + k.Org + " AS", Phone: "+47 00 00 00 00"}))
	}
	e.st = storetest.New(t)
	e.reader = proffeed.Reader{Client: e.client(t, e.emu.URL())}
	return e
}

func (e *feedEnv) clock() time.Time { return e.ck.Now() }

func (e *feedEnv) advance(d time.Duration) time.Time {
	e.ck.Advance(d)
	return e.ck.Now()
}

// client is a Proff client of baseURL that never waits for real and tries each request once.
func (e *feedEnv) client(t *testing.T, baseURL string) *proff.Client {
	t.Helper()
	c, err := proff.New(proff.Options{BaseURL: baseURL, Token: "test-token", RatePerSecond: 1000, MaxAttempts: 1,
		Clock: e.ck})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stored saves companies as looked up at `at`, with one record each (record Id = org number).
func (e *feedEnv) stored(t *testing.T, at time.Time, keys ...incremental.CompanyKey) {
	t.Helper()
	var s incremental.Save
	for _, k := range keys {
		s.Companies = append(s.Companies, incremental.SavedCompany{Key: k, MappingKey: "m1", Vals: []byte("v"),
			Status: incremental.Found, LookedUpAt: at})
		s.Records = append(s.Records, incremental.RecordKey{RecordID: k.Org, Key: k})
	}
	if err := e.st.SaveSync(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// plan plans the given companies (one record each) with the feed read's coverage.
func (e *feedEnv) plan(t *testing.T, res incremental.FeedsResult, keys ...incremental.CompanyKey) map[incremental.CompanyKey]incremental.Reason {
	t.Helper()
	var recs []incremental.Record
	var ids []string
	for _, k := range keys {
		recs, ids = append(recs, incremental.Record{ID: k.Org, Key: k}), append(ids, k.Org)
	}
	st, err := e.st.LoadSyncState(context.Background(), ids, keys)
	if err != nil {
		t.Fatal(err)
	}
	out := map[incremental.CompanyKey]incremental.Reason{}
	for _, d := range incremental.Plan(recs, st, incremental.Options{MappingKey: "m1", RefreshDays: 7, Feeds: res.Coverage()}, e.clock()) {
		out[d.Key] = d.Reason
	}
	return out
}

func (e *feedEnv) read(t *testing.T, countries []string, fields []string) incremental.FeedsResult {
	t.Helper()
	res, err := incremental.ReadFeeds(context.Background(), e.reader, e.st, countries, e.clock(), fields, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// primed is the time of the priming read: three days before t0, before the companies the tests store
// (at t0-2d), so that the reads at t0 vouch for them.
var primed = t0.Add(-3 * day)

// prime reads the countries' feeds at primed, as the night before the companies were stored did: a first
// read vouches for no company looked up before it. The emulator forgets its requests.
func (e *feedEnv) prime(t *testing.T, feed incremental.FeedReader, countries ...string) {
	t.Helper()
	if _, err := incremental.ReadFeeds(context.Background(), feed, e.st, countries, primed, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.emu.ResetRequests()
}

// feedQueries are the queries of the feed requests the emulator received.
func (e *feedEnv) feedQueries(country string) []url.Values {
	var out []url.Values
	for _, r := range e.emu.Requests() {
		if r.Path == "/api/changes/register/"+country {
			q, _ := url.ParseQuery(r.RawQuery)
			out = append(out, q)
		}
	}
	return out
}

func renamed(doc map[string]any) { doc["name"] = "RENAMED " + doc["name"].(string) }

func rephoned(doc map[string]any) {
	doc["phoneNumbers"] = map[string]any{"telephoneNumber": "+47 11 11 11 11"}
}

func TestReadFeedsPagesAndOverlapsSince(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.emu.SetFeedPageSize(3)
	e.prime(t, e.reader, "NO")
	e.stored(t, t0.Add(-2*day), coA, coB, coC)
	e.emu.Noise("NO", 7, t0.Add(-2*time.Hour))
	if err := e.emu.Mutate("NO", coA.Org, t0.Add(-time.Hour), renamed); err != nil {
		t.Fatal(err)
	}

	res := e.read(t, []string{"NO"}, nil)
	no := res.Countries[0]
	// 8 entries at 3 a page: 3 pages, and one for the REMOVED read.
	if no.Outcome != incremental.FeedRead || no.Pages != 4 || res.Pages != 4 || no.Changes != 8 {
		t.Fatalf("read %+v, want 4 pages and 8 changes", no)
	}
	qs := e.feedQueries("NO")
	if len(qs) != 4 {
		t.Fatalf("%d feed requests, want 4", len(qs))
	}
	// A day before the priming read.
	if got, want := qs[0].Get("since"), primed.Add(-day).Format("2006-01-02"); got != want {
		t.Errorf("since %q, want %q", got, want)
	}
	if got := qs[0]["types"]; !reflect.DeepEqual(got, []string{"ADDED", "MUTATED"}) {
		t.Errorf("types %v, want ADDED and MUTATED", got)
	}
	if got := qs[3]["types"]; !reflect.DeepEqual(got, []string{"REMOVED"}) {
		t.Errorf("last read's types %v, want REMOVED", got)
	}
	if got := e.plan(t, res, coA, coB); got[coA] != incremental.ReasonInFeed || got[coB] != "" {
		t.Errorf("plan %v, want A in the feed and B cached", got)
	}

	// The next night asks from a day before the last read, and B's change of the day is seen.
	e.emu.ResetRequests()
	now := e.advance(day)
	if err := e.emu.Mutate("NO", coB.Org, now.Add(-time.Hour), renamed); err != nil {
		t.Fatal(err)
	}
	res = e.read(t, []string{"NO"}, nil)
	if got, want := e.feedQueries("NO")[0].Get("since"), t0.Add(-day).Format("2006-01-02"); got != want {
		t.Errorf("second since %q, want %q (a day of overlap)", got, want)
	}
	if got := e.plan(t, res, coB, coC); got[coB] != incremental.ReasonInFeed || got[coC] != "" {
		t.Errorf("plan %v, want B in the feed and C cached", got)
	}
	states, err := e.st.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if no := states["NO"]; !no.ReadUntil.Equal(now) || !no.CoveredSince.Equal(primed) {
		t.Errorf("state %+v, want read until %v and covered since the priming read", no, now)
	}
}

func TestReadFeedsEveryHrefForm(t *testing.T) {
	t.Parallel()
	for _, form := range []proffemu.HrefForm{proffemu.HrefAbsolute, proffemu.HrefRelative, proffemu.HrefScrollOnly} {
		e := newFeedEnv(t)
		e.emu.SetFeedHref(form)
		e.emu.SetFeedPageSize(2)
		e.prime(t, e.reader, "NO")
		e.stored(t, t0.Add(-2*day), coA, coC)
		e.emu.Noise("NO", 4, t0.Add(-2*time.Hour))
		if err := e.emu.Mutate("NO", coC.Org, t0.Add(-time.Hour), renamed); err != nil {
			t.Fatal(err)
		}
		res := e.read(t, []string{"NO"}, nil)
		if no := res.Countries[0]; no.Outcome != incremental.FeedRead || no.Pages != 4 {
			t.Errorf("form %d: read %+v, want read in 3+1 pages", form, no)
		}
		if got := e.plan(t, res, coA, coC); got[coC] != incremental.ReasonInFeed || got[coA] != "" {
			t.Errorf("form %d: plan %v", form, got)
		}
	}
}

func TestReadFeedsFieldsFilter(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.prime(t, e.reader, "NO")
	e.stored(t, t0.Add(-2*day), coA, coC)
	if err := e.emu.Mutate("NO", coA.Org, t0.Add(-time.Hour), renamed); err != nil {
		t.Fatal(err)
	}
	// A change to a point the mapping does not hold: no lookup for it.
	if err := e.emu.Mutate("NO", coC.Org, t0.Add(-time.Hour), rephoned); err != nil {
		t.Fatal(err)
	}
	res := e.read(t, []string{"NO"}, proff.FeedFields([]string{"name"}))
	qs := e.feedQueries("NO")
	if got := qs[0]["fields"]; !reflect.DeepEqual(got, []string{"/name"}) {
		t.Errorf("fields %v, want [/name]", got)
	}
	if got := qs[len(qs)-1]["fields"]; got != nil {
		t.Errorf("the REMOVED read sent fields %v", got)
	}
	if got := e.plan(t, res, coA, coC); got[coA] != incremental.ReasonInFeed || got[coC] != "" {
		t.Errorf("plan %v, want A (renamed) due and C (new phone, not mapped) cached", got)
	}
}

func TestReadFeedsRemembersAnUnsupportedCountry(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.emu.SetFeedUnsupportedStatus(http.StatusNotFound)
	e.stored(t, t0.Add(-2*day), coA, coS)
	res := e.read(t, []string{"NO", "SE"}, nil)
	se := res.Countries[1]
	if se.Country != "SE" || se.Outcome != incremental.FeedUnsupported || !se.Asked || !errors.Is(se.Err, incremental.ErrFeedUnsupported) {
		t.Fatalf("SE %+v, want unsupported", se)
	}
	if _, planned := res.Coverage()["SE"]; planned {
		t.Error("an unsupported country is planned by its feed")
	}
	// SE is planned by age: 2 days old with refresh_days 7 is cached, 7 days later stale.
	if got := e.plan(t, res, coS); got[coS] != "" {
		t.Errorf("SE plan %v, want cached by age", got)
	}
	// Within a week SE is not asked again; after a week it is.
	for _, tc := range []struct {
		after time.Duration
		asked bool
	}{{6 * day, false}, {day, true}} {
		e.emu.ResetRequests()
		e.advance(tc.after)
		res = e.read(t, []string{"NO", "SE"}, nil)
		if n := len(e.feedQueries("SE")); (n > 0) != tc.asked || res.Countries[1].Asked != tc.asked {
			t.Errorf("%v later: SE asked %d times (%+v), want asked %v", tc.after, n, res.Countries[1], tc.asked)
		}
		if res.Countries[1].Outcome != incremental.FeedUnsupported {
			t.Errorf("SE %+v, want unsupported", res.Countries[1])
		}
	}
	if got := e.plan(t, res, coS); got[coS] != incremental.ReasonStale {
		t.Errorf("SE plan %v a week later, want stale", got)
	}
}

// failingProxy serves the emulator but answers the feed request number failAt with status (0: cancels
// the run's context instead, as SIGTERM does in the middle of a read).
func failingProxy(t *testing.T, emu *proffemu.Server, failAt int32, status int, cancel context.CancelFunc) string {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/changes/") && n.Add(1) == failAt {
			if status == 0 {
				cancel()
				<-r.Context().Done()
				return
			}
			w.WriteHeader(status)
			return
		}
		emu.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestReadFeedsFailingMidwayFallsBackToFullLookups(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.emu.SetFeedPageSize(2)
	e.stored(t, t0.Add(-time.Hour), coA, coB)
	e.emu.Noise("NO", 5, t0.Add(-2*time.Hour))
	if err := e.emu.Mutate("NO", coA.Org, t0.Add(-30*time.Minute), renamed); err != nil {
		t.Fatal(err)
	}
	e.reader.Client = e.client(t, failingProxy(t, e.emu, 2, http.StatusBadGateway, nil))
	res, err := incremental.ReadFeeds(context.Background(), e.reader, e.st, []string{"NO"}, t0, nil, nil)
	if err != nil {
		t.Fatalf("a failed feed stopped the run: %v", err)
	}
	no := res.Countries[0]
	if no.Outcome != incremental.FeedFailed || !errors.Is(no.Err, incremental.ErrFeedFailed) || no.Pages != 2 {
		t.Fatalf("NO %+v, want failed after 2 pages", no)
	}
	if got := e.plan(t, res, coA, coB); got[coA] != incremental.ReasonFeedGap || got[coB] != incremental.ReasonFeedGap {
		t.Errorf("plan %v, want every NO company due (feed_gap)", got)
	}
	states, err := e.st.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 0 {
		t.Errorf("feed state %v advanced after a failed read", states)
	}
}

// A run interrupted in the middle of a feed read stops with the interruption (it is resumable), and the
// feed state stays where it was, so that the resumed run reads the same days again.
func TestReadFeedsInterruptedMidway(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.emu.SetFeedPageSize(2)
	e.emu.Noise("NO", 5, t0.Add(-2*time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.reader.Client = e.client(t, failingProxy(t, e.emu, 2, 0, cancel))
	_, err := incremental.ReadFeeds(ctx, e.reader, e.st, []string{"NO"}, t0, nil, nil)
	interrupted := e.feedQueries("NO")[0].Get("since")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want the cancellation", err)
	}
	if states, err := e.st.FeedStates(context.Background()); err != nil || len(states) != 0 {
		t.Errorf("feed state %v (%v) after an interrupted read, want none", states, err)
	}
	// The resumed run reads from the same date.
	e.reader.Client = e.client(t, e.emu.URL())
	e.emu.ResetRequests()
	res := e.read(t, []string{"NO"}, nil)
	if got := e.feedQueries("NO")[0].Get("since"); got != interrupted || res.Countries[0].Outcome != incremental.FeedRead {
		t.Errorf("resumed read since %q (%+v), want %q", got, res.Countries[0], interrupted)
	}
}

func TestReadFeedsAfterAGapLongerThanTheHistory(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	ctx := context.Background()
	// Last read 40 days ago, after an unbroken chain since 70 days ago: the chain is broken now.
	if err := e.st.MarkFeedChanges(ctx, "NO", nil, &incremental.FeedAdvance{ReadUntil: t0.Add(-40 * day),
		CoveredSince: t0.Add(-70 * day)}); err != nil {
		t.Fatal(err)
	}
	e.stored(t, t0.Add(-35*day), coA)
	e.stored(t, t0.Add(-10*day), coB)
	res := e.read(t, []string{"NO"}, nil)
	if got, want := e.feedQueries("NO")[0].Get("since"), t0.Add(-30*day).Format("2006-01-02"); got != want {
		t.Errorf("since %q, want %q: no further back than the history", got, want)
	}
	if got := e.plan(t, res, coA, coB); got[coA] != incremental.ReasonFeedGap || got[coB] != "" {
		t.Errorf("plan %v, want A (35 days) due by the gap and B (10 days, not listed) cached", got)
	}
}

func TestReadFeedsReturnsRemovedCompanies(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.prime(t, e.reader, "NO")
	e.stored(t, t0.Add(-2*day), coA, coB)
	e.emu.Remove("NO", coB.Org, t0.Add(-time.Hour))
	res := e.read(t, []string{"NO"}, proff.FeedFields([]string{"name"}))
	no := res.Countries[0]
	if len(no.Removed) != 1 || no.Removed[0].Org != coB.Org || !no.Removed[0].At.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("removed %+v, want B", no.Removed)
	}
	// Nothing is cleared: B is due, and its lookup will say not found.
	if got := e.plan(t, res, coA, coB); got[coB] != incremental.ReasonInFeed || got[coA] != "" {
		t.Errorf("plan %v", got)
	}
}

// A company changed once is looked up once: the next night reads its entry again (since overlaps by a
// day), but the entry is older than the lookup, and the company is served from stored values.
func TestAChangeCostsOneLookupAcrossNights(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.prime(t, e.reader, "NO")
	e.stored(t, t0.Add(-2*day), coA, coB)
	if err := e.emu.Mutate("NO", coA.Org, t0.Add(-3*time.Hour), renamed); err != nil {
		t.Fatal(err)
	}
	res := e.read(t, []string{"NO"}, nil)
	if got := e.plan(t, res, coA, coB); got[coA] != incremental.ReasonInFeed || got[coB] != "" {
		t.Fatalf("night 1: plan %v, want A in the feed", got)
	}
	e.stored(t, t0.Add(10*time.Minute), coA) // the run looks A up after reading the feed

	e.advance(day)
	res = e.read(t, []string{"NO"}, nil)
	if res.Countries[0].Changes != 1 {
		t.Fatalf("night 2 read %+v, want A's entry read again", res.Countries[0])
	}
	if got := e.plan(t, res, coA, coB); got[coA] != "" || got[coB] != "" {
		t.Errorf("night 2: plan %v, want both served from stored values", got)
	}
}

// fakeFeed lists fixed entries for ADDED/MUTATED reads and none for REMOVED.
type fakeFeed []incremental.FeedChange

func (f fakeFeed) Changes(_ context.Context, _ string, q incremental.FeedQuery, fn func(incremental.FeedChange) error) (int, error) {
	if q.Removed {
		return 1, nil
	}
	for _, c := range f {
		if err := fn(c); err != nil {
			return 1, err
		}
	}
	return 1, nil
}

// An entry without a date counts as a change at the time of the read, never as no change.
func TestAnEntryWithoutADateMakesItsCompanyDue(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.prime(t, fakeFeed{}, "NO")
	e.stored(t, t0.Add(-2*day), coA, coB)
	res, err := incremental.ReadFeeds(context.Background(), fakeFeed{{Org: coA.Org}}, e.st, []string{"NO"}, t0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.plan(t, res, coA, coB); got[coA] != incremental.ReasonInFeed || got[coB] != "" {
		t.Errorf("plan %v, want A due", got)
	}
}

// The first read of a country's feed asks a day back, not the 30 days the feed keeps: it vouches for no
// company looked up before it, so these are due (feed_gap) whatever it reads, and a month of a whole
// country's changes could be more pages than a read may take. What the run then looks up is served from
// stored values the next night.
func TestTheFirstReadAsksADayBackAndVouchesFromItsOwnTime(t *testing.T) {
	t.Parallel()
	e := newFeedEnv(t)
	e.stored(t, t0.Add(-2*day), coA, coB)
	if err := e.emu.Mutate("NO", coA.Org, t0.Add(-3*time.Hour), renamed); err != nil {
		t.Fatal(err)
	}
	res := e.read(t, []string{"NO"}, nil)
	if got, want := e.feedQueries("NO")[0].Get("since"), t0.Add(-day).Format("2006-01-02"); got != want {
		t.Errorf("first since %q, want %q: a day back", got, want)
	}
	if no := res.Countries[0]; no.Outcome != incremental.FeedRead || no.Changes != 1 || !no.CoveredSince.Equal(t0) {
		t.Fatalf("first read %+v, want A's entry read and coverage from the read's time", no)
	}
	if got := e.plan(t, res, coA, coB); got[coA] != incremental.ReasonFeedGap || got[coB] != incremental.ReasonFeedGap {
		t.Fatalf("night 1: plan %v, want both due by the gap", got)
	}
	e.stored(t, t0.Add(10*time.Minute), coA, coB) // the run looks them up after reading the feed

	e.emu.ResetRequests()
	e.advance(day)
	res = e.read(t, []string{"NO"}, nil)
	if got, want := e.feedQueries("NO")[0].Get("since"), t0.Add(-day).Format("2006-01-02"); got != want {
		t.Errorf("second since %q, want %q: a day before the first read", got, want)
	}
	if got := e.plan(t, res, coA, coB); got[coA] != "" || got[coB] != "" {
		t.Errorf("night 2: plan %v, want both served from stored values", got)
	}
	states, err := e.st.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if no := states["NO"]; !no.CoveredSince.Equal(t0) || !no.ReadUntil.Equal(t0.Add(day)) {
		t.Errorf("state %+v, want covered since the first read and read until the second", no)
	}
}
