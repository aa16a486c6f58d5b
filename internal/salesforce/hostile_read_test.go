package salesforce_test

// Reads against a hand-written Salesforce, not our emulator: the query answers an independent
// implementation, an org with odd data or a proxy in between may give.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
)

const hostileToken = "00Dhostile!tok-d0nt-send-9911"

// handSF is a hand-written Salesforce: a login, describes of Account and Contact, and query pages by
// locator ("" for the query itself).
type handSF struct {
	srv   *httptest.Server
	mu    sync.Mutex
	pages map[string]func(w http.ResponseWriter)
	seen  []string // paths asked, in order
}

const (
	accountDescribe = `{"name":"Account","fields":[
		{"name":"Id","type":"id","updateable":false,"nillable":false,"length":18},
		{"name":"Name","type":"string","updateable":true,"nillable":false,"length":255},
		{"name":"Org_Number__c","type":"string","updateable":true,"nillable":true,"length":20},
		{"name":"Proff_Mass_Update__c","type":"boolean","updateable":true,"nillable":false}]}`
	contactDescribe = `{"name":"Contact","fields":[
		{"name":"Id","type":"id","updateable":false,"nillable":false,"length":18},
		{"name":"LastName","type":"string","updateable":true,"nillable":false,"length":80},
		{"name":"AccountId","type":"reference","updateable":true,"nillable":true,"length":18,"referenceTo":["Account"],"relationshipName":"Account"},
		{"name":"Proff_Mass_Update__c","type":"boolean","updateable":true,"nillable":false}]}`
)

