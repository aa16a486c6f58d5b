package salesforce_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

// The API reserve reads Sforce-Limit-Info in every form Salesforce sends it. At 906 of 1000 calls used a 10 %
// reserve is reached: the read must stop before its first query, whatever the form. (Split on "," alone,
// the "; " forms were ignored and a run went on writing at 906/1000.)
func TestReserveHoldsForEveryLimitInfoForm(t *testing.T) {
	t.Parallel()
	for name, form := range map[string]sfemu.LimitInfoForm{
		"bursts": sfemu.LimitInfoBursts, "per-app": sfemu.LimitInfoPerApp, "plain": sfemu.LimitInfoPlain, "comma": sfemu.LimitInfoComma,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sfemu.Options{APIUsed: 905, APIMax: 1000, LimitInfo: form}, func(o *salesforce.Options) { o.ReservePercent = 10 })
			e.add(3, optedIn)
			d, err := e.c.Describe(context.Background()) // the 906th call
			if err != nil {
				t.Fatal(err)
			}
			if err := e.c.ValidateFields(d); err != nil {
				t.Fatal(err)
			}
			if u, m, ok := e.c.APIUsage(); !ok || u != 906 || m != 1000 {
				t.Fatalf("APIUsage = %d/%d %v, want 906/1000 from the header", u, m, ok)
			}
			pages := 0
			err = e.c.Records(context.Background(), "", func([]massupdate.Record) error { pages++; return nil })
			if !errors.Is(err, massupdate.ErrQuotaExhausted) || !strings.Contains(err.Error(), "reserve") || pages != 0 {
				t.Fatalf("Records at 906/1000: %v after %d pages, want the reserve to stop it before any page", err, pages)
			}
			if n := len(queries(e.emu.Requests())); n != 0 {
				t.Fatalf("%d queries sent below the reserve", n)
			}
		})
	}
}

