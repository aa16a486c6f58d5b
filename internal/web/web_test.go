package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/web"
)

type response struct {
	Code   int
	Header http.Header
	Body   string
}

func do(t testing.TB, h http.Handler, method, target string, auth ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return response{Code: rec.Code, Header: rec.Result().Header, Body: string(body)}
}

func get(t testing.TB, h http.Handler, target string) response {
	t.Helper()
	r := do(t, h, http.MethodGet, target)
	if r.Code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", target, r.Code, r.Body)
	}
	return r
}

func pages(s *store.Store, pageSize int) http.Handler {
	return web.New(web.Options{Store: s, Loopback: true, Clock: pagesClock, PageSize: pageSize})
}

// history is a small history: a partial run with an updated, a failed and a not-found record, an
// interrupted run and the run that resumed it.
func history(t testing.TB, s *store.Store) (partial, interrupted, resumed massupdate.Run) {
	t.Helper()
	partial = seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0}, Status: massupdate.Partial, Took: 3*time.Minute + 10*time.Second,
		Results: []massupdate.RecordResult{
			{RecordID: "001000000000001AAA", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
			{RecordID: "001000000000002AAA", OrgNumber: "988888888", Country: "SE", Outcome: massupdate.Failed, Reason: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Name is locked"},
			{RecordID: "001000000000003AAA", OrgNumber: "999999999", Country: "NO", Outcome: massupdate.NotFound, Reason: "not in Proff"},
		},
		Changes: []massupdate.FieldChange{
			{RecordID: "001000000000001AAA", Field: "Name", Old: "Equinor", New: "EQUINOR ASA"},
			{RecordID: "001000000000001AAA", Field: "NumberOfEmployees", Old: nil, New: float64(21126)},
		}})
	interrupted = seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(24 * time.Hour)}, Status: massupdate.Interrupted,
		Error: "Salesforce API quota exhausted", Took: time.Minute,
		Results: []massupdate.RecordResult{{RecordID: "001000000000002AAA", Outcome: massupdate.Failed, Reason: "locked"}}})
	resumed = seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(25 * time.Hour), Trigger: massupdate.Manual,
		ResumedFrom: interrupted.ID}, Status: massupdate.Succeeded, Took: 2 * time.Minute,
		Results: []massupdate.RecordResult{{RecordID: "001000000000003AAA", Outcome: massupdate.Unchanged}}})
	if err := s.MarkResumed(t.Context(), interrupted.ID, resumed.ID); err != nil {
		t.Fatal(err)
	}
	return partial, interrupted, resumed
}

var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; style-src 'self'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
	"Cache-Control":           "no-store",
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range securityHeaders {
		if got := h.Get(k); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	partial, _, _ := history(t, s)
	open := web.New(web.Options{Store: s, Loopback: true, Clock: pagesClock})
	guarded := web.New(web.Options{Store: s, Password: "s3cret-Pw", Clock: pagesClock})
	off := web.New(web.Options{Store: s, Clock: pagesClock})
	// A loopback server needs no password, even when one is set.
	openWithPassword := web.New(web.Options{Store: s, Loopback: true, Password: "s3cret-Pw", Clock: pagesClock})

	for _, path := range []string{"/", "/runs/" + partial.ID, "/static/style.css"} {
		for _, c := range []struct {
			name string
			h    http.Handler
			auth []string
			code int
		}{
			{"loopback", open, nil, 200},
			{"loopback with a password set", openWithPassword, nil, 200},
			{"no credentials", guarded, nil, 401},
			{"wrong password", guarded, []string{"admin", "s3cret-pw"}, 401},
			{"wrong user", guarded, []string{"root", "s3cret-Pw"}, 401},
			{"empty password", guarded, []string{"admin", ""}, 401},
			{"right credentials", guarded, []string{"admin", "s3cret-Pw"}, 200},
			{"off without a password", off, nil, 404},
			{"off, even with credentials", off, []string{"admin", ""}, 404},
		} {
			r := do(t, c.h, http.MethodGet, path, c.auth...)
			what := fmt.Sprintf("%s: GET %s", c.name, path)
			if r.Code != c.code {
				t.Errorf("%s: %d, want %d", what, r.Code, c.code)
			}
			checkSecurityHeaders(t, what, r.Header)
			if wa := r.Header.Get("WWW-Authenticate"); (c.code == 401) != strings.HasPrefix(wa, "Basic ") {
				t.Errorf("%s: WWW-Authenticate %q", what, wa)
			}
			if c.code != 200 && strings.Contains(r.Body, partial.ID) {
				t.Errorf("%s: the refusal shows the history", what)
			}
		}
	}
}