func newHandSF(t *testing.T) *handSF {
	t.Helper()
	h := &handSF{pages: map[string]func(http.ResponseWriter){}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen = append(h.seen, r.URL.Path)
		page := h.pages[strings.TrimPrefix(r.URL.Path, "/services/data/v62.0/query")]
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		switch {
		case r.URL.Path == "/services/oauth2/token":
			fmt.Fprintf(w, `{"access_token":%q,"instance_url":%q,"token_type":"Bearer","issued_at":"1764381600000","signature":"x"}`,
				hostileToken, h.srv.URL)
			return
		case r.Header.Get("Authorization") != "Bearer "+hostileToken:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`)
		case strings.HasSuffix(r.URL.Path, "/sobjects/Account/describe"):
			fmt.Fprint(w, accountDescribe)
		case strings.HasSuffix(r.URL.Path, "/sobjects/Contact/describe"):
			fmt.Fprint(w, contactDescribe)
		case page != nil:
			w.Header().Set("Sforce-Limit-Info", "api-usage=10/5000")
			page(w)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]`)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *handSF) page(locator, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pages[locator] = func(w http.ResponseWriter) { fmt.Fprint(w, body) }
}

func (h *handSF) asked(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.seen {
		if strings.Contains(p, sub) {
			n++
		}
	}
	return n
}

func (h *handSF) client(t *testing.T, object, orgField string) *salesforce.Client {
	t.Helper()
	c, err := salesforce.New(salesforce.Options{LoginURL: h.srv.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
		Object: object, OrgNumberField: orgField, OptInField: "Proff_Mass_Update__c", Clock: clocktest.New(), MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hostileReadAll(c *salesforce.Client) ([]massupdate.Record, error) {
	var out []massupdate.Record
	err := c.Records(context.Background(), "", func(p []massupdate.Record) error {
		out = append(out, p...)
		return nil
	})
	return out, err
}

func hostileRec(id, org string) string {
	return fmt.Sprintf(`{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/%s"},"Id":%q,"Org_Number__c":%q,"Proff_Mass_Update__c":true}`, id, id, org)
}

func recIDs(rs []massupdate.Record) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID+"="+r.OrgNumber)
	}
	return strings.Join(s, " ")
}

// "Account": null is an empty lookup (a Contact without an account): no org number, not a failed page; a
// parent with extra attributes and fields is read for the one field selected.
func TestHostileReadRelationshipNull(t *testing.T) {
	t.Parallel()
	h := newHandSF(t)
	h.page("", `{"totalSize":3,"done":true,"records":[
		{"attributes":{"type":"Contact","url":"/c/1"},"Id":"003000000000001AAA","Account":null,"Proff_Mass_Update__c":true},
		{"attributes":{"type":"Contact","url":"/c/2"},"Id":"003000000000002AAA","Account":{"attributes":{"type":"Account","url":"/a/1","extra":[1]},"Org_Number__c":"923609016","Name":"X","Owner":{"attributes":{"type":"User"},"Name":"Y"}},"Proff_Mass_Update__c":true},
		{"attributes":{"type":"Contact","url":"/c/3"},"Id":"003000000000003AAA","Account":{"attributes":{"type":"Account"},"Org_Number__c":null},"Proff_Mass_Update__c":true}]}`)
	got, err := hostileReadAll(h.client(t, "Contact", "Account.Org_Number__c"))
	if err != nil || recIDs(got) != "003000000000001AAA= 003000000000002AAA=923609016 003000000000003AAA=" {
		t.Fatalf("%q %v", recIDs(got), err)
	}
}

// nextRecordsUrl: a path, or an absolute URL on the instance, is followed; one on another host (in any
// spelling), with a query, or outside the query resource is refused and never asked for.
func TestHostileReadNextRecordsURL(t *testing.T) {
	t.Parallel()
	var otherHits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		if strings.Contains(r.Header.Get("Authorization"), hostileToken) {
			t.Errorf("the session reached another host")
		}
	}))
	t.Cleanup(other.Close)
	t.Cleanup(func() {
		if n := otherHits.Load(); n != 0 {
			t.Errorf("%d requests reached the other host", n)
		}
	})
	for _, tc := range []struct {
		name string
		next func(inst string) string
		ok   bool
	}{
		{"path", func(string) string { return "/services/data/v62.0/query/01gRO0000016PIAYA2-2000" }, true},
		{"absolute on the instance", func(i string) string { return i + "/services/data/v62.0/query/01gRO0000016PIAYA2-2000" }, true},
		{"absolute on another host", func(string) string { return other.URL + "/services/data/v62.0/query/01gRO0000016PIAYA2-2000" }, false},
		{"protocol-relative", func(string) string {
			return "//" + strings.TrimPrefix(other.URL, "http://") + "/services/data/v62.0/query/01gRO0000016PIAYA2-2000"
		}, false},
		{"another scheme", func(i string) string {
			return strings.Replace(i, "http://", "https://", 1) + "/services/data/v62.0/query/01gRO0000016PIAYA2-2000"
		}, false},
		{"with a query", func(string) string { return "/services/data/v62.0/query/01gRO0000016PIAYA2-2000?q=SELECT+Id" }, false},
		{"out of the query resource", func(string) string { return "/services/data/v62.0/sobjects/Account/001" }, false},
		{"dot segments", func(string) string { return "/services/data/v62.0/query/../sobjects/Account" }, false},
		{"encoded dot segments", func(string) string { return "/services/data/v62.0/query/%2e%2e/sobjects/Account" }, false},
		{"user info", func(i string) string {
			return strings.Replace(i, "http://", "http://u:p@", 1) + "/services/data/v62.0/query/01gRO0000016PIAYA2-2000"
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHandSF(t)
			h.page("", fmt.Sprintf(`{"totalSize":2,"done":false,"nextRecordsUrl":%q,"records":[%s]}`,
				tc.next(h.srv.URL), hostileRec("001000000000001AAA", "923609016")))
			h.page("/01gRO0000016PIAYA2-2000", `{"totalSize":2,"done":true,"records":[`+hostileRec("001000000000002AAA", "984851006")+`]}`)
			got, err := hostileReadAll(h.client(t, "Account", "Org_Number__c"))
			if tc.ok && (err != nil || len(got) != 2) {
				t.Errorf("%q %v; want both pages", recIDs(got), err)
			}
			if !tc.ok && (err == nil || len(got) != 1 || h.asked("/query/01g") != 0) {
				t.Errorf("%q %v; want the link refused after the first page", recIDs(got), err)
			}
		})
	}
}

