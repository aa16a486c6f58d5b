package proff_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/transport"
)

var feedNow = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

// feedRecorder keeps the technical log's calls.
type feedRecorder struct {
	mu sync.Mutex
	cs []transport.Call
}

func (r *feedRecorder) RecordCall(_ context.Context, c transport.Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cs = append(r.cs, c)
}

// feedClient is a client of baseURL on a virtual clock that starts at feedNow.
func feedClient(t *testing.T, baseURL, token string, o proff.Options) (*proff.Client, *feedRecorder, *clocktest.Clock) {
	t.Helper()
	rec := &feedRecorder{}
	ck := clocktest.At(feedNow)
	o.BaseURL, o.Token, o.Recorder, o.Clock = baseURL, token, rec, ck
	if o.RatePerSecond == 0 {
		o.RatePerSecond = 1000
	}
	c, err := proff.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec, ck
}

func collect(t *testing.T, c *proff.Client, cc string, since time.Time, opt proff.FeedOptions) ([]string, proff.FeedResult, error) {
	t.Helper()
	var got []string
	res, err := c.Changes(context.Background(), cc, since, opt, func(ch proff.Change) error {
		got = append(got, ch.OrgNumber)
		return nil
	})
	return got, res, err
}

func TestChangesPagesEveryHrefFormOnTheEmulator(t *testing.T) {
	t.Parallel()
	for _, form := range []proffemu.HrefForm{proffemu.HrefAbsolute, proffemu.HrefRelative, proffemu.HrefScrollOnly} {
		t.Run(fmt.Sprint(form), func(t *testing.T) {
			t.Parallel()
			emu := proffemu.New(proffemu.Options{Token: "tok", Now: func() time.Time { return feedNow }})
			defer emu.Close()
			emu.SetFeedHref(form)
			emu.SetFeedPageSize(3)
			emu.Noise("NO", 7, feedNow.Add(-2*time.Hour))
			c, rec, _ := feedClient(t, emu.URL(), "tok", proff.Options{})
			got, res, err := collect(t, c, "no", feedNow.Add(-48*time.Hour), proff.FeedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 7 || res.Pages != 3 || res.Changes != 7 || res.NumberOfHits != 7 {
				t.Errorf("%d changes, %+v; want 7 over 3 pages", len(got), res)
			}
			reqs := emu.Requests()
			if len(reqs) != 3 || reqs[0].RawQuery != "since=2026-11-27" || !strings.HasPrefix(reqs[1].RawQuery, "scrollId=") {
				t.Errorf("requests %+v", reqs)
			}
			for _, r := range reqs {
				if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Token tok" {
					t.Errorf("request %s %s with %q", r.Method, r.Path, r.Header.Get("Authorization"))
				}
			}
			if len(rec.cs) != 3 || rec.cs[2].Endpoint != proff.EndpointFeed || rec.cs[2].Status != 200 {
				t.Errorf("technical log %+v", rec.cs)
			}
		})
	}
}

func TestChangesSendsTheFiltersAndNothingElse(t *testing.T) {
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Token: "tok", Now: func() time.Time { return feedNow }})
	defer emu.Close()
	nr := proffemu.Seed()[0].OrgNumber
	emu.Mutate("NO", nr, feedNow.Add(-30*time.Hour), func(d map[string]any) {
		d["visitorAddress"].(map[string]any)["zipCode"] = "0001"
	})
	emu.Mutate("NO", proffemu.Seed()[1].OrgNumber, feedNow.Add(-30*time.Hour), func(d map[string]any) { d["name"] = "X AS" })
	c, _, _ := feedClient(t, emu.URL(), "tok", proff.Options{})
	got, _, err := collect(t, c, "NO", time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC),
		proff.FeedOptions{Types: []proff.FeedType{proff.FeedMutated}, Fields: proff.FeedFields([]string{"visitorAddress.zipCode"})})
	if err != nil || fmt.Sprint(got) != "["+nr+"]" {
		t.Fatalf("%v %v; want only the company whose visiting address changed", got, err)
	}
	if q := emu.Requests()[0].RawQuery; q != "fields=%2FvisitorAddress&since=2026-11-27&types=MUTATED" {
		t.Errorf("query %q", q)
	}
	if _, err := c.Changes(context.Background(), "NO", time.Time{}, proff.FeedOptions{Fields: []string{"name"}},
		func(proff.Change) error { return nil }); err == nil {
		t.Error("a field that is not a JSON pointer was sent")
	}
}

func TestChangesGoThroughTheRateLimiter(t *testing.T) {
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Token: "tok", Now: func() time.Time { return feedNow }})
	defer emu.Close()
	emu.SetFeedPageSize(1)
	emu.Noise("NO", 4, feedNow.Add(-time.Hour))
	c, _, ck := feedClient(t, emu.URL(), "tok", proff.Options{RatePerSecond: 1})
	if _, res, err := collect(t, c, "NO", time.Time{}, proff.FeedOptions{}); err != nil || res.Pages != 4 {
		t.Fatal(res, err)
	}
	if d := ck.Now().Sub(feedNow); d < 3*time.Second {
		t.Errorf("four pages at one a second waited %s; want at least 3s", d)
	}
}

