package proff_test

// Lookups against hand-written servers: the forms of a number in the path and in the document that an
// independent Proff may use, and answers a proxy may send.

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
)

// lookupServer answers docs by path (after /api/companies/register/) and 404 for any other.
func lookupServer(t *testing.T, docs map[string]string, mutate func(*proff.Options)) *hostileFeed {
	t.Helper()
	return newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		doc, ok := docs[strings.TrimPrefix(r.URL.Path, "/api/companies/register/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, doc)
	}, func(o *proff.Options) {
		o.Points = points(t, "name", "revenue", "employees")
		if mutate != nil {
			mutate(o)
		}
	})
}

func (f *hostileFeed) paths() []string {
	var out []string
	for _, r := range f.reqs.all() {
		out = append(out, strings.TrimPrefix(r.URL.Path, "/api/companies/register/"))
	}
	return out
}

// FI and SE: a 404 for the digits, then the hyphenated form finds the company; from then on the
// hyphenated form goes first and alone.
func TestHostileLookupHyphenatedFallback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cc, first, firstPath, second, secondPath string
	}{
		{"FI", "0112038-9", "FI/0112038-9", "19274001", "FI/1927400-1"},
		{"SE", "5560125790", "SE/556012-5790", "556036-0793", "SE/556036-0793"},
	} {
		t.Run(tc.cc, func(t *testing.T) {
			t.Parallel()
			f := lookupServer(t, map[string]string{
				tc.firstPath:  `{"organisationNumber":"` + strings.TrimPrefix(tc.firstPath, tc.cc+"/") + `","name":"FIRST"}`,
				tc.secondPath: `{"organisationNumber":"` + strings.TrimPrefix(tc.secondPath, tc.cc+"/") + `","name":"SECOND"}`,
			}, nil)
			ctx := context.Background()
			if got, err := f.c.Lookup(ctx, tc.cc, tc.first); err != nil || got["name"] != "FIRST" {
				t.Fatalf("first: %v %v", got, err)
			}
			if got, err := f.c.Lookup(ctx, tc.cc, tc.second); err != nil || got["name"] != "SECOND" {
				t.Fatalf("second: %v %v", got, err)
			}
			if p := f.paths(); len(p) != 3 || p[1] != tc.firstPath || p[2] != tc.secondPath {
				t.Errorf("paths %v: want digits, hyphenated, then hyphenated only", p)
			}
		})
	}
}

// The document's organisationNumber may be written in any of the forms people and registers use: it still
// names the company looked up. Another company's number fails the record.
func TestHostileLookupDocumentNumberForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cc, asked, path, inDoc string
		ok                     bool
	}{
		{"NO", "923609016", "NO/923609016", `"923 609 016"`, true},
		{"NO", "923609016", "NO/923609016", `"NO 923609016 MVA"`, true},
		{"NO", "923609016", "NO/923609016", `"923-609-016"`, true},
		{"NO", "923609016", "NO/923609016", `923609016`, true},
		{"NO", "923609016", "NO/923609016", `"984851006"`, false},
		{"SE", "5560125790", "SE/5560125790", `"556012-5790"`, true},
		{"SE", "5560125790", "SE/5560125790", `"556012 5790"`, true},
		{"SE", "5560125790", "SE/5560125790", `"SE556012579001"`, true},
		{"SE", "5560125790", "SE/5560125790", `5560125790`, true},
		{"FI", "01120389", "FI/01120389", `"0112038-9"`, true},
		{"FI", "01120389", "FI/01120389", `"FI01120389"`, true},
		{"FI", "01120389", "FI/01120389", `"1927400-1"`, false},
		{"DK", "24256790", "DK/24256790", `"DK 24 25 67 90"`, true},
		{"DK", "24256790", "DK/24256790", `"DK24256790"`, true},
	} {
		t.Run(tc.cc+" "+tc.inDoc, func(t *testing.T) {
			t.Parallel()
			f := lookupServer(t, map[string]string{tc.path: `{"organisationNumber":` + tc.inDoc + `,"name":"X"}`}, nil)
			got, err := f.c.Lookup(context.Background(), tc.cc, tc.asked)
			if tc.ok && (err != nil || got["name"] != "X") {
				t.Errorf("%v %v; want the document accepted", got, err)
			}
			if !tc.ok && !errors.Is(err, proff.ErrWrongCompany) {
				t.Errorf("%v %v; want ErrWrongCompany", got, err)
			}
		})
	}
}

// Numbers as strings (revenue in thousands, employees as a figure or a range) are read as numbers.
func TestHostileLookupNumbersAsStrings(t *testing.T) {
	t.Parallel()
	f := lookupServer(t, map[string]string{
		"NO/923609016": `{"organisationNumber":"923609016","name":"EQUINOR ASA","revenue":"112934","numberOfEmployees":"21 126"}`,
		"NO/984851006": `{"organisationNumber":"984851006","name":"DNB","revenue":"-12,5","numberOfEmployees":"10-19"}`,
	}, nil)
	got, err := f.c.Lookup(context.Background(), "NO", "923609016")
	if err != nil || got["revenue"] != float64(112934000) || got["employees"] != float64(21126) {
		t.Errorf("%v %v; want revenue 112934000 and 21126 employees", got, err)
	}
	// A decimal comma, and a range read as its lower bound (the catalogue's employees point).
	got, err = f.c.Lookup(context.Background(), "NO", "984851006")
	if err != nil || got["revenue"] != float64(-12500) || got["employees"] != float64(10) {
		t.Errorf("%v %v; want revenue -12500 and 10 employees", got, err)
	}
}

// A 200 whose body is JSON null (an ASP.NET action returning null) is "no such company", in every form of
// white space; a 200 with an HTML body fails the record without a retry storm.
func TestHostileLookupNullAndHTML(t *testing.T) {
	t.Parallel()
	f := lookupServer(t, map[string]string{
		"NO/923609016": "null", "NO/984851006": " \r\n null \n", "NO/971274808": "<html><body>Maintenance</body></html>",
	}, nil)
	for _, nr := range []string{"923609016", "984851006"} {
		if _, err := f.c.Lookup(context.Background(), "NO", nr); !errors.Is(err, massupdate.ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", nr, err)
		}
	}
	_, err := f.c.Lookup(context.Background(), "NO", "971274808")
	if err == nil || errors.Is(err, massupdate.ErrNotFound) {
		t.Errorf("HTML: %v, want a failure", err)
	}
	if n := len(f.reqs.all()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

// A gzip'd body is read whether or not the server was asked for it; a FI null answer with the digits goes on
// to the hyphenated form like a 404.
func TestHostileLookupGzipAndNullFallback(t *testing.T) {
	t.Parallel()
	f := newHostileFeed(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/api/companies/register/FI/01120389":
			fmt.Fprint(w, "null")
		case "/api/companies/register/FI/0112038-9":
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			fmt.Fprint(gz, `{"organisationNumber":"0112038-9","name":"NOKIA OYJ"}`)
			gz.Close()
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}, func(o *proff.Options) { o.Points = points(t, "name") })
	got, err := f.c.Lookup(context.Background(), "FI", "0112038-9")
	if err != nil || got["name"] != "NOKIA OYJ" {
		t.Fatalf("%v %v", got, err)
	}
}
