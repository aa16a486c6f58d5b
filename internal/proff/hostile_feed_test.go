package proff_test

// The change feed against hand-written servers, not our emulator: every form the documentation allows
// (Proff's API documentation, "The change feed") and the hostile ones an independent implementation or a
// broken proxy may send. The emulator was written with the client and may share its blind spots.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/logtest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
)

// Valid Norwegian numbers (mod 11) for the entries.
const (
	hfA = "912345688"
	hfB = "920000010"
	hfC = "923609016"
)

// hostileFeed is a client of a hand-written server on a virtual clock, its technical log and its log lines.
type hostileFeed struct {
	c     *proff.Client
	srv   *httptest.Server
	clk   *clocktest.Clock
	reqs  *reqLog
	logs  *syncBuffer
	calls *calls
}

type reqLog struct {
	mu sync.Mutex
	rs []*http.Request
}

func (l *reqLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rs = append(l.rs, r.Clone(context.Background()))
}

func (l *reqLog) all() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*http.Request(nil), l.rs...)
}

// syncBuffer is a log destination safe for the goroutines under test.
type syncBuffer = logtest.Buffer

// newHostileFeed serves h (n counts the requests from 1) and builds a client of it.
func newHostileFeed(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int), mutate func(*proff.Options)) *hostileFeed {
	t.Helper()
	f := &hostileFeed{clk: clocktest.At(feedNow), reqs: &reqLog{}, logs: &syncBuffer{}, calls: &calls{}}
	var n atomic.Int64
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.reqs.add(r)
		h(w, r, int(n.Add(1)))
	}))
	t.Cleanup(f.srv.Close)
	o := proff.Options{BaseURL: f.srv.URL, Token: secret, RatePerSecond: 1000, Recorder: f.calls, Clock: f.clk,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)), Rand: func() float64 { return 0.5 }, MaxAttempts: 2}
	if mutate != nil {
		mutate(&o)
	}
	c, err := proff.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func (f *hostileFeed) read(t *testing.T, opt proff.FeedOptions) ([]proff.Change, proff.FeedResult, error) {
	t.Helper()
	var got []proff.Change
	res, err := f.c.Changes(context.Background(), "NO", feedNow.Add(-48*time.Hour), opt, func(ch proff.Change) error {
		got = append(got, ch)
		return nil
	})
	return got, res, err
}

func orgs(cs []proff.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.OrgNumber)
	}
	return strings.Join(s, " ")
}

// entity is one feed entry at feedNow minus an hour.
func entity(id string) string {
	return fmt.Sprintf(`{"id":%q,"createdDate":%d,"patchId":"p-%s"}`, id, feedNow.Add(-time.Hour).UnixMilli(), id)
}

func page(next string, ids ...string) string {
	var es []string
	for _, id := range ids {
		es = append(es, entity(id))
	}
	s := `{"numberOfHits":3,"entities":[` + strings.Join(es, ",") + `]`
	if next != "" {
		s += `,"next":{"href":"` + next + `","rel":"next"}`
	}
	return s + "}"
}

// Every documented form of next.href is followed on the configured host, with the token, and the query it
// carries is sent as it came (a scrollId with other parameters too).
func TestHostileFeedFollowsEveryHrefForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		href      func(host string) string
		wantQuery string
	}{
		{"absolute", func(h string) string { return "http://" + h + "/api/changes/register/NO?scrollId=s2" }, "scrollId=s2"},
		{"relative to the host", func(string) string { return "/api/changes/register/NO?scrollId=s2" }, "scrollId=s2"},
		{"query only", func(string) string { return "?scrollId=s2" }, "scrollId=s2"},
		{"scrollId with other parameters", func(string) string {
			return "/api/changes/register/NO?since=2026-11-27&types=ADDED&types=MUTATED&scrollId=s2"
		}, "since=2026-11-27&types=ADDED&types=MUTATED&scrollId=s2"},
		{"base64 scroll id", func(string) string { return "?scrollId=DXF1ZXJ5QW5k%2BRmV0Y2g%3D%3D" }, "scrollId=DXF1ZXJ5QW5k%2BRmV0Y2g%3D%3D"},
		{"absolute, country in lower case", func(h string) string { return "http://" + h + "/api/changes/register/no?scrollId=s2" }, "scrollId=s2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
				switch n {
				case 1:
					fmt.Fprint(w, page(tc.href(r.Host), hfA, hfB))
				case 2:
					fmt.Fprint(w, page("", hfC))
				default:
					t.Errorf("request %d: %s", n, r.URL)
				}
			}, nil)
			got, res, err := f.read(t, proff.FeedOptions{})
			if err != nil || orgs(got) != hfA+" "+hfB+" "+hfC || res.Pages != 2 {
				t.Fatalf("%q %+v %v; want three entries over two pages", orgs(got), res, err)
			}
			reqs := f.reqs.all()
			if q := reqs[1].URL.RawQuery; q != tc.wantQuery {
				t.Errorf("second page asked with %q, want %q", q, tc.wantQuery)
			}
			for _, r := range reqs {
				if r.Header.Get("Authorization") != "Token "+secret || r.Method != http.MethodGet {
					t.Errorf("%s %s without the token", r.Method, r.URL)
				}
			}
		})
	}
}

