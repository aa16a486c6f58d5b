package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

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
				Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
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