// The token answer's instance_url receives the access token with every later call: a login answer that
// points at another host (here evil.example.com) is refused before any request carries the token, unless
// the operator allowed that host (AllowedInstanceHosts, a host name or a .suffix).
func TestInstanceURLMustBeASalesforceHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		instURL string
		allowed []string
		ok      bool
	}{
		{"foreign host", "https://evil.example.com", nil, false},
		{"look-alike suffix", "https://evilsalesforce.com", nil, false},
		{"salesforce domain as a prefix", "https://acme.my.salesforce.com.evil.example.com", nil, false},
		{"allowed by name", "https://evil.example.com", []string{"other.example.com", " Evil.Example.com "}, true},
		{"allowed by suffix", "https://evil.example.com", []string{".example.com"}, true},
		{"my domain", "https://acme.my.salesforce.com", nil, true},
		{"force.com", "https://acme.lightning.force.com", nil, true},
		{"government cloud", "https://acme.my.salesforce.mil", nil, true},
		{"cloudforce", "https://acme.cloudforce.com", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"access_token":"00Dxx!tok-d0nt-send","instance_url":%q,"token_type":"Bearer"}`, tc.instURL)
			}))
			defer login.Close()
			var mu sync.Mutex
			var sent []string // what reached the instance host, with the Authorization it carried
			c, err := salesforce.New(salesforce.Options{LoginURL: login.URL, ClientID: "id", ClientSecret: "secret-1234", APIVersion: "62.0",
				Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", AllowedInstanceHosts: tc.allowed,
				Clock: clocktest.New(),
				Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if strings.HasPrefix(login.URL, "http://"+r.URL.Host) {
						return http.DefaultTransport.RoundTrip(r)
					}
					mu.Lock()
					sent = append(sent, r.URL.Host+" "+r.Header.Get("Authorization"))
					mu.Unlock()
					return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
						Body: io.NopCloser(strings.NewReader(`{"fields":[]}`))}, nil
				})})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Describe(context.Background())
			mu.Lock()
			defer mu.Unlock()
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "instance_url") || !strings.Contains(err.Error(), "not a Salesforce domain") {
					t.Fatalf("Describe: %v, want the instance_url refused", err)
				}
				if len(sent) != 0 {
					t.Fatalf("the token went to the instance host anyway: %q", sent)
				}
				return
			}
			if err != nil || len(sent) != 1 || !strings.HasSuffix(sent[0], "Bearer 00Dxx!tok-d0nt-send") {
				t.Fatalf("Describe: %v, sent %q; want one call to the instance with the token", err, sent)
			}
		})
	}
}

func TestAllowedInstanceHostsAreChecked(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"https://evil.example.com", "*.example.com", "evil.example.com:443", "evil.example.com/x"} {
		_, err := salesforce.New(salesforce.Options{LoginURL: "https://login.salesforce.com", ClientID: "id", ClientSecret: "s", APIVersion: "62.0",
			Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", AllowedInstanceHosts: []string{h}})
		if err == nil || !strings.Contains(err.Error(), "allowed instance host") {
			t.Errorf("AllowedInstanceHosts %q: %v, want it refused", h, err)
		}
	}
}

// A null or malformed record in a query page fails the page with an error naming the page and the record:
// never a panic (simpleforce's decoding panicked on a null record in a goroutine nothing recovered), and
// never a page handed on with the record skipped or half read.
func TestMalformedRecordFailsThePage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, raw, want string }{
		{"null", `null`, "record 1: it is null, not an object"},
		{"number", `42`, "record 1: it is a number, not an object"},
		{"array", `[]`, "record 1: it is an array, not an object"},
		{"no attributes", `{"Id":"001000000000001AAA","Org_Number__c":"923609016"}`, "record 1: it has no attributes object"},
		{"attributes null", `{"attributes":null,"Id":"001000000000001AAA"}`, "record 1: it has no attributes object"},
		{"numeric Id", `{"attributes":{"type":"Account"},"Id":1}`, "record 1: its Id is a number, not a string"},
		{"null Id", `{"attributes":{"type":"Account"},"Id":null}`, "record 1: its Id is null, not a string"},
		{"no Id", `{"attributes":{"type":"Account"},"Name":"x"}`, "record 1: it has no Id"},
		{"object value", `{"attributes":{"type":"Account"},"Id":"001000000000001AAA","Name":{"a":[1,2]}}`, "record 1: its field Name is an object, not a value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.PageSize = 200 })
			e.add(450, optedIn)
			pages := 0
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("Records panicked: %v", p)
					}
				}()
				err = e.c.Records(context.Background(), "", func([]massupdate.Record) error {
					pages++
					if pages == 1 {
						e.emu.CorruptNextRecord(tc.raw) // the second page
					}
					return nil
				})
			}()
			if err == nil || !strings.Contains(err.Error(), "query page 2") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Records: %v, want query page 2 failed with %q", err, tc.want)
			}
			if pages != 1 {
				t.Fatalf("%d pages handed on, want only the first", pages)
			}
			if n := len(queries(e.emu.Requests())); n != 2 {
				t.Fatalf("%d queries, want 2: a malformed page is not asked for again", n)
			}
		})
	}
}

// hostile is a server that answers as the emulator does, with every answer passed through rewrite first.
func hostile(t *testing.T, emu *sfemu.Server, rewrite func(r *http.Request, body []byte) []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		emu.Handler().ServeHTTP(rec, r)
		body := rewrite(r, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func hostileClient(t *testing.T, srv *httptest.Server, fields ...string) *salesforce.Client {
	t.Helper()
	c, err := salesforce.New(salesforce.Options{LoginURL: srv.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
		Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", Fields: fields,
		Clock: clocktest.New()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A query page is bounded by what 2000 records of the selected fields can be, not by 64 MiB: one byte more
// is refused with a clear error, at once, and not asked for again.
func TestOversizedPageRefused(t *testing.T) {
	t.Parallel()
	emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
	t.Cleanup(emu.Close)
	emu.AddRecord("Account", optedIn(1))
	var c *salesforce.Client
	var limit atomic.Int64
	var queried atomic.Int32
	srv := hostile(t, emu, func(r *http.Request, body []byte) []byte {
		if !strings.Contains(r.URL.Path, "/query") {
			return body
		}
		queried.Add(1)
		// Valid JSON, one byte too long: the records padded with white space.
		pad := bytes.Repeat([]byte(" "), int(limit.Load())-len(body)+1)
		return bytes.Replace(body, []byte(`"records":`), append([]byte(`"records":`), pad...), 1)
	})
	c = hostileClient(t, srv, "Name")
	d, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateFields(d); err != nil {
		t.Fatal(err)
	}
	limit.Store(c.PageLimit())
	if l := limit.Load(); l > 16<<20 {
		t.Fatalf("page limit %d for Id, an org number and a name: not a few MiB", l)
	}
	err = c.Records(context.Background(), "", func([]massupdate.Record) error { return nil })
	var tooLarge *salesforce.AnswerTooLargeError
	if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("Records: %v, want the page refused as too large", err)
	}
	if n := queried.Load(); n != 1 {
		t.Fatalf("%d queries, want 1: an answer too large is not asked for again", n)
	}
}

// Describe's numbers are checked before the mapping computes with them: a scale of 1e9 made it format a
// number with a billion decimals (381 MiB) and compare NaN; a negative or absurd value is not Salesforce's.
func TestDescribeNumbersChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    mapping.Field
		want string
	}{
		{"huge scale", mapping.Field{Name: "AnnualRevenue", Type: "currency", Updateable: true, Precision: 18, Scale: 1e9}, "scale 1000000000 is out of range"},
		{"negative scale", mapping.Field{Name: "AnnualRevenue", Type: "currency", Updateable: true, Precision: 18, Scale: -2}, "scale -2 is out of range"},
		{"huge precision", mapping.Field{Name: "AnnualRevenue", Type: "currency", Updateable: true, Precision: 400}, "precision 400 is out of range"},
		{"negative length", mapping.Field{Name: "Name", Type: "string", Updateable: true, Length: -1}, "length -1 is out of range"},
		{"huge length", mapping.Field{Name: "Name", Type: "string", Updateable: true, Length: 1 << 30}, "length 1073741824 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sfemu.Options{}, nil)
			e.emu.SetField("Account", tc.f)
			_, err := e.c.Describe(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.f.Name) {
				t.Fatalf("Describe: %v, want %s refused with %q", err, tc.f.Name, tc.want)
			}
		})
	}
	// Salesforce's own extremes pass: a long text area, an 18-digit number with 17 decimals.
	e := setup(t, sfemu.Options{}, nil)
	e.emu.SetField("Account", mapping.Field{Name: "Description", Type: "textarea", Updateable: true, Length: 131072})
	e.emu.SetField("Account", mapping.Field{Name: "AnnualRevenue", Type: "currency", Updateable: true, Precision: 18, Scale: 17})
	d, err := e.c.Describe(context.Background())
	if err != nil || d["Description"].Length != 131072 || d["AnnualRevenue"].Scale != 17 {
		t.Fatalf("Describe: %v, %+v %+v", err, d["Description"], d["AnnualRevenue"])
	}
}

// Decoding a page costs memory in proportion to its size, a small multiple, whatever its shape: a page of
// 2000 records, each carrying an unselected field of 500 empty objects, took simpleforce's generic decoding
// about 25 times its size. Not parallel: it reads the process's allocation counter.
func TestPageDecodingMemoryIsProportional(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation is not measurable under the race detector")
	}
	emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
	t.Cleanup(emu.Close)
	var page bytes.Buffer
	page.WriteString(`{"totalSize":2000,"done":true,"records":[`)
	junk := strings.TrimSuffix(strings.Repeat("{},", 500), ",")
	for i := 0; i < 2000; i++ {
		if i > 0 {
			page.WriteByte(',')
		}
		fmt.Fprintf(&page, `{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/001000000%09dAAA"},`+
			`"Id":"001000000%09dAAA","Org_Number__c":"9%08d","Name":"Company %d","Junk__c":[%s]}`, i, i, i, i, junk)
	}
	page.WriteString("]}")
	body := page.Bytes()
	srv := hostile(t, emu, func(r *http.Request, b []byte) []byte {
		if strings.Contains(r.URL.Path, "/query") {
			return body
		}
		return b
	})
	c := hostileClient(t, srv, "Name")
	d, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateFields(d); err != nil {
		t.Fatal(err)
	}
	if int64(len(body)) > c.PageLimit() {
		t.Fatalf("the page (%d bytes) is beyond the limit %d: make it smaller", len(body), c.PageLimit())
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	err = c.Records(context.Background(), "", func(p []massupdate.Record) error { n += len(p); return nil })
	runtime.ReadMemStats(&after)
	if err != nil || n != 2000 {
		t.Fatalf("Records: %d records, %v", n, err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("page %d bytes, %d bytes allocated (%.1fx)", len(body), alloc, float64(alloc)/float64(len(body)))
	if alloc > 6*uint64(len(body)) {
		t.Fatalf("decoding a page of %d bytes allocated %d bytes (%.1fx): not proportional", len(body), alloc, float64(alloc)/float64(len(body)))
	}
}

// An answer with no computed bound (here /limits) is held to 1 MiB, whether its Content-Length says it is
// longer (then it is not read at all) or it streams on without one.
func TestSmallAnswersBounded(t *testing.T) {
	t.Parallel()
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length %v", declared), func(t *testing.T) {
			t.Parallel()
			emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
			t.Cleanup(emu.Close)
			big := append(append([]byte(`{"DailyApiRequests":{"Max":5000,"Remaining":4000},"Pad":"`), bytes.Repeat([]byte("x"), 1<<20)...), `"}`...)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, "/limits") {
					emu.Handler().ServeHTTP(w, r)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				if declared {
					w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				}
				_, _ = w.Write(big)
			}))
			t.Cleanup(srv.Close)
			c := hostileClient(t, srv)
			_, _, err := c.Limits(context.Background())
			var tooLarge *salesforce.AnswerTooLargeError
			if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "1.0 MiB") {
				t.Fatalf("Limits: %v, want the answer refused beyond 1 MiB", err)
			}
		})
	}
}
