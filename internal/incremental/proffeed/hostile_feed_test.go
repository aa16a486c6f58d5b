package proffeed_test

// The whole feed read (incremental.ReadFeeds through Reader and the Proff client, on a real database)
// against hand-written servers: what a hostile or merely different feed does to the stored state and to
// the plan. The feed is a hint: nothing it does may make a changed company look unchanged.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/incremental/proffeed"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

var (
	hNow = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	hA   = incremental.CompanyKey{Country: "NO", Org: "923609016"}
	hB   = incremental.CompanyKey{Country: "NO", Org: "984851006"}
)

// hostileEnv is a hand-written feed server, a Reader of it and a fresh database.
type hostileEnv struct {
	st     *store.Store
	reader proffeed.Reader

	mu   sync.Mutex
	reqs []url.Values
}

func newHostileEnv(t *testing.T, serve func(w http.ResponseWriter, q url.Values)) *hostileEnv {
	t.Helper()
	e := &hostileEnv{st: storetest.New(t)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.reqs = append(e.reqs, r.URL.Query())
		e.mu.Unlock()
		serve(w, r.URL.Query())
	}))
	t.Cleanup(srv.Close)
	c, err := proff.New(proff.Options{BaseURL: srv.URL, Token: "test-token", RatePerSecond: 1000, MaxAttempts: 2,
		Clock: clocktest.At(hNow)})
	if err != nil {
		t.Fatal(err)
	}
	e.reader = proffeed.Reader{Client: c}
	return e
}