func TestChangesUnsupportedCountry(t *testing.T) {
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Token: "tok", Now: func() time.Time { return feedNow }})
	defer emu.Close()
	c, _, _ := feedClient(t, emu.URL(), "tok", proff.Options{MaxAttempts: 2})
	for _, status := range []int{400, 404, 403, 422} {
		emu.SetFeedUnsupportedStatus(status)
		_, res, err := collect(t, c, "SE", time.Time{}, proff.FeedOptions{})
		if !errors.Is(err, proff.ErrFeedUnsupported) || errors.Is(err, proff.ErrFeedFailed) || res.Pages != 1 {
			t.Errorf("%d: %v (%+v); want ErrFeedUnsupported after one call", status, err, res)
		}
	}
	// A 403 for the feed says nothing about the country's lookups.
	if _, err := c.Lookup(context.Background(), "SE", proffemu.Seed()[3].OrgNumber); err != nil {
		t.Errorf("lookup after the feed's 403: %v", err)
	}
	// A rejected token stays a rejected token: the run stops, it does not fall back.
	emu.RevokeToken()
	if _, _, err := collect(t, c, "NO", time.Time{}, proff.FeedOptions{}); !errors.Is(err, massupdate.ErrUnauthorized) ||
		errors.Is(err, proff.ErrFeedUnsupported) || errors.Is(err, proff.ErrFeedFailed) {
		t.Errorf("401: %v", err)
	}
}

// hostile serves the pages a handler writes, counting requests.
func hostile(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	n := &atomic.Int64{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r, int(n.Add(1)))
	}))
	t.Cleanup(s.Close)
	return s, n
}

func TestChangesRefuseStrangeFeeds(t *testing.T) {
	t.Parallel()
	other, otherHits := hostile(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the token reached another host")
		}
		fmt.Fprint(w, `{"entities":[]}`)
	})
	// Cleanup, not a check after the loop: the parallel subtests run only once this function returned.
	t.Cleanup(func() {
		if n := otherHits.Load(); n != 0 {
			t.Errorf("%d requests reached the other host", n)
		}
	})
	page := func(next string) string {
		return `{"numberOfHits":9,"entities":[{"id":"912345688","createdDate":1764381600000,"patchId":"p"}],"next":{"href":"` + next + `","rel":"next"}}`
	}
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request, n int)
		pages int
	}{
		{"not JSON", func(w http.ResponseWriter, _ *http.Request, _ int) { fmt.Fprint(w, "<html>maintenance</html>") }, 1},
		{"entities an object", func(w http.ResponseWriter, _ *http.Request, _ int) { fmt.Fprint(w, `{"entities":{"id":"912345688"}}`) }, 1},
		{"entity not an object", func(w http.ResponseWriter, _ *http.Request, _ int) { fmt.Fprint(w, `{"entities":["912345688"]}`) }, 1},
		{"next to another host", func(w http.ResponseWriter, _ *http.Request, _ int) {
			fmt.Fprint(w, page(other.URL+"/api/changes/register/NO?scrollId=x"))
		}, 1},
		{"next to another scheme", func(w http.ResponseWriter, r *http.Request, _ int) {
			fmt.Fprint(w, page("https://"+r.Host+"/api/changes/register/NO?scrollId=x"))
		}, 1},
		{"next out of the feed", func(w http.ResponseWriter, _ *http.Request, _ int) {
			fmt.Fprint(w, page("/api/companies/register/NO/912345688"))
		}, 1},
		{"next looping", func(w http.ResponseWriter, _ *http.Request, n int) {
			fmt.Fprint(w, page("?scrollId="+fmt.Sprint(min(n, 2))))
		}, 3},
		{"pages without end", func(w http.ResponseWriter, _ *http.Request, n int) {
			fmt.Fprint(w, page("?scrollId="+fmt.Sprint(n)))
		}, 5},
		{"failure half-way", func(w http.ResponseWriter, _ *http.Request, n int) {
			if n > 1 {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			fmt.Fprint(w, page("?scrollId=2"))
		}, 2},
		{"page too large", func(w http.ResponseWriter, _ *http.Request, _ int) {
			fmt.Fprint(w, `{"entities":[],"pad":"`+strings.Repeat("x", 2<<10)+`"}`)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := hostile(t, tc.serve)
			c, _, _ := feedClient(t, s.URL, "tok", proff.Options{MaxAttempts: 2, MaxBody: 1 << 10})
			_, res, err := collect(t, c, "NO", time.Time{}, proff.FeedOptions{MaxPages: 5})
			if !errors.Is(err, proff.ErrFeedFailed) || errors.Is(err, proff.ErrFeedUnsupported) {
				t.Errorf("%v; want ErrFeedFailed", err)
			}
			if res.Pages != tc.pages {
				t.Errorf("%d pages read, want %d", res.Pages, tc.pages)
			}
			if strings.Contains(fmt.Sprint(err), "tok") {
				t.Errorf("the error names the token: %v", err)
			}
		})
	}
}