func TestNothingWrites(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	partial, _, _ := history(t, s)
	h := pages(s, 0)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, path := range []string{"/", "/runs/" + partial.ID} {
			r := do(t, h, m, path)
			if r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q; want 405 with GET, HEAD", m, path, r.Code, r.Header.Get("Allow"))
			}
		}
	}
	r := do(t, h, http.MethodHead, "/runs/"+partial.ID)
	if r.Code != http.StatusOK || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("HEAD: %d %q", r.Code, r.Header.Get("Content-Type"))
	}
	if body := get(t, h, "/").Body + get(t, h, "/runs/"+partial.ID).Body; strings.Contains(body, "<script") ||
		strings.Contains(body, "<form") || strings.Contains(body, "method=") {
		t.Errorf("a page has a script or a form:\n%s", body)
	}
}

func TestNotFoundAndBadRequests(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	partial, _, _ := history(t, s)
	h := pages(s, 0)
	for _, c := range []struct {
		target string
		code   int
	}{
		{"/runs/0190a5f0-0000-7000-8000-000000000000", 404},
		{"/runs/" + strings.Repeat("x", 200), 404},
		{"/runs/%00", 404},
		{"/runs/%E2%80%AE", 404}, // a right-to-left override is no run id either
		{"/nothing-here", 404},
		{"/runs/", 404},
		{"/runs/" + partial.ID + "?rpage=0", 400},
		{"/runs/" + partial.ID + "?cpage=-3", 400},
		{"/runs/" + partial.ID + "?rpage=two", 400},
		{"/runs/" + partial.ID + "?rpage=99999999999999999999999", 400},
		{"/runs/" + partial.ID + "?field=%1B%5B31m", 400},
		{"/?page=x", 400},
		{"/runs/" + partial.ID + "?rpage=7&cpage=9", 200}, // beyond the last page: clamped
		{"/?page=7", 200},
	} {
		r := do(t, h, http.MethodGet, c.target)
		if r.Code != c.code {
			t.Errorf("GET %s: %d, want %d", c.target, r.Code, c.code)
		}
		if !strings.Contains(r.Body, "<html") {
			t.Errorf("GET %s: not an HTML page:\n%s", c.target, r.Body)
		}
		checkSecurityHeaders(t, c.target, r.Header)
	}
}

func TestIndexListsRunsWithChart(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	partial, interrupted, resumed := history(t, s)
	running := seed(t, s, seedRun{Run: massupdate.Run{StartedAt: fixedNow().Add(-90 * time.Second), DryRun: true}})
	body := get(t, pages(s, 0), "/").Body
	for _, want := range []string{
		`<a href="/runs/` + partial.ID + `" title="run ` + partial.ID + `">2026-03-01 02:00:00</a>`,
		`<a href="/runs/` + interrupted.ID + `" title="run ` + interrupted.ID + `">continues an interrupted run</a>`,
		`Salesforce API quota exhausted`,
		`>3m10s<`,        // duration of the partial run
		`>1m30s so far<`, // a running run's duration comes from the injected clock
		`<span class="badge dry">dry run</span>`,
		// 3 + 1 + 1 + 0 Proff calls, 2 + 2 + 2 + 0 Salesforce calls over the four charted runs.
		`cost` + "\n" + `<strong>5</strong> Proff and <strong>6</strong> Salesforce calls`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the index lacks %q", want)
		}
	}
	// One bar per run, oldest first, each a link to its run.
	bars := regexp.MustCompile(`<a href="(/runs/[^"]+)"><title>`).FindAllStringSubmatch(body, -1)
	var got []string
	for _, b := range bars {
		got = append(got, b[1])
	}
	want := []string{"/runs/" + partial.ID, "/runs/" + interrupted.ID, "/runs/" + resumed.ID, "/runs/" + running.ID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("chart bars %v, want %v", got, want)
	}
	// The partial run's bar stacks its updated, failed and not-found records.
	if !regexp.MustCompile(`(?s)<title>[^<]*` + partial.ID + `[^<]*</title><rect class="o-updated"[^>]*/><rect class="o-failed"[^>]*/><rect class="o-not_found"`).MatchString(body) {
		t.Errorf("the partial run's bar does not stack updated, failed, not found")
	}
}