// stored saves companies as looked up at `at`.
func (e *hostileEnv) stored(t *testing.T, at time.Time, keys ...incremental.CompanyKey) {
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

// readAt marks a successful earlier read of NO at `at`, as a run then would have.
func (e *hostileEnv) readAt(t *testing.T, at time.Time) {
	t.Helper()
	if err := e.st.MarkFeedChanges(context.Background(), "NO", nil,
		&incremental.FeedAdvance{ReadUntil: at, CoveredSince: at.Add(-29 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func (e *hostileEnv) read(t *testing.T, fields []string) incremental.CountryFeed {
	t.Helper()
	res, err := incremental.ReadFeeds(context.Background(), e.reader, e.st, []string{"NO"}, hNow, fields, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Countries[0]
}

func (e *hostileEnv) plan(t *testing.T, cf incremental.CountryFeed, keys ...incremental.CompanyKey) map[incremental.CompanyKey]incremental.Reason {
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
	res := incremental.FeedsResult{Countries: []incremental.CountryFeed{cf}}
	out := map[incremental.CompanyKey]incremental.Reason{}
	for _, d := range incremental.Plan(recs, st, incremental.Options{MappingKey: "m1", Feeds: res.Coverage()}, hNow) {
		out[d.Key] = d.Reason
	}
	return out
}

func (e *hostileEnv) state(t *testing.T) incremental.FeedState {
	t.Helper()
	sts, err := e.st.FeedStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sts["NO"]
}

func (e *hostileEnv) queries() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.reqs...)
}

func entry(k incremental.CompanyKey, created string) string {
	return fmt.Sprintf(`{"id":%q,"createdDate":%s}`, k.Org, created)
}

// A 5xx on page 2 (after the retries): the country falls back to full lookups for the run, and its feed
// state stays where it was, so that the next run reads the same days again.
func TestHostileReadFeeds5xxMidway(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, func(w http.ResponseWriter, q url.Values) {
		if q.Get("scrollId") != "" {
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>bad gateway</html>")
			return
		}
		fmt.Fprint(w, `{"entities":[`+entry(hA, fmt.Sprint(hNow.Add(-time.Hour).UnixMilli()))+`],"next":{"href":"?scrollId=2"}}`)
	})
	before := hNow.Add(-24 * time.Hour)
	e.readAt(t, before)
	e.stored(t, hNow.Add(-12*time.Hour), hA, hB)
	cf := e.read(t, nil)
	if cf.Outcome != incremental.FeedFailed {
		t.Fatalf("outcome %s (%v), want failed", cf.Outcome, cf.Err)
	}
	if st := e.state(t); !st.ReadUntil.Equal(before) || !st.UnsupportedAt.IsZero() {
		t.Errorf("feed state %+v moved on after a failed read", st)
	}
	if got := e.plan(t, cf, hA, hB); got[hA] == "" || got[hB] == "" {
		t.Errorf("plan %v, want every company due", got)
	}
}

// A 4xx after the first page was answered (an expired scroll), or on the REMOVED read after the other was
// answered: the country has a feed, so the read failed; it is not marked as having none (which would leave
// it unread for a week).
func TestHostileReadFeeds4xxAfterAnAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		refuse func(q url.Values) bool
	}{
		{"scroll expired", func(q url.Values) bool { return q.Get("scrollId") != "" }},
		{"REMOVED refused", func(q url.Values) bool { return q.Get("types") == "REMOVED" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newHostileEnv(t, func(w http.ResponseWriter, q url.Values) {
				if tc.refuse(q) {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				if q.Get("scrollId") == "" && q.Get("types") != "REMOVED" {
					fmt.Fprint(w, `{"entities":[`+entry(hA, "null")+`],"next":{"href":"?scrollId=2"}}`)
					return
				}
				fmt.Fprint(w, `{"entities":[]}`)
			})
			e.stored(t, hNow.Add(-12*time.Hour), hA, hB)
			cf := e.read(t, nil)
			if cf.Outcome != incremental.FeedFailed {
				t.Errorf("outcome %s (%v), want failed", cf.Outcome, cf.Err)
			}
			if st := e.state(t); !st.UnsupportedAt.IsZero() || !st.ReadUntil.IsZero() {
				t.Errorf("feed state %+v", st)
			}
			if got := e.plan(t, cf, hA, hB); got[hA] == "" || got[hB] == "" {
				t.Errorf("plan %v, want every company due", got)
			}
		})
	}
}

// A server that refuses the fields filter with a 4xx (a path it does not know) is read once unfiltered
// rather than taken as having no feed.
func TestHostileReadFeedsFieldsRefused(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, func(w http.ResponseWriter, q url.Values) {
		if len(q["fields"]) > 0 {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"unknown field /yearsInOperation"}`)
			return
		}
		if q.Get("types") == "REMOVED" {
			fmt.Fprint(w, `{"entities":[]}`)
			return
		}
		fmt.Fprint(w, `{"entities":[`+entry(hA, fmt.Sprint(hNow.Add(-time.Hour).UnixMilli()))+`]}`)
	})
	e.stored(t, hNow.Add(-12*time.Hour), hA, hB)
	e.readAt(t, hNow.Add(-24*time.Hour))
	cf := e.read(t, []string{"/name", "/yearsInOperation"})
	if cf.Outcome != incremental.FeedRead {
		t.Fatalf("outcome %s (%v), want read", cf.Outcome, cf.Err)
	}
	if got := e.plan(t, cf, hA, hB); got[hA] != incremental.ReasonInFeed || got[hB] != "" {
		t.Errorf("plan %v, want A due from the unfiltered read, B cached", got)
	}
	if qs := e.queries(); len(qs) != 3 || len(qs[0]["fields"]) != 2 || len(qs[1]["fields"]) != 0 {
		t.Errorf("queries %v, want filtered, unfiltered, removed", qs)
	}
	// A country that refuses the unfiltered read too has no feed.
	f := newHostileEnv(t, func(w http.ResponseWriter, _ url.Values) { w.WriteHeader(http.StatusNotFound) })
	if cf := f.read(t, []string{"/name"}); cf.Outcome != incremental.FeedUnsupported {
		t.Errorf("outcome %s (%v), want unsupported", cf.Outcome, cf.Err)
	}
}

// createdDate in any form ends with the company due when it changed after its lookup: seconds are not read
// as 1970, and a date after the read (a clock ahead, a misread unit) is the time of the read, not a mark
// that keeps the company due for ever.
func TestHostileReadFeedsCreatedDates(t *testing.T) {
	t.Parallel()
	changed := hNow.Add(-2 * time.Hour)
	for _, tc := range []struct{ name, created string }{
		{"milliseconds", fmt.Sprint(changed.UnixMilli())},
		{"seconds", fmt.Sprint(changed.Unix())},
		{"seconds as a string", fmt.Sprintf("%q", fmt.Sprint(changed.Unix()))},
		{"RFC 3339", fmt.Sprintf("%q", changed.Format(time.RFC3339))},
		{"null", "null"},
		{"garbage", `"gestern"`},
		{"far future", fmt.Sprint(time.Date(4000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newHostileEnv(t, func(w http.ResponseWriter, q url.Values) {
				if q.Get("types") == "REMOVED" {
					fmt.Fprint(w, `{"entities":[]}`)
					return
				}
				fmt.Fprint(w, `{"entities":[`+entry(hA, tc.created)+`]}`)
			})
			e.stored(t, hNow.Add(-12*time.Hour), hA, hB)
			e.readAt(t, hNow.Add(-24*time.Hour))
			cf := e.read(t, nil)
			if cf.Outcome != incremental.FeedRead {
				t.Fatalf("outcome %s (%v)", cf.Outcome, cf.Err)
			}
			if got := e.plan(t, cf, hA, hB); got[hA] != incremental.ReasonInFeed || got[hB] != "" {
				t.Fatalf("plan %v, want A due, B cached", got)
			}
			st, err := e.st.LoadSyncState(context.Background(), nil, []incremental.CompanyKey{hA})
			if err != nil {
				t.Fatal(err)
			}
			if at := st.Companies[hA].FeedChangedAt; at.After(hNow) {
				t.Errorf("feed mark %v is after the read", at)
			}
		})
	}
}

// A feed whose pages never end, or that loops, fails the country's read within the bound; the state stays.
func TestHostileReadFeedsLoop(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, func(w http.ResponseWriter, _ url.Values) {
		fmt.Fprint(w, `{"entities":[`+entry(hA, "null")+`],"next":{"href":"?scrollId=same"}}`)
	})
	e.reader.MaxPages = 10
	e.stored(t, hNow.Add(-12*time.Hour), hA)
	cf := e.read(t, nil)
	if cf.Outcome != incremental.FeedFailed || cf.Pages > 2 {
		t.Errorf("%+v, want failed within two pages", cf)
	}
	if st := e.state(t); !st.ReadUntil.IsZero() {
		t.Errorf("feed state %+v", st)
	}
}

// A 401 on any page stops the run (every further call would fail too): ReadFeeds returns the error, which
// the engine reads as a refused token, and the feed state stays where it was.
func TestHostileReadFeedsUnauthorizedStopsTheRun(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, func(w http.ResponseWriter, q url.Values) {
		if q.Get("scrollId") != "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"entities":[`+entry(hA, "null")+`],"next":{"href":"?scrollId=2"}}`)
	})
	before := hNow.Add(-24 * time.Hour)
	e.readAt(t, before)
	_, err := incremental.ReadFeeds(context.Background(), e.reader, e.st, []string{"NO"}, hNow, nil, nil)
	if !errors.Is(err, massupdate.ErrUnauthorized) || errors.Is(err, incremental.ErrFeedFailed) ||
		errors.Is(err, incremental.ErrFeedUnsupported) {
		t.Fatalf("ReadFeeds: %v, want the refused token", err)
	}
	if st := e.state(t); !st.ReadUntil.Equal(before) || !st.UnsupportedAt.IsZero() {
		t.Errorf("feed state %+v", st)
	}
}

