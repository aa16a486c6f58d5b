package proffemu_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/proffemu"
)

type feedPage struct {
	NumberOfHits int `json:"numberOfHits"`
	Entities     []struct {
		ID          string             `json:"id"`
		CreatedDate int64              `json:"createdDate"`
		PatchID     string             `json:"patchId"`
		Patch       []proffemu.PatchOp `json:"patch"`
	} `json:"entities"`
	Next *struct{ Href, Rel string } `json:"next"`
}

var feedNow = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

func newFeedEmu(t *testing.T) *proffemu.Server {
	t.Helper()
	s := proffemu.New(proffemu.Options{Token: "tok", Now: func() time.Time { return feedNow }})
	t.Cleanup(s.Close)
	return s
}

func getFeed(t *testing.T, rawURL string) (int, feedPage) {
	t.Helper()
	st, _, body := get(t, rawURL, "Token tok")
	var p feedPage
	if st == http.StatusOK {
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("GET %s: %v in %s", rawURL, err, body)
		}
	}
	return st, p
}

func ids(p feedPage) []string {
	var out []string
	for _, e := range p.Entities {
		out = append(out, e.ID)
	}
	return out
}

// resolve follows next.href from the page at pageURL, as a browser would.
func resolve(t *testing.T, pageURL, href string) string {
	t.Helper()
	base, _ := url.Parse(pageURL)
	ref, err := url.Parse(href)
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(ref).String()
}

func TestFeedPagesThroughEveryHrefForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		form  proffemu.HrefForm
		check func(href string) bool
	}{
		{proffemu.HrefAbsolute, func(h string) bool { return strings.HasPrefix(h, "http://127.0.0.1:") }},
		{proffemu.HrefRelative, func(h string) bool { return strings.HasPrefix(h, "/api/changes/register/NO?scrollId=") }},
		{proffemu.HrefScrollOnly, func(h string) bool { return strings.HasPrefix(h, "?scrollId=") }},
	} {
		t.Run(fmt.Sprint(tc.form), func(t *testing.T) {
			t.Parallel()
			s := newFeedEmu(t)
			s.SetFeedHref(tc.form)
			s.SetFeedPageSize(4)
			s.Noise("NO", 10, feedNow.Add(-time.Hour))
			u := s.URL() + "/api/changes/register/NO"
			var got []string
			var sizes []int
			patchIDs := map[string]bool{}
			for pages := 0; u != ""; pages++ {
				if pages > 5 {
					t.Fatal("no end to the pages")
				}
				st, p := getFeed(t, u)
				if st != 200 || p.NumberOfHits != 10 {
					t.Fatalf("status %d, hits %d", st, p.NumberOfHits)
				}
				got = append(got, ids(p)...)
				sizes = append(sizes, len(p.Entities))
				for _, e := range p.Entities {
					patchIDs[e.PatchID] = true
					if e.CreatedDate != feedNow.Add(-time.Hour).UnixMilli() || e.Patch != nil {
						t.Errorf("entity %+v: createdDate in ms, no patch without withPatch", e)
					}
				}
				u = ""
				if p.Next != nil {
					if !tc.check(p.Next.Href) || p.Next.Rel != "next" {
						t.Fatalf("next %+v is not of the form asked for", p.Next)
					}
					u = resolve(t, s.URL()+"/api/changes/register/NO", p.Next.Href)
				}
			}
			if fmt.Sprint(sizes) != "[4 4 2]" || len(got) != 10 || len(patchIDs) != 10 {
				t.Errorf("page sizes %v, %d ids, %d patch ids; want 4+4+2, all distinct", sizes, len(got), len(patchIDs))
			}
		})
	}
}

func TestFeedDefaultPageIsAThousand(t *testing.T) {
	t.Parallel()
	s := newFeedEmu(t)
	s.Noise("NO", 1001, feedNow.Add(-time.Minute))
	_, p := getFeed(t, s.URL()+"/api/changes/register/NO")
	if len(p.Entities) != 1000 || p.Next == nil || p.NumberOfHits != 1001 {
		t.Fatalf("%d entities, next %v, hits %d", len(p.Entities), p.Next, p.NumberOfHits)
	}
	_, last := getFeed(t, resolve(t, s.URL(), p.Next.Href))
	if len(last.Entities) != 1 || last.Next != nil {
		t.Errorf("last page: %d entities, next %v; want 1 and no next", len(last.Entities), last.Next)
	}
}