// done true ends the read even with a nextRecordsUrl; totalSize never decides how many records are read;
// records carry attributes and fields beyond those selected.
func TestHostileReadDoneAndTotalSize(t *testing.T) {
	t.Parallel()
	h := newHandSF(t)
	h.page("", `{"totalSize":1,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/L-2","records":[`+
		hostileRec("001000000000001AAA", "923609016")+`,`+hostileRec("001000000000002AAA", "984851006")+`]}`)
	h.page("/L-2", `{"totalSize":99,"done":true,"nextRecordsUrl":"/services/data/v62.0/query/L-3","queryLocator":null,"records":[
		{"attributes":{"type":"Account","url":"/x","etag":"abc","extra":{"deep":[1,{}]}},"Id":"001000000000003AAA","Org_Number__c":"971274808","Proff_Mass_Update__c":true,"Unselected__c":{"nested":true},"LastModifiedDate":"2026-11-28T10:00:00.000+0000"}]}`)
	h.page("/L-3", `{"totalSize":1,"done":true,"records":[`+hostileRec("001000000000009AAA", "923609016")+`]}`)
	c := h.client(t, "Account", "Org_Number__c")
	got, err := hostileReadAll(c)
	if err != nil || recIDs(got) != "001000000000001AAA=923609016 001000000000002AAA=984851006 001000000000003AAA=971274808" {
		t.Fatalf("%q %v", recIDs(got), err)
	}
	if h.asked("/L-3") != 0 {
		t.Error("followed a nextRecordsUrl of a page that said done")
	}
}