func TestChangesTolerateRealWorldShapes(t *testing.T) {
	t.Parallel()
	s, _ := hostile(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Query().Get("scrollId") {
		case "":
			// Keys in another case, unknown keys, createdDate as a string, ids as people write them, an id
			// that fails its check, a number id, no numberOfHits.
			fmt.Fprint(w, "\xef\xbb\xbf"+`{"Entities":[{"id":"NO 912 345 688 MVA","createdDate":"1764381600000","patchId":"a","patch":[{"op":"replace"}],"extra":1},
				{"id":"912345687","createdDate":1764381600000},{"id":920000010,"createdDate":null}],
				"next":{"href":"`+"http://"+r.Host+`/api/changes/register/NO?scrollId=2","rel":"next"},"took":5}`)
		default:
			// An empty page with a next link still ends the read.
			fmt.Fprint(w, `{"numberOfHits":3,"entities":[],"next":{"href":"?scrollId=3"}}`)
		}
	})
	c, _, _ := feedClient(t, s.URL, "tok", proff.Options{})
	var got []proff.Change
	res, err := c.Changes(context.Background(), "NO", time.Time{}, proff.FeedOptions{}, func(ch proff.Change) error {
		got = append(got, ch)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != 2 || res.Changes != 2 || res.Skipped != 1 || res.NumberOfHits != -1 || len(got) != 2 {
		t.Fatalf("%+v %+v", res, got)
	}
	if got[0].OrgNumber != "912345688" || !got[0].At.Equal(time.UnixMilli(1764381600000)) || got[0].PatchID != "a" ||
		got[1].OrgNumber != "920000010" || !got[1].At.IsZero() {
		t.Errorf("changes %+v", got)
	}
	// fn's own error stops the read and comes back as it is.
	stop := errors.New("stop")
	_, err = c.Changes(context.Background(), "NO", time.Time{}, proff.FeedOptions{}, func(proff.Change) error { return stop })
	if !errors.Is(err, stop) || errors.Is(err, proff.ErrFeedFailed) {
		t.Errorf("fn's error: %v", err)
	}
}

func TestFeedFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"name", "visitorAddress.zipCode", "visitorAddress.postPlace", "homePage"}, "[/homePage /name /visitorAddress]"},
		{[]string{"naceCategories[0]", "nace.code"}, "[/naceCategories]"},
		{[]string{"HOMEPAGE", "location.coordinates[0].XCoordinate"}, "[/homePage /location]"},
		{[]string{"employees"}, "[/empMin /numberOfEmployees]"},
		{[]string{"yearsInOperation"}, "[/establishedDate /foundationDate /registrationDate /yearsInOperation]"},
		{[]string{"accounts.SDI", "revenue"}, "[/annualAccounts /revenue]"},
		// A source it cannot name: no filter at all, rather than a change never seen.
		{[]string{"name", "someNewKey"}, "[]"},
		{[]string{"name", "not a path"}, "[]"},
	} {
		got := proff.FeedFields(tc.in)
		if fmt.Sprint(got) != tc.want {
			t.Errorf("FeedFields(%v) = %v, want %s", tc.in, got, tc.want)
		}
		if tc.want == "[]" && got != nil {
			t.Errorf("FeedFields(%v) = %#v, want nil", tc.in, got)
		}
	}
}

// roundTrip serves requests in memory, as the network would.
type roundTrip func(*http.Request) *http.Response

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

func TestChangesAcceptTheSameHostSpelledOtherwise(t *testing.T) {
	t.Parallel()
	var urls []string
	base := roundTrip(func(r *http.Request) *http.Response {
		urls = append(urls, r.URL.String())
		body := `{"entities":[]}`
		if r.URL.Query().Get("scrollId") == "" {
			body = `{"numberOfHits":"1","entities":[{"id":"912345688"}],"next":{"href":"https://API.proff.no:443/api/changes/register/NO?scrollId=2"}}`
		}
		rec := httptest.NewRecorder()
		rec.WriteString(body)
		return rec.Result()
	})
	c, _, _ := feedClient(t, "https://api.proff.no", "tok", proff.Options{Base: base})
	got, res, err := collect(t, c, "NO", time.Time{}, proff.FeedOptions{})
	if err != nil || len(got) != 1 || res.Pages != 2 || res.NumberOfHits != 1 {
		t.Fatalf("%v %+v %v", got, res, err)
	}
	if len(urls) != 2 || urls[1] != "https://api.proff.no/api/changes/register/NO?scrollId=2" {
		t.Errorf("requests %v", urls)
	}
}