func TestFeedFilters(t *testing.T) {
	t.Parallel()
	s := newFeedEmu(t)
	no := proffemu.Seed()[0]
	other := proffemu.Seed()[1]
	day := func(n int) time.Time { return feedNow.Add(time.Duration(-n) * 24 * time.Hour) }
	if err := s.Mutate("NO", no.OrgNumber, day(3), func(d map[string]any) { d["name"] = "NYTT NAVN AS" }); err != nil {
		t.Fatal(err)
	}
	if err := s.Mutate("NO", other.OrgNumber, day(2), func(d map[string]any) {
		d["visitorAddress"].(map[string]any)["zipCode"] = "9999"
	}); err != nil {
		t.Fatal(err)
	}
	// An edit that changes nothing lists nothing.
	s.Mutate("NO", other.OrgNumber, day(2), func(d map[string]any) {})
	added := proffemu.Company{Country: "NO", OrgNumber: proffemu.ValidNumber("NO", "81111111"), Name: "NY BEDRIFT AS"}
	s.Add(added, day(1).Add(-time.Hour))
	s.Remove("NO", proffemu.Seed()[2].OrgNumber, feedNow.Add(-time.Hour))

	feed := s.URL() + "/api/changes/register/NO"
	for _, tc := range []struct{ query, want string }{
		{"", "[" + proffemu.Seed()[2].OrgNumber + "]"}, // default: the last day
		{"?since=" + day(3).Format("2006-01-02"), fmt.Sprint([]string{no.OrgNumber, other.OrgNumber, added.OrgNumber, proffemu.Seed()[2].OrgNumber})},
		{"?since=" + day(2).Format("2006-01-02") + "&types=MUTATED", "[" + other.OrgNumber + "]"},
		{"?since=" + day(3).Format("2006-01-02") + "&types=ADDED&types=REMOVED", fmt.Sprint([]string{added.OrgNumber, proffemu.Seed()[2].OrgNumber})},
		// fields filters MUTATED only; ADDED and REMOVED still come.
		{"?since=" + day(3).Format("2006-01-02") + "&fields=/name", fmt.Sprint([]string{no.OrgNumber, added.OrgNumber, proffemu.Seed()[2].OrgNumber})},
		{"?since=" + day(3).Format("2006-01-02") + "&fields=/visitorAddress&types=MUTATED", "[" + other.OrgNumber + "]"},
		{"?since=" + day(3).Format("2006-01-02") + "&fields=/visitor&types=MUTATED", "[]"}, // whole segments
		{"?since=" + day(3).Format("2006-01-02") + "&fields=/phoneNumbers&fields=/name&types=MUTATED", "[" + no.OrgNumber + "]"},
	} {
		st, p := getFeed(t, feed+tc.query)
		if st != 200 || fmt.Sprint(ids(p)) != tc.want {
			t.Errorf("%s: %d %v, want %s", tc.query, st, ids(p), tc.want)
		}
	}
	_, p := getFeed(t, feed+"?since="+day(3).Format("2006-01-02")+"&types=MUTATED&withPatch=true")
	if len(p.Entities) != 2 || len(p.Entities[0].Patch) != 1 || p.Entities[0].Patch[0].Path != "/name" ||
		p.Entities[0].Patch[0].Value != "NYTT NAVN AS" || p.Entities[1].Patch[0].Path != "/visitorAddress/zipCode" {
		t.Errorf("withPatch: %+v", p.Entities)
	}
	// The register serves what changed, and what was removed is gone.
	_, _, body := get(t, s.URL()+"/api/companies/register/NO/"+no.OrgNumber, "Token tok")
	if !strings.Contains(string(body), `"name":"NYTT NAVN AS"`) {
		t.Errorf("the register does not serve the mutated document")
	}
	if st, _, _ := get(t, s.URL()+"/api/companies/register/NO/"+proffemu.Seed()[2].OrgNumber, "Token tok"); st != 404 {
		t.Errorf("removed company: %d", st)
	}
	if st, _, _ := get(t, s.URL()+"/api/companies/register/NO/"+added.OrgNumber, "Token tok"); st != 200 {
		t.Errorf("added company: %d", st)
	}
	for _, q := range []string{"?since=29.11.2026", "?types=CHANGED", "?fields=name"} {
		if st, _ := getFeed(t, feed+q); st != 400 {
			t.Errorf("%s: %d, want 400", q, st)
		}
	}
	if err := s.Mutate("NO", "984851006", feedNow, func(map[string]any) {}); err == nil {
		t.Error("Mutate of an unknown company did not fail")
	}
}

func TestFeedKeepsThirtyDays(t *testing.T) {
	t.Parallel()
	s := newFeedEmu(t)
	s.Noise("NO", 2, feedNow.Add(-31*24*time.Hour))
	s.Noise("NO", 3, feedNow.Add(-29*24*time.Hour))
	s.Noise("NO", 1, feedNow.Add(time.Hour)) // not yet happened
	st, p := getFeed(t, s.URL()+"/api/changes/register/NO?since=2026-01-01")
	if st != 200 || len(p.Entities) != 3 || p.NumberOfHits != 3 {
		t.Errorf("since long ago: %d, %d entities (hits %d); want the 3 of the last 30 days", st, len(p.Entities), p.NumberOfHits)
	}
	if s.FeedLen("NO") != 6 {
		t.Errorf("FeedLen %d", s.FeedLen("NO"))
	}
}

