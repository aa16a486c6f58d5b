package proff_test

// Status codes a hand-written server may answer where Proff's documentation says nothing: a 204 to a
// change-feed page, and a plain 4xx (a path validator's 400, a 422) to one form of an SE or FI number.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
)

// A 204 No Content to a feed page (ASP.NET's answer when an action returns null, "no changes") is an empty
// page: the read ends there and succeeds, with the entries read before it.
func TestHostileFeedNoContentIsAnEmptyPage(t *testing.T) {
	t.Parallel()
	t.Run("first page", func(t *testing.T) {
		t.Parallel()
		f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n > 1 {
				t.Errorf("request %d after the 204: %s", n, r.URL)
			}
			w.WriteHeader(http.StatusNoContent)
		}, nil)
		got, res, err := f.read(t, proff.FeedOptions{})
		if err != nil || res.Pages != 1 || len(got) != 0 || res.Changes != 0 {
			t.Fatalf("%q %+v %v; want an empty read of one page", orgs(got), res, err)
		}
	})
	t.Run("after a page with entries", func(t *testing.T) {
		t.Parallel()
		f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, n int) {
			switch n {
			case 1:
				fmt.Fprint(w, page("?scrollId=s2", hfA, hfB))
			case 2:
				w.WriteHeader(http.StatusNoContent)
			default:
				t.Errorf("request %d after the 204: %s", n, r.URL)
			}
		}, nil)
		got, res, err := f.read(t, proff.FeedOptions{})
		if err != nil || res.Pages != 2 || orgs(got) != hfA+" "+hfB || res.Changes != 2 {
			t.Fatalf("%q %+v %v; want the first page's two entries over two pages", orgs(got), res, err)
		}
	})
}

// formServer answers each lookup path (after /api/companies/register/) with a status, or with a document
// naming the number when the status is 200; 404 for any other path.
func formServer(t *testing.T, answers map[string]int, mem proff.FormMemory) *hostileFeed {
	t.Helper()
	return newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		p := strings.TrimPrefix(r.URL.Path, "/api/companies/register/")
		code, ok := answers[p]
		switch {
		case !ok:
			w.WriteHeader(http.StatusNotFound)
		case code == http.StatusOK:
			_, nr, _ := strings.Cut(p, "/")
			fmt.Fprintf(w, `{"organisationNumber":%q,"name":"FOUND"}`, nr)
		default:
			w.WriteHeader(code)
		}
	}, func(o *proff.Options) {
		o.Points = points(t, "name")
		o.Forms = mem
	})
}

// A server that refuses the form it does not use with a 400 (or 422), not a 404: a company in no form is
// not found, whatever plain 4xx the forms got, after one request per form.
func TestHostileLookupPlain4xxOnAFormIsNotFound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		answers map[string]int
	}{
		{"hyphenated 400, digits 404", map[string]int{"SE/556012-5790": 400}},
		{"digits 400, hyphenated 404", map[string]int{"SE/5560125790": 400}},
		{"digits 422, hyphenated 410", map[string]int{"SE/5560125790": 422, "SE/556012-5790": 410}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := formServer(t, tc.answers, nil)
			_, err := f.c.Lookup(context.Background(), "SE", "5560125790")
			if !errors.Is(err, massupdate.ErrNotFound) {
				t.Errorf("%v; want ErrNotFound", err)
			}
			if p := f.paths(); !slices.Equal(p, []string{"SE/5560125790", "SE/556012-5790"}) {
				t.Errorf("paths %v; want the digits, then the hyphenated form, once each", p)
			}
		})
	}
}

// A server that refuses every form of the number (a header or a proxy it does not like) gives no answer about
// the company: the record fails, rather than every Swedish and Finnish company being reported not found.
func TestHostileLookupEveryFormRefusedFails(t *testing.T) {
	t.Parallel()
	f := formServer(t, map[string]int{"SE/5560125790": 400, "SE/556012-5790": 400}, nil)
	_, err := f.c.Lookup(context.Background(), "SE", "5560125790")
	if err == nil || errors.Is(err, massupdate.ErrNotFound) || !strings.Contains(err.Error(), "400") {
		t.Errorf("%v; want a failure that names the 400, not ErrNotFound", err)
	}
	if p := f.paths(); !slices.Equal(p, []string{"SE/5560125790", "SE/556012-5790"}) {
		t.Errorf("paths %v; want the digits, then the hyphenated form, once each", p)
	}
}

// The mirror case: a server that wants 556012-5790 and answers 400 to 5560125790. The hyphenated form finds
// the company and is remembered, and goes first, alone, from then on.
func TestHostileLookupPlain4xxOnTheDigitsLearnsTheHyphenatedForm(t *testing.T) {
	t.Parallel()
	mem := &memForms{}
	f := formServer(t, map[string]int{"SE/5560125790": 400, "SE/556012-5790": 200,
		"SE/5560360793": 400, "SE/556036-0793": 200}, mem)
	ctx := context.Background()
	if got, err := f.c.Lookup(ctx, "SE", "5560125790"); err != nil || got["name"] != "FOUND" {
		t.Fatalf("%v %v; want the company found by its hyphenated form", got, err)
	}
	if got, _ := mem.NumberForms(ctx, "SE"); !slices.Equal(got, []string{proff.FormHyphenated}) {
		t.Errorf("remembered %v; want the hyphenated form", got)
	}
	if got, err := f.c.Lookup(ctx, "SE", "5560360793"); err != nil || got["name"] != "FOUND" {
		t.Fatalf("second: %v %v", got, err)
	}
	if p := f.paths(); !slices.Equal(p, []string{"SE/5560125790", "SE/556012-5790", "SE/556036-0793"}) {
		t.Errorf("paths %v; want digits, hyphenated, then hyphenated only", p)
	}
}

// 401, 403 and 429 on the first form say nothing about the number: they keep their own meaning and the other
// form is not tried. So does a plain 4xx where the number has one form only (NO, DK), and a 407 (a proxy's
// refusal of every request).
func TestHostileLookupRefusalsOnAFormKeepTheirMeaning(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cc, nr string
		code   int
		want   error // nil: a failure that is neither not-found nor one of the sentinels
		paths  int
	}{
		{"SE", "5560125790", http.StatusUnauthorized, massupdate.ErrUnauthorized, 1},
		{"SE", "5560125790", http.StatusForbidden, massupdate.ErrCountryForbidden, 1},
		{"SE", "5560125790", http.StatusTooManyRequests, nil, 2}, // MaxAttempts 2: the same path twice
		{"SE", "5560125790", http.StatusProxyAuthRequired, nil, 1},
		{"NO", "923609016", http.StatusBadRequest, nil, 1},
		{"DK", "24256790", http.StatusUnprocessableEntity, nil, 1},
	} {
		t.Run(fmt.Sprintf("%s %d", tc.cc, tc.code), func(t *testing.T) {
			t.Parallel()
			f := formServer(t, map[string]int{tc.cc + "/" + tc.nr: tc.code}, nil)
			_, err := f.c.Lookup(context.Background(), tc.cc, tc.nr)
			switch {
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("%v; want %v", err, tc.want)
			case tc.want == nil && (err == nil || errors.Is(err, massupdate.ErrNotFound)):
				t.Errorf("%v; want a failed lookup, not a not-found", err)
			}
			p := f.paths()
			if len(p) != tc.paths || slices.ContainsFunc(p, func(s string) bool { return s != tc.cc+"/"+tc.nr }) {
				t.Errorf("paths %v; want %d request(s) for %s/%s only", p, tc.paths, tc.cc, tc.nr)
			}
		})
	}
}