func TestIndexPages(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	var ids []string
	for i := range 7 {
		ids = append(ids, seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(time.Duration(i) * time.Hour)}, Status: massupdate.Succeeded}).ID)
	}
	h := web.New(web.Options{Store: s, Loopback: true, Clock: pagesClock, RunsPerPage: 3})
	body := get(t, h, "/?page=2").Body
	// Newest first, three a page: page 2 holds the fourth to sixth newest.
	for i, id := range ids {
		if listed := strings.Contains(body, `title="run `+id+`"`); listed != (i >= 1 && i <= 3) {
			t.Errorf("page 2: run %d listed: %v", i, listed)
		}
	}
	for _, want := range []string{`page 2 of 3 · 4–6 of 7`, `href="/?page=3#runs"`, `href="/#runs"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page 2 lacks %q", want)
		}
	}
}

func TestRunPageShowsTheRun(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	partial, interrupted, resumed := history(t, s)
	h := pages(s, 0)
	body := get(t, h, "/runs/"+partial.ID).Body
	for _, want := range []string{
		partial.ID, ">partial<", "FIELD_CUSTOM_VALIDATION_EXCEPTION: Name is locked", "not in Proff",
		`<td class="v">Equinor</td><td class="arrow" aria-label="to">→</td><td class="v">EQUINOR ASA</td>`,
		`<td class="v"><span class="null">null</span></td><td class="arrow" aria-label="to">→</td><td class="v">21126</td>`,
		`href="/runs/` + partial.ID + `?field=NumberOfEmployees#changes">NumberOfEmployees</a></th><td class="n">1</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
	if strings.Contains(body, "001000000000001AAA</td><td class=\"t\">") {
		t.Errorf("an updated record is listed among the records not updated or unchanged")
	}

	filtered := get(t, h, "/runs/"+partial.ID+"?field=Name").Body
	if !strings.Contains(filtered, "EQUINOR ASA") || strings.Contains(filtered, "21126<") {
		t.Errorf("?field=Name does not show only the Name changes")
	}

	for _, c := range []struct{ run, want string }{
		{interrupted.ID, `<dt>Continued by</dt><dd class="id"><a href="/runs/` + resumed.ID + `">`},
		{resumed.ID, `<dt>Continues</dt><dd class="id"><a href="/runs/` + interrupted.ID + `">`},
	} {
		if body := get(t, h, "/runs/"+c.run).Body; !strings.Contains(body, c.want) {
			t.Errorf("run %s lacks the link %q", c.run, c.want)
		}
	}
}

// hostile holds what a Salesforce record or a Proff answer could hold to break out of the page.
var hostile = []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, "\x1b[31mred\x1b[0m", "a\u202eb", "nul\x00byte", "line\nbreak"}

func TestEscapesHostileValues(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	var results []massupdate.RecordResult
	var changes []massupdate.FieldChange
	for i, v := range hostile {
		id := fmt.Sprintf("001%012dAAA", i)
		results = append(results, massupdate.RecordResult{RecordID: id, OrgNumber: v, Country: v, Outcome: massupdate.Failed, Reason: v})
		changes = append(changes, massupdate.FieldChange{RecordID: id, Field: "Name" + v, Old: v, New: v + v})
	}
	run := seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0}, Status: massupdate.StatusFail, Error: strings.Join(hostile, " "),
		Results: results, Changes: changes})
	h := pages(s, 0)
	for _, target := range []string{"/", "/runs/" + run.ID, "/runs/" + run.ID + "?field=Name%3Cscript%3Ealert%281%29%3C%2Fscript%3E"} {
		body := get(t, h, target).Body
		for _, bad := range []string{"<script", "<img", "\x1b", "\u202e", "\x00"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: the page holds %q", target, bad)
			}
		}
		for _, good := range []string{`&lt;script&gt;alert(1)&lt;/script&gt;`, `\x1b[31mred\x1b[0m`} {
			if !strings.Contains(body, good) {
				t.Errorf("GET %s: the page does not show %q", target, good)
			}
		}
	}
	body := get(t, h, "/runs/"+run.ID).Body
	for _, good := range []string{`&#34;&gt;&lt;img src=x onerror=alert(2)&gt;`, `a\u202eb`, `line\nbreak`} {
		if !strings.Contains(body, good) {
			t.Errorf("the run page does not show %q", good)
		}
	}
}