func TestFeedUnsupportedCountry(t *testing.T) {
	t.Parallel()
	s := newFeedEmu(t)
	for _, cc := range []string{"SE", "DK", "FI", "DE", "no"} {
		st, _, body := get(t, s.URL()+"/api/changes/register/"+cc, "Token tok")
		if st != 400 || len(body) != 0 {
			t.Errorf("%s: %d %q, want 400 without a body", cc, st, body)
		}
	}
	s.SetFeedUnsupportedStatus(http.StatusNotFound)
	if st, _, _ := get(t, s.URL()+"/api/changes/register/SE", "Token tok"); st != 404 {
		t.Errorf("switched status: %d", st)
	}
	s.SetFeedCountries("NO", "SE")
	if st, _ := getFeed(t, s.URL()+"/api/changes/register/SE"); st != 200 {
		t.Errorf("SE made a feed country: %d", st)
	}
	// The feed goes through the same gate as every endpoint: token, GET only, the request log, faults.
	if st, _, _ := get(t, s.URL()+"/api/changes/register/NO", "Token nope"); st != 401 {
		t.Errorf("wrong token: %d", st)
	}
	s.FailNext(1, http.StatusServiceUnavailable, "")
	if st, _, _ := get(t, s.URL()+"/api/changes/register/NO", "Token tok"); st != 503 {
		t.Errorf("injected fault: %d", st)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/changes/register/NO", nil)
	req.Header.Set("Authorization", "Token tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if n := len(s.Requests()); n != 10 {
		t.Errorf("%d requests logged, want 10", n)
	}
	s.ForbidCountry("NO")
	if st, _, _ := get(t, s.URL()+"/api/changes/register/NO", "Token tok"); st != 403 {
		t.Errorf("country outside the agreement: %d", st)
	}
}

func TestFeedScrollIDIgnoresOtherParameters(t *testing.T) {
	t.Parallel()
	s := newFeedEmu(t)
	s.SetFeedPageSize(2)
	s.SetFeedHref(proffemu.HrefScrollOnly)
	s.Noise("NO", 5, feedNow.Add(-time.Hour))
	_, first := getFeed(t, s.URL()+"/api/changes/register/NO?types=MUTATED")
	if first.Next == nil {
		t.Fatal("no next")
	}
	// Parameters that would select nothing are ignored next to a scrollId.
	st, p := getFeed(t, s.URL()+"/api/changes/register/NO"+first.Next.Href+"&types=ADDED&since=2020-01-01&fields=/nothing")
	if st != 200 || len(p.Entities) != 2 || p.NumberOfHits != 5 {
		t.Errorf("scrollId with other parameters: %d, %d entities, hits %d", st, len(p.Entities), p.NumberOfHits)
	}
	// Entries that arrive while a client pages do not shift its pages.
	s.Noise("NO", 3, feedNow.Add(-time.Minute))
	_, again := getFeed(t, s.URL()+"/api/changes/register/NO"+first.Next.Href)
	if fmt.Sprint(ids(again)) != fmt.Sprint(ids(p)) {
		t.Errorf("the same scrollId gave %v, then %v", ids(p), ids(again))
	}
	if st, _ := getFeed(t, s.URL()+"/api/changes/register/NO?scrollId=nope"); st != 400 {
		t.Errorf("unknown scrollId: %d", st)
	}
}

// ShiftFeed ages every entry: a day's shift moves each createdDate back a day, and the entries pushed out of
// the 30-day window are gone from the answer.
func TestShiftFeedAgesEveryEntry(t *testing.T) {
	t.Parallel()
	s := newFeedEmu(t)
	s.Noise("NO", 2, feedNow.Add(-29*24*time.Hour-time.Hour))
	s.Noise("NO", 1, feedNow.Add(-time.Hour))
	s.ShiftFeed(24 * time.Hour)
	st, p := getFeed(t, s.URL()+"/api/changes/register/NO?since=2026-01-01")
	if st != 200 || len(p.Entities) != 1 {
		t.Fatalf("after a day's shift: %d, %d entities; want the 1 entry still inside 30 days", st, len(p.Entities))
	}
	if got, want := p.Entities[0].CreatedDate, feedNow.Add(-25*time.Hour).UnixMilli(); got != want {
		t.Errorf("createdDate %d, want %d (a day older)", got, want)
	}
}