// The read ends at the first page without a next link (absent, null, a null or blank href) or without
// entities (empty, null, absent), whatever the rest of the page says.
func TestHostileFeedEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		entries    int
	}{
		{"next absent", `{"entities":[` + entity(hfA) + `]}`, 1},
		{"next null", `{"entities":[` + entity(hfA) + `],"next":null}`, 1},
		{"href null", `{"entities":[` + entity(hfA) + `],"next":{"href":null,"rel":"next"}}`, 1},
		{"href blank", `{"entities":[` + entity(hfA) + `],"next":{"href":"  ","rel":"next"}}`, 1},
		{"next without href", `{"entities":[` + entity(hfA) + `],"next":{"rel":"next"}}`, 1},
		{"entities empty, next given", `{"numberOfHits":5,"entities":[],"next":{"href":"?scrollId=2"}}`, 0},
		{"entities null, next given", `{"entities":null,"next":{"href":"?scrollId=2"}}`, 0},
		{"entities absent, next given", `{"numberOfHits":0,"next":{"href":"?scrollId=2"}}`, 0},
		{"empty object", `{}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n > 1 {
					t.Errorf("asked again: %s", r.URL)
				}
				fmt.Fprint(w, tc.body)
			}, nil)
			got, res, err := f.read(t, proff.FeedOptions{})
			if err != nil || len(got) != tc.entries || res.Pages != 1 {
				t.Errorf("%q %+v %v; want %d entries from one page", orgs(got), res, err, tc.entries)
			}
		})
	}
}

// A next link to another host, scheme, port, user, country or resource is never followed and the token
// never reaches it: the read fails (the country falls back to full lookups).
func TestHostileFeedRefusesNextElsewhere(t *testing.T) {
	t.Parallel()
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		if strings.Contains(r.Header.Get("Authorization"), secret) {
			t.Errorf("the token reached another host")
		}
		fmt.Fprint(w, `{"entities":[]}`)
	}))
	t.Cleanup(other.Close)
	t.Cleanup(func() {
		if n := otherHits.Load(); n != 0 {
			t.Errorf("%d requests reached the other host", n)
		}
	})
	otherHost := strings.TrimPrefix(other.URL, "http://")
	for _, tc := range []struct {
		name string
		href func(host string) string
	}{
		{"another host", func(string) string { return other.URL + "/api/changes/register/NO?scrollId=2" }},
		{"protocol-relative to another host", func(string) string { return "//" + otherHost + "/api/changes/register/NO?scrollId=2" }},
		{"another scheme", func(h string) string { return "https://" + h + "/api/changes/register/NO?scrollId=2" }},
		{"another port", func(h string) string {
			return "http://" + strings.Split(h, ":")[0] + ":1/api/changes/register/NO?scrollId=2"
		}},
		{"user info", func(h string) string { return "http://x:y@" + h + "/api/changes/register/NO?scrollId=2" }},
		{"another resource", func(string) string { return "/api/companies/register/NO/" + hfA }},
		{"dot segments out of the feed", func(string) string { return "/api/changes/register/../../companies/register/NO/" + hfA }},
		{"another country's feed", func(string) string { return "/api/changes/register/SE?scrollId=2" }},
		{"below the feed", func(string) string { return "/api/changes/register/NO/x/y?scrollId=2" }},
		{"javascript", func(string) string { return "javascript:alert(1)" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if n > 1 {
					t.Errorf("followed to %s", r.URL)
				}
				fmt.Fprint(w, page(tc.href(r.Host), hfA))
			}, nil)
			_, res, err := f.read(t, proff.FeedOptions{})
			if !errors.Is(err, proff.ErrFeedFailed) || res.Pages != 1 {
				t.Errorf("%+v %v; want ErrFeedFailed after one page", res, err)
			}
			if strings.Contains(fmt.Sprint(err), secret) {
				t.Errorf("the error names the token: %v", err)
			}
		})
	}
}

// Proff's scrollId is an Elasticsearch scroll (the name, "every other parameter is ignored"), whose id
// often stays the same from page to page: the same next link with new entities is paging, not a loop.
func TestHostileFeedSameScrollIDWithNewEntities(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch n {
		case 1:
			fmt.Fprint(w, page("?scrollId=same", hfA))
		case 2:
			fmt.Fprint(w, page("?scrollId=same", hfB))
		case 3:
			fmt.Fprint(w, page("?scrollId=same", hfC))
		default:
			fmt.Fprint(w, `{"numberOfHits":3,"entities":[],"next":{"href":"?scrollId=same"}}`)
		}
	}, nil)
	got, res, err := f.read(t, proff.FeedOptions{})
	if err != nil || orgs(got) != hfA+" "+hfB+" "+hfC || res.Pages != 4 {
		t.Fatalf("%q %+v %v; want the three entries over four pages", orgs(got), res, err)
	}
}

// A next that loops (the same page again and again, or a cycle of scroll ids) is bounded: it is noticed on
// the first page that repeats one already read, and pages that never end stop at MaxPages.
func TestHostileFeedLoopsAreBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		serve func(n int) string
		pages int
	}{
		{"same page for ever", func(int) string { return page("?scrollId=same", hfA) }, 2},
		{"cycle of two", func(n int) string {
			if n%2 == 1 {
				return page("?scrollId=b", hfA)
			}
			return page("?scrollId=a", hfB)
		}, 3},
		{"back to the first page", func(n int) string {
			if n == 1 {
				return page("/api/changes/register/NO?since=2026-11-27", hfA)
			}
			return page("/api/changes/register/NO?since=2026-11-27", hfA)
		}, 2},
		{"new scroll id, same entities, varying noise", func(n int) string {
			return strings.Replace(page(fmt.Sprintf("?scrollId=%d", n), hfA), `"numberOfHits":3`, fmt.Sprintf(`"took":%d`, n), 1)
		}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, n int) { fmt.Fprint(w, tc.serve(n)) }, nil)
			_, res, err := f.read(t, proff.FeedOptions{MaxPages: 7})
			if !errors.Is(err, proff.ErrFeedFailed) || res.Pages > tc.pages {
				t.Errorf("%+v %v; want ErrFeedFailed within %d pages", res, err, tc.pages)
			}
		})
	}
}

// numberOfHits is only informative: absent, wrong, a string, negative, a fraction or an object never stop
// or shorten the read.
func TestHostileFeedNumberOfHits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hits string
		want int
	}{
		{``, -1}, {`"numberOfHits":1,`, 1}, {`"numberOfHits":"2",`, 2}, {`"numberOfHits":-4,`, -1},
		{`"numberOfHits":2.5,`, -1}, {`"numberOfHits":{"value":2},`, -1}, {`"numberOfHits":null,`, -1},
		{`"numberOfHits":99999999999999999999,`, -1},
	} {
		t.Run(tc.hits, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					fmt.Fprint(w, `{`+tc.hits+`"entities":[`+entity(hfA)+`,`+entity(hfB)+`],"next":{"href":"?scrollId=2"}}`)
					return
				}
				fmt.Fprint(w, `{`+tc.hits+`"entities":[`+entity(hfC)+`]}`)
			}, nil)
			got, res, err := f.read(t, proff.FeedOptions{})
			if err != nil || len(got) != 3 || res.NumberOfHits != tc.want {
				t.Errorf("%q %+v %v; want three entries and NumberOfHits %d", orgs(got), res, err, tc.want)
			}
		})
	}
}

// Entities carry unknown keys, a patch in any shape, and keys in another case; they are read all the same.
func TestHostileFeedExtraFields(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		fmt.Fprint(w, `{"numberOfHits":2,"took":3,"_shards":{"ok":1},"entities":[
			{"id":"`+hfA+`","createdDate":1764381600000,"patchId":"a","patch":[{"op":"replace","path":"/name","value":"X"}],"type":"MUTATED","score":1.2,"links":[{"rel":"self"}]},
			{"ID":"`+hfB+`","CreatedDate":1764381600000,"PatchId":7,"patch":"not a patch","nested":{"deep":[1,2,{"x":null}]}}],
			"next":null,"links":{"self":"x"}}`)
	}, nil)
	got, _, err := f.read(t, proff.FeedOptions{})
	if err != nil || orgs(got) != hfA+" "+hfB || got[1].PatchID != "7" || !got[1].At.Equal(time.UnixMilli(1764381600000)) {
		t.Fatalf("%+v %v", got, err)
	}
}

// createdDate comes as epoch milliseconds (documented), or as a string, seconds, a date text, null or not
// at all. A date that is read must be the instant meant: a change read as 1970 would look older than every
// lookup and be missed. A date that cannot be read is zero (the caller takes "now").
func TestHostileFeedCreatedDate(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 28, 14, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, value string
		want        time.Time
	}{
		{"milliseconds", fmt.Sprint(at.UnixMilli()), at},
		{"milliseconds as a string", fmt.Sprintf("%q", fmt.Sprint(at.UnixMilli())), at},
		{"milliseconds with a fraction", fmt.Sprint(at.UnixMilli()) + ".0", at},
		{"seconds", fmt.Sprint(at.Unix()), at},
		{"seconds as a string", fmt.Sprintf("%q", fmt.Sprint(at.Unix())), at},
		{"RFC 3339", `"2026-11-28T15:30:00+01:00"`, at},
		{"null", `null`, time.Time{}},
		{"blank", `""`, time.Time{}},
		{"garbage", `"yesterday"`, time.Time{}},
		{"an object", `{"ms":1}`, time.Time{}},
		{"negative", `-5`, time.Time{}},
		{"zero", `0`, time.Time{}},
		{"beyond any calendar", `99999999999999999999`, time.Time{}},
		{"microseconds", fmt.Sprint(at.UnixMicro()), time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				fmt.Fprint(w, `{"entities":[{"id":"`+hfA+`","createdDate":`+tc.value+`}]}`)
			}, nil)
			got, _, err := f.read(t, proff.FeedOptions{})
			if err != nil || len(got) != 1 || !got[0].At.Equal(tc.want) {
				t.Errorf("%+v %v; want one entry at %v", got, err, tc.want)
			}
		})
	}
	t.Run("absent", func(t *testing.T) {
		t.Parallel()
		f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			fmt.Fprint(w, `{"entities":[{"id":"`+hfA+`"}]}`)
		}, nil)
		got, _, err := f.read(t, proff.FeedOptions{})
		if err != nil || len(got) != 1 || !got[0].At.IsZero() {
			t.Errorf("%+v %v", got, err)
		}
	})
}

// ids are normalised as people write them; what is not a valid number for the country is skipped, counted
// and logged (without the id: the log holds no payload), and never fails the read.
func TestHostileFeedIDs(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		fmt.Fprint(w, `{"entities":[
			{"id":"912 345 688"},{"id":"920-000-010"},{"id":"NO923609016MVA"},{"id":" no 923.609.016 "},{"id":912345688},
			{"id":"912345687"},{"id":"abc"},{"id":""},{"id":null},{"id":{"nr":"912345688"}},{},{"id":"12345678901234567890"}]}`)
	}, nil)
	got, res, err := f.read(t, proff.FeedOptions{})
	if err != nil || orgs(got) != strings.Join([]string{hfA, hfB, hfC, hfC, hfA}, " ") || res.Changes != 5 || res.Skipped != 7 {
		t.Fatalf("%q %+v %v", orgs(got), res, err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "skipped=7") {
		t.Errorf("the skipped entries are not logged: %s", logs)
	}
	if strings.Contains(logs, "912345687") {
		t.Errorf("the log holds an entry's id: %s", logs)
	}
}

// An entry listed twice (on one page or two) is passed on twice: the caller keeps the newest.
func TestHostileFeedDuplicates(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			fmt.Fprint(w, page("?scrollId=2", hfA, hfA))
			return
		}
		fmt.Fprint(w, page("", hfA))
	}, nil)
	got, res, err := f.read(t, proff.FeedOptions{})
	if err != nil || orgs(got) != hfA+" "+hfA+" "+hfA || res.Pages != 2 {
		t.Fatalf("%q %+v %v", orgs(got), res, err)
	}
}

// A page larger than MaxBody, with or without a Content-Length, and a 200 with an HTML body fail the read
// after one call: retrying would get the same.
func TestHostileFeedBodies(t *testing.T) {
	t.Parallel()
	big := `{"entities":[` + strings.Repeat(entity(hfA)+",", 200) + entity(hfA) + `]}`
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter)
	}{
		{"huge, with length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			fmt.Fprint(w, big)
		}},
		{"huge, chunked", func(w http.ResponseWriter) {
			for i := 0; i < len(big); i += 1000 {
				fmt.Fprint(w, big[i:min(i+1000, len(big))])
				w.(http.Flusher).Flush()
			}
		}},
		{"HTML", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>")
		}},
		{"empty", func(http.ResponseWriter) {}},
		{"a list", func(w http.ResponseWriter) { fmt.Fprint(w, `[`+entity(hfA)+`]`) }},
		{"JSON null", func(w http.ResponseWriter) { fmt.Fprint(w, `null`) }},
		{"cut off", func(w http.ResponseWriter) { fmt.Fprint(w, `{"entities":[`+entity(hfA)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, _ int) { tc.serve(w) },
				func(o *proff.Options) { o.MaxBody = 4 << 10 })
			got, res, err := f.read(t, proff.FeedOptions{})
			if !errors.Is(err, proff.ErrFeedFailed) || res.Pages != 1 || len(got) != 0 {
				t.Errorf("%q %+v %v; want ErrFeedFailed after one page and no entry", orgs(got), res, err)
			}
			if n := len(f.reqs.all()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// Statuses: 401 stops the run (the token is refused for everything); a 4xx on the first page means no feed
// for the country; the same 4xx after a page was read (an expired scroll) is a failed read, not "no feed":
// the country has one. 429 waits out Retry-After through the limiter; a 5xx after the retries fails the
// read.
func TestHostileFeedStatuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		onPage int
		check  func(error) bool
	}{
		{"401", 401, 1, func(err error) bool {
			return errors.Is(err, massupdate.ErrUnauthorized) && !errors.Is(err, proff.ErrFeedFailed) && !errors.Is(err, proff.ErrFeedUnsupported)
		}},
		{"401 mid-way", 401, 2, func(err error) bool {
			return errors.Is(err, massupdate.ErrUnauthorized) && !errors.Is(err, proff.ErrFeedFailed) && !errors.Is(err, proff.ErrFeedUnsupported)
		}},
		{"403", 403, 1, func(err error) bool { return errors.Is(err, proff.ErrFeedUnsupported) }},
		{"404", 404, 1, func(err error) bool { return errors.Is(err, proff.ErrFeedUnsupported) }},
		{"400", 400, 1, func(err error) bool { return errors.Is(err, proff.ErrFeedUnsupported) }},
		{"405", 405, 1, func(err error) bool { return errors.Is(err, proff.ErrFeedUnsupported) }},
		{"404 mid-way", 404, 2, func(err error) bool {
			return errors.Is(err, proff.ErrFeedFailed) && !errors.Is(err, proff.ErrFeedUnsupported)
		}},
		{"400 mid-way", 400, 3, func(err error) bool {
			return errors.Is(err, proff.ErrFeedFailed) && !errors.Is(err, proff.ErrFeedUnsupported)
		}},
		{"503 mid-way", 503, 2, func(err error) bool {
			return errors.Is(err, proff.ErrFeedFailed) && !errors.Is(err, proff.ErrFeedUnsupported)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pageNo := 0
			f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if r.URL.Query().Get("scrollId") == "" {
					pageNo = 1
				} else {
					fmt.Sscan(r.URL.Query().Get("scrollId"), &pageNo)
				}
				if pageNo >= tc.onPage {
					w.Header().Set("Content-Type", "text/html")
					w.WriteHeader(tc.status)
					fmt.Fprint(w, "<html>no</html>")
					return
				}
				fmt.Fprint(w, page(fmt.Sprintf("?scrollId=%d", pageNo+1), []string{hfA, hfB, hfC}[pageNo-1]))
			}, nil)
			_, res, err := f.read(t, proff.FeedOptions{})
			if !tc.check(err) || res.Pages != tc.onPage {
				t.Errorf("%+v %v", res, err)
			}
		})
	}
}

// A 429 on a page waits its Retry-After (seconds or an HTTP date) on the client's clock, then the read goes
// on where it was.
func TestHostileFeedRateLimited(t *testing.T) {
	t.Parallel()
	for _, after := range []string{"7", feedNow.Add(7 * time.Second).Format(http.TimeFormat)} {
		t.Run(after, func(t *testing.T) {
			t.Parallel()
			f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
				switch {
				case n == 1:
					fmt.Fprint(w, page("?scrollId=2", hfA))
				case n == 2:
					w.Header().Set("Retry-After", after)
					w.WriteHeader(http.StatusTooManyRequests)
				case r.URL.RawQuery == "scrollId=2":
					fmt.Fprint(w, page("", hfB))
				default:
					t.Errorf("request %d: %s", n, r.URL)
				}
			}, func(o *proff.Options) { o.RatePerSecond = 1 })
			got, res, err := f.read(t, proff.FeedOptions{})
			if err != nil || orgs(got) != hfA+" "+hfB || res.Pages != 2 {
				t.Fatalf("%q %+v %v", orgs(got), res, err)
			}
			if d := f.clk.Now().Sub(feedNow); d < 7*time.Second {
				t.Errorf("waited %s after a 429 asking for 7s", d)
			}
			if n := len(f.calls.all()); n != 3 {
				t.Errorf("%d calls in the technical log, want 3", n)
			}
		})
	}
}

// since goes as its date in the location given, types and fields as repeated parameters, nothing else.
func TestHostileFeedQuery(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, _ int) { fmt.Fprint(w, `{"entities":[]}`) }, nil)
	oslo := time.FixedZone("CET", 3600)
	since := time.Date(2026, 11, 27, 0, 30, 0, 0, oslo) // 2026-11-26 23:30 UTC
	_, err := f.c.Changes(context.Background(), "no", since, proff.FeedOptions{
		Types:  []proff.FeedType{proff.FeedAdded, proff.FeedMutated},
		Fields: []string{"/name", "/visitorAddress", "/naceCategories"},
	}, func(proff.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	r := f.reqs.all()[0]
	if r.URL.Path != "/api/changes/register/NO" {
		t.Errorf("path %s", r.URL.Path)
	}
	q := r.URL.Query()
	if len(q) != 3 || q.Get("since") != "2026-11-27" || fmt.Sprint(q["types"]) != "[ADDED MUTATED]" ||
		fmt.Sprint(q["fields"]) != "[/name /visitorAddress /naceCategories]" {
		t.Errorf("query %s", r.URL.RawQuery)
	}
}

// A next given as a bare href (a string, not {"href","rel"}) is followed like the documented form; a next
// that is neither fails the read.
func TestHostileFeedNextAsABareHref(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			fmt.Fprint(w, `{"entities":[`+entity(hfA)+`],"next":"?scrollId=2"}`)
			return
		}
		fmt.Fprint(w, `{"entities":[`+entity(hfB)+`]}`)
	}, nil)
	got, res, err := f.read(t, proff.FeedOptions{})
	if err != nil || orgs(got) != hfA+" "+hfB || res.Pages != 2 {
		t.Fatalf("%q %+v %v", orgs(got), res, err)
	}
	g := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		fmt.Fprint(w, `{"entities":[`+entity(hfA)+`],"next":["?scrollId=2"]}`)
	}, nil)
	if _, _, err := g.read(t, proff.FeedOptions{}); !errors.Is(err, proff.ErrFeedFailed) {
		t.Errorf("a next that is a list: %v, want ErrFeedFailed", err)
	}
}

// A feed that pages on beyond MaxPages fails as too long, so that the caller does not ask for the same
// long span again.
func TestHostileFeedTooLong(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		fmt.Fprint(w, page(fmt.Sprintf("?scrollId=%d", n), hfA))
	}, nil)
	_, res, err := f.read(t, proff.FeedOptions{MaxPages: 3})
	if !errors.Is(err, proff.ErrFeedTooLong) || !errors.Is(err, proff.ErrFeedFailed) || res.Pages != 3 {
		t.Errorf("%+v %v; want ErrFeedTooLong and ErrFeedFailed after 3 pages", res, err)
	}
}
