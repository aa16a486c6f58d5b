package salesforce_test

// Tests that bite (issue 16): each guard below once survived a deliberate break of it. Every test names
// the guard it holds and the change it catches.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

var nextURLField = regexp.MustCompile(`"nextRecordsUrl":"[^"]*"`)

// nextRecordsUrl comes from the network and the session token goes wherever it points: it is followed only
// as a relative path within this API's query resource. Each case breaks exactly one part of that check
// (dropping any one part of it lets its case through).
func TestNextRecordsURLStaysOnTheQueryResource(t *testing.T) {
	t.Parallel()
	for _, next := range []string{
		"https://evil.example.com/services/data/v62.0/query/01gRO0000000001AA-200", // another host
		"/evil/services/data/v62.0/query/01gRO0000000001AA-200",                    // not the data API
		"/services/data/v62.0/sobjects/Account/001000000000001AAA",                 // not the query resource
		"/services/data/v62.0/query/01gRO0000000001AA-200?q=x",                     // a query string
		"/services/data/v62.0/query/01gRO0000000001AA-200#x",                       // a fragment
		"/services/data/v62.0/query/x@evil.example.com",                            // user info
		`/services/data/v62.0/query/x\\evil`,                                       // a backslash
		"/services/data/v62.0/query/../../v62.0/sobjects/Account",                  // a way out
	} {
		t.Run(next, func(t *testing.T) {
			t.Parallel()
			emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
			t.Cleanup(emu.Close)
			for i := 0; i < 450; i++ {
				emu.AddRecord("Account", optedIn(i))
			}
			srv := hostile(t, emu, func(r *http.Request, body []byte) []byte {
				return nextURLField.ReplaceAll(body, []byte(`"nextRecordsUrl":"`+next+`"`))
			})
			c, err := salesforce.New(salesforce.Options{LoginURL: srv.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
				Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", PageSize: 200})
			if err != nil {
				t.Fatal(err)
			}
			pages := 0
			err = c.Records(context.Background(), "", func([]massupdate.Record) error { pages++; return nil })
			if err == nil || !strings.Contains(err.Error(), "refusing to follow nextRecordsUrl") || pages != 1 {
				t.Fatalf("Records: %v after %d pages, want the URL refused after the first", err, pages)
			}
			if n := len(queries(emu.Requests())); n != 1 {
				t.Fatalf("%d requests reached the query resource, want 1", n)
			}
		})
	}
}

// A resume after a lost cursor queries "Id > '<last Id>'": the last Id of a page goes into SOQL, so it is
// trusted only when it looks like an Id. A page whose last Id does not (here one that would break out of
// the quotes) leaves the resume point where the previous page put it.
func TestResumeTrustsOnlyAnIdThatLooksLikeOne(t *testing.T) {
	t.Parallel()
	emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
	t.Cleanup(emu.Close)
	var ids []string
	for i := 0; i < 650; i++ {
		ids = append(ids, emu.AddRecord("Account", optedIn(i)))
	}
	const bad = `001' OR Name != 'x`
	srv := hostile(t, emu, func(r *http.Request, body []byte) []byte {
		return bytes.Replace(body, []byte(`"Id":"`+ids[399]+`"`), []byte(`"Id":"`+strings.ReplaceAll(bad, "'", `'`)+`"`), 1)
	})
	c, err := salesforce.New(salesforce.Options{LoginURL: srv.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
		Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", PageSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	err = c.Records(context.Background(), "", func(p []massupdate.Record) error {
		pages++
		if pages == 2 {
			if p[len(p)-1].ID != bad {
				t.Fatalf("page 2 ends with %q, the hostile rewrite did not apply", p[len(p)-1].ID)
			}
			emu.ExpireQueryLocators()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	var soql []string
	for _, q := range queries(emu.Requests()) {
		v, _ := url.ParseQuery(q.RawQuery)
		if s := v.Get("q"); s != "" {
			soql = append(soql, s)
		}
	}
	if len(soql) != 2 || strings.Contains(soql[1], "OR Name") || !strings.Contains(soql[1], "AND Id > '"+ids[199]+"' ORDER BY Id") {
		t.Fatalf("queries %q, want the resume after %s (the last Id that looked like one)", soql, ids[199])
	}
}

var doneField = regexp.MustCompile(`"done":(true|false)`)

// Paging ends when Salesforce says done, or when it gives no next URL; not before, and not after.
func TestPagingEndsOnDoneOrNoNextURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rewrite func(body []byte) []byte
		pages   int
	}{
		{"as Salesforce sends it", func(b []byte) []byte { return b }, 3},
		{"done with a next URL", func(b []byte) []byte { return doneField.ReplaceAll(b, []byte(`"done":true`)) }, 1},
		{"not done without a next URL", func(b []byte) []byte {
			return doneField.ReplaceAll(nextURLField.ReplaceAll(b, []byte(`"nextRecordsUrl":null`)), []byte(`"done":false`))
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
			t.Cleanup(emu.Close)
			for i := 0; i < 450; i++ {
				emu.AddRecord("Account", optedIn(i))
			}
			srv := hostile(t, emu, func(r *http.Request, body []byte) []byte {
				if strings.Contains(r.URL.Path, "/query") {
					return tc.rewrite(body)
				}
				return body
			})
			c, err := salesforce.New(salesforce.Options{LoginURL: srv.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
				Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", PageSize: 200})
			if err != nil {
				t.Fatal(err)
			}
			pages := 0
			err = c.Records(context.Background(), "", func([]massupdate.Record) error { pages++; return nil })
			if err != nil || pages != tc.pages {
				t.Fatalf("Records: %v after %d pages, want %d pages", err, pages, tc.pages)
			}
			if n := len(queries(emu.Requests())); n != tc.pages {
				t.Fatalf("%d queries, want %d", n, tc.pages)
			}
		})
	}
}

// An inactive picklist value is not one the field takes: describe keeps only the active ones.
func TestDescribeKeepsActivePicklistValuesOnly(t *testing.T) {
	t.Parallel()
	emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
	t.Cleanup(emu.Close)
	emu.SetField("Account", mapping.Field{Name: "Tier__c", Type: "picklist", Length: 255, Updateable: true, PicklistValues: []string{"Gold", "Retired", "Silver"}})
	srv := hostile(t, emu, func(r *http.Request, body []byte) []byte {
		return bytes.Replace(body, []byte(`{"active":true,"defaultValue":false,"label":"Retired"`), []byte(`{"active":false,"defaultValue":false,"label":"Retired"`), 1)
	})
	c := hostileClient(t, srv, "Name")
	d, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := d["Tier__c"].PicklistValues; strings.Join(got, ",") != "Gold,Silver" {
		t.Fatalf("picklist values %q, want the active Gold and Silver only", got)
	}
}

// A whole request refused with UNABLE_TO_LOCK_ROW (another transaction holds the rows) is tried again with
// backoff, like a 5xx; it is not a refusal of the records.
func TestLockedRequestRetried(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ids := e.add(2, optedIn)
	if err := e.c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.emu.FailNextWith(2, 400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
	res, err := e.c.Write(context.Background(), []massupdate.Update{
		{RecordID: ids[0], Fields: map[string]any{"Name": "a"}}, {RecordID: ids[1], Fields: map[string]any{"Name": "b"}}})
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("Write = %+v, %v; want both written on the third try", res, err)
	}
	if s := e.Sleeps(); len(s) != 2 || s[0] != time.Second || s[1] != 2*time.Second {
		t.Fatalf("sleeps %v, want 1s, 2s", s)
	}
}

// The wait between tries doubles up to 30 s and stays there, however many tries are allowed (the shift
// overflows past 34 tries: still 30 s, never 0 or negative).
func TestBackoffCappedAt30Seconds(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.MaxAttempts = 70 })
	if err := e.c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.emu.FailNext(69, 503)
	if _, err := e.c.Describe(context.Background()); err != nil {
		t.Fatalf("Describe after 69 503s: %v", err)
	}
	s := e.Sleeps()
	if len(s) != 69 {
		t.Fatalf("%d sleeps, want 69", len(s))
	}
	want := []time.Duration{1, 2, 4, 8, 16}
	for i, d := range s {
		w := 30 * time.Second
		if i < len(want) {
			w = want[i] * time.Second
		}
		if d != w {
			t.Fatalf("sleep %d is %v, want %v (all: %v)", i+1, d, w, s)
		}
	}
}

// sObject Collections take at most 200 records: 200 go in one call, 201 are refused before any request.
func TestWriteCapOf200Records(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ids := e.add(201, optedIn)
	ups := make([]massupdate.Update, len(ids))
	for i, id := range ids {
		ups[i] = massupdate.Update{RecordID: id, Fields: map[string]any{"Name": fmt.Sprintf("N%d", i)}}
	}
	if _, err := e.c.Write(context.Background(), ups); err == nil || !strings.Contains(err.Error(), "201 records in one call, at most 200") {
		t.Fatalf("Write of 201: %v, want refused", err)
	}
	if n := len(e.emu.Requests()); n != 0 {
		t.Fatalf("%d requests for a refused write", n)
	}
	res, err := e.c.Write(context.Background(), ups[:200])
	if err != nil || len(res) != 200 || res[199].Err != nil {
		t.Fatalf("Write of 200: %d results, %v", len(res), err)
	}
}

// A write's answer has one result per record sent, in order: fewer or more cannot be attributed to the
// records, and none of them may be taken for a success.
func TestWriteResultCountMustMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rewrite func([]byte) []byte
		want    string
	}{
		{"one missing", func(b []byte) []byte {
			return append(b[:bytes.LastIndex(b, []byte(`,{`))], ']')
		}, "1 results for 2 records"},
		{"one more", func(b []byte) []byte {
			return append(b[:bytes.LastIndexByte(b, ']')], []byte(`,{"id":"001000000000009AAA","success":true,"errors":[]}]`)...)
		}, "more results than the 2 records sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
			t.Cleanup(emu.Close)
			ids := []string{emu.AddRecord("Account", optedIn(0)), emu.AddRecord("Account", optedIn(1))}
			var rewrote atomic.Bool
			srv := hostile(t, emu, func(r *http.Request, body []byte) []byte {
				if r.Method == http.MethodPatch {
					rewrote.Store(true)
					return tc.rewrite(bytes.TrimSpace(body))
				}
				return body
			})
			c := hostileClient(t, srv, "Name")
			res, err := c.Write(context.Background(), []massupdate.Update{
				{RecordID: ids[0], Fields: map[string]any{"Name": "a"}}, {RecordID: ids[1], Fields: map[string]any{"Name": "b"}}})
			if !rewrote.Load() || err == nil || !strings.Contains(err.Error(), tc.want) || res != nil {
				t.Fatalf("Write = %+v, %v; want no results and %q", res, err, tc.want)
			}
			if errors.Is(err, massupdate.ErrQuotaExhausted) || errors.Is(err, massupdate.ErrUnauthorized) {
				t.Fatalf("a miscounted answer taken for a quota or auth failure: %v", err)
			}
		})
	}
}