func TestConsecutiveFailuresStandOut(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	const nightly, once = "001000000000001AAA", "001000000000002AAA"
	var last massupdate.Run
	for night := range 4 {
		results := []massupdate.RecordResult{{RecordID: nightly, Outcome: massupdate.Failed, Reason: "locked"}}
		if night == 3 {
			results = append(results, massupdate.RecordResult{RecordID: once, Outcome: massupdate.Failed, Reason: "timeout"})
		} else {
			results = append(results, massupdate.RecordResult{RecordID: once, Outcome: massupdate.Updated})
		}
		last = seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(time.Duration(night) * 24 * time.Hour)},
			Status: massupdate.Partial, Results: results})
	}
	body := get(t, pages(s, 0), "/runs/"+last.ID).Body
	for _, want := range []string{
		`<tr class="again">` + "\n" + `<td class="id">` + nightly + `</td>`,
		`<td class="reason">locked</td>` + "\n" + `<td class="n">4</td>`,
		`<tr>` + "\n" + `<td class="id">` + once + `</td>`,
		`<td class="reason">timeout</td>` + "\n" + `<td class="n">1</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the run page lacks %q", want)
		}
	}
}

func TestPagingAt100000Records(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	run := bigRun(t, s, t0)
	h := pages(s, 0)
	base := "/runs/" + run.ID

	first := get(t, h, base).Body
	for _, want := range []string{
		`page 1 of 500 · 1–100 of 50 000`, // records: 50,000 problems, 100 a page
		`href="` + base + `?rpage=2#records" rel="next"`,
		`href="` + base + `?rpage=500#records"`,
		`href="` + base + `?cpage=500#changes"`,
		`<th><a href="` + base + `?field=Name#changes">Name</a></th><td class="n">50 000</td>`,
		"<td class=\"n\">100\u202f000</td>", // selected
	} {
		if !strings.Contains(strings.ReplaceAll(first, "\u202f", " "), strings.ReplaceAll(want, "\u202f", " ")) {
			t.Errorf("page 1 lacks %q", want)
		}
	}
	if n := strings.Count(first, `<td class="reason">`); n != 100 {
		t.Errorf("page 1 lists %d records, want 100", n)
	}

	// The last page of records, with the changes' page and the field filter kept in its links.
	last := get(t, h, base+"?rpage=500&cpage=3&field=Name").Body
	lastRecord := recordID(bigRecords - 1)
	if !strings.Contains(last, `<td class="id">`+lastRecord+`</td>`) || strings.Contains(last, `<td class="id">`+recordID(bigRecords-201)+`</td>`) {
		t.Errorf("page 500 does not end at the last problem record %s", lastRecord)
	}
	for _, want := range []string{
		`page 500 of 500 · 49 901–50 000 of 50 000`,
		`href="` + base + `?cpage=3&amp;field=Name&amp;rpage=499#records" rel="prev"`,
		`page 3 of 500 · 201–300 of 50 000`,
		`href="` + base + `?cpage=2&amp;field=Name&amp;rpage=500#changes" rel="prev"`,
		"New 400 ASA", // change 201 is record 400's
	} {
		if !strings.Contains(strings.ReplaceAll(last, "\u202f", " "), want) {
			t.Errorf("the last page lacks %q", want)
		}
	}
	// Beyond the last page: the last page.
	beyond := get(t, h, base+"?rpage=123456").Body
	if !strings.Contains(strings.ReplaceAll(beyond, "\u202f", " "), `page 500 of 500`) {
		t.Errorf("rpage=123456 is not clamped to the last page")
	}
}