// A 204 to every feed request (an ASP.NET action returning null on a night without changes) is a read of
// no changes: the country's feed state moves on and its companies are served from stored values, not a
// failed read that would look every company of the country up.
func TestHostileReadFeedsNoContentIsAQuietNight(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, func(w http.ResponseWriter, _ url.Values) { w.WriteHeader(http.StatusNoContent) })
	before := hNow.Add(-24 * time.Hour)
	e.readAt(t, before)
	e.stored(t, hNow.Add(-12*time.Hour), hA, hB)
	cf := e.read(t, nil)
	if cf.Outcome != incremental.FeedRead || cf.Pages != 2 || cf.Changes != 0 {
		t.Fatalf("read %+v, want read in two empty pages", cf)
	}
	if st := e.state(t); !st.ReadUntil.Equal(hNow) {
		t.Errorf("state %+v, want read until %v", st, hNow)
	}
	if got := e.plan(t, cf, hA, hB); got[hA] != "" || got[hB] != "" {
		t.Errorf("plan %v, want both served from stored values", got)
	}
}

// P1 for the feed's log lines: a server that quotes the Authorization header back in its error bodies
// (a refused fields filter, then no feed; a read that fails with 5xx) leaves the token in no line the read
// logs and in no error it returns.
func TestHostileFeedLogsCarryNoToken(t *testing.T) {
	t.Parallel()
	const token = "feed-token-7d2c9a41e0"
	for _, status := range []int{http.StatusBadRequest, http.StatusBadGateway} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":"refused: %s (%s)"}`, r.Header.Get("Authorization"), r.URL.RawQuery)
		}))
		c, err := proff.New(proff.Options{BaseURL: srv.URL, Token: token, RatePerSecond: 1000, MaxAttempts: 2,
			Clock: clocktest.At(hNow)})
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		res, err := incremental.ReadFeeds(context.Background(), proffeed.Reader{Client: c}, storetest.New(t), []string{"NO"},
			hNow, []string{"/name"}, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		srv.Close()
		if err != nil {
			t.Fatalf("%d: ReadFeeds: %v", status, err)
		}
		cf := res.Countries[0]
		if cf.Err == nil || !strings.Contains(logs.String(), "change feed") {
			t.Fatalf("%d: the read did not fail and log: %+v\n%s", status, cf, logs.String())
		}
		if strings.Contains(logs.String(), token) || strings.Contains(cf.Err.Error(), token) {
			t.Errorf("%d: the token leaked:\nerr %v\nlogs %s", status, cf.Err, logs.String())
		}
	}
}