// done false without a nextRecordsUrl: the read ends there, as a page without a next link always has
// (TestPagingEndsOnDoneOrNoNextURL), but says so in the log, so that an operator can see why a run selected
// fewer records than the org holds.
func TestHostileReadNotDoneWithoutNext(t *testing.T) {
	t.Parallel()
	h := newHandSF(t)
	h.page("", `{"totalSize":4000,"done":false,"records":[`+hostileRec("001000000000001AAA", "923609016")+`]}`)
	var logs bytes.Buffer
	var mu sync.Mutex
	c, err := salesforce.New(salesforce.Options{LoginURL: h.srv.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
		Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", Clock: clocktest.New(),
		Logger: slog.New(slog.NewTextHandler(lockedWriter{mu: &mu, b: &logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := hostileReadAll(c)
	if err != nil || len(got) != 1 {
		t.Fatalf("%q %v", recIDs(got), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "not done but gives no nextRecordsUrl") {
		t.Errorf("nothing logged: %s", logs.String())
	}
}

// An HTML 503 from a proxy is retried; an HTML 200 (a captive portal, a login page) fails the read without
// handing on a record.
func TestHostileReadHTMLFromAProxy(t *testing.T) {
	t.Parallel()
	h := newHandSF(t)
	var n atomic.Int64
	h.mu.Lock()
	h.pages[""] = func(w http.ResponseWriter) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>")
			return
		}
		fmt.Fprint(w, `{"totalSize":1,"done":true,"records":[`+hostileRec("001000000000001AAA", "923609016")+`]}`)
	}
	h.mu.Unlock()
	got, err := hostileReadAll(h.client(t, "Account", "Org_Number__c"))
	if err != nil || len(got) != 1 || n.Load() != 2 {
		t.Fatalf("%q %v after %d queries; want the 503 retried", recIDs(got), err, n.Load())
	}

	g := newHandSF(t)
	g.page("", "<!DOCTYPE html><html><body>Please log in</body></html>")
	got, err = hostileReadAll(g.client(t, "Account", "Org_Number__c"))
	if err == nil || len(got) != 0 {
		t.Fatalf("%q %v; want an HTML 200 refused", recIDs(got), err)
	}
	if errors.Is(err, massupdate.ErrUnauthorized) {
		t.Errorf("an HTML page read as a refused login: %v", err)
	}
}

// totalSize is not what the read goes by: in any form (a fraction, a string, null, negative, absent) the
// records are read. Count, which reports it, takes a whole number written as a number (3 or 3.0) and
// refuses the rest rather than report 0.
func TestHostileReadTotalSizeForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		total string
		count int // -1: Count fails
	}{
		{`"totalSize":3,`, 3}, {`"totalSize":3.0,`, 3}, {`"totalSize":"3",`, -1}, {`"totalSize":null,`, -1},
		{`"totalSize":-1,`, -1}, {`"totalSize":1.5,`, -1}, {``, -1}, {`"totalSize":1e400,`, -1},
	} {
		t.Run(tc.total, func(t *testing.T) {
			t.Parallel()
			h := newHandSF(t)
			h.page("", `{`+tc.total+`"done":true,"records":[`+hostileRec("001000000000001AAA", "923609016")+`]}`)
			c := h.client(t, "Account", "Org_Number__c")
			got, err := hostileReadAll(c)
			if err != nil || len(got) != 1 {
				t.Errorf("Records: %q %v; want the record read", recIDs(got), err)
			}
			n, err := c.Count(context.Background())
			if tc.count >= 0 && (err != nil || n != tc.count) {
				t.Errorf("Count = %d, %v; want %d", n, err, tc.count)
			}
			if tc.count < 0 && err == nil {
				t.Errorf("Count = %d; want an error", n)
			}
		})
	}
}

// An absolute nextRecordsUrl on the instance is followed however the same host is spelled (scheme and host
// in capitals, the default port written out), and only on it.
func TestHostileReadNextRecordsURLSpellings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		next string
		ok   bool
	}{
		{"https://acme.my.salesforce.com/services/data/v62.0/query/L-2", true},
		{"HTTPS://ACME.my.salesforce.com/services/data/v62.0/query/L-2", true},
		{"https://acme.my.salesforce.com:443/services/data/v62.0/query/L-2", true},
		{"https://acme.my.salesforce.com:8443/services/data/v62.0/query/L-2", false},
		{"http://acme.my.salesforce.com:443/services/data/v62.0/query/L-2", false},
		{"https://other.my.salesforce.com/services/data/v62.0/query/L-2", false},
	} {
		t.Run(tc.next, func(t *testing.T) {
			t.Parallel()
			login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"access_token":%q,"instance_url":"https://acme.my.salesforce.com","token_type":"Bearer"}`, hostileToken)
			}))
			t.Cleanup(login.Close)
			var mu sync.Mutex
			var asked []string
			c, err := salesforce.New(salesforce.Options{LoginURL: login.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
				Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", Clock: clocktest.New(),
				Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if strings.HasPrefix(login.URL, "http://"+r.URL.Host) {
						return http.DefaultTransport.RoundTrip(r)
					}
					mu.Lock()
					asked = append(asked, r.URL.Host+r.URL.Path)
					mu.Unlock()
					body := `{"totalSize":2,"done":true,"records":[` + hostileRec("001000000000002AAA", "984851006") + `]}`
					switch {
					case strings.HasSuffix(r.URL.Path, "/describe"):
						body = accountDescribe
					case strings.HasSuffix(r.URL.Path, "/query"):
						body = fmt.Sprintf(`{"totalSize":2,"done":false,"nextRecordsUrl":%q,"records":[%s]}`,
							tc.next, hostileRec("001000000000001AAA", "923609016"))
					}
					return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
						Body: io.NopCloser(strings.NewReader(body))}, nil
				})})
			if err != nil {
				t.Fatal(err)
			}
			got, err := hostileReadAll(c)
			if tc.ok && (err != nil || len(got) != 2) {
				t.Errorf("%q %v; want both pages", recIDs(got), err)
			}
			if !tc.ok && (err == nil || len(got) != 1) {
				t.Errorf("%q %v; want the link refused", recIDs(got), err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range asked {
				if !strings.HasPrefix(a, "acme.my.salesforce.com/") {
					t.Errorf("asked %s", a)
				}
			}
		})
	}
}

// A count of a retry's records whose answer gives no totalSize is an error, as the ordinary count's is:
// read as 0, it would tell preview that none of the failed records is selected any more.
func TestHostileCountByIDWithoutTotalSize(t *testing.T) {
	t.Parallel()
	h := newHandSF(t)
	h.page("", `{"done":true,"records":[]}`)
	src, err := h.client(t, "Account", "Org_Number__c").ByID([]string{"001000000000001AAA", "001000000000002AAA"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := src.Count(context.Background()); err == nil || !strings.Contains(err.Error(), "totalSize") {
		t.Fatalf("Count = %d, %v; want an error naming the missing totalSize", n, err)
	}
}
