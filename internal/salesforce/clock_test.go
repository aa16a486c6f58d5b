package salesforce_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

// TestClockOptionDrivesRetries: a client given only Options.Clock waits on it between tries (1 s, 2 s, …)
// for calls and for locked rows alike, and never on the wall clock.
func TestClockOptionDrivesRetries(t *testing.T) {
	t.Parallel()
	ck := clocktest.New()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Clock = ck })
	ctx := context.Background()
	if err := e.c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	e.emu.FailNext(3, 503)
	if _, err := e.c.Describe(ctx); err != nil {
		t.Fatalf("after three 503: %v", err)
	}
	if got, want := ck.Sleeps(), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

// TestClockOptionStampsTheJWT: the assertion's expiry is two minutes after the Clock's time.
func TestClockOptionStampsTheJWT(t *testing.T) {
	t.Parallel()
	ck := clocktest.New()
	var exp any
	c, err := salesforce.New(salesforce.Options{LoginURL: "https://login.salesforce.com", Flow: salesforce.FlowJWT, ClientID: clientID,
		Username: username, JWTKey: pemKey(testKey(t)), APIVersion: "62.0", Object: "Account", OrgNumberField: "Org_Number__c",
		OptInField: "Proff_Mass_Update__c", Clock: ck,
		Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			body, _ := io.ReadAll(r.Body)
			form, _ := url.ParseQuery(string(body))
			if parts := strings.Split(form.Get("assertion"), "."); len(parts) == 3 {
				raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
				var claims map[string]any
				_ = json.Unmarshal(raw, &claims)
				exp = claims["exp"]
			}
			return &http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
				Body: io.NopCloser(strings.NewReader(`{"error":"invalid_grant","error_description":"expired"}`))}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Login(context.Background())
	if want := float64(clocktest.Start.Add(2 * time.Minute).Unix()); exp != want {
		t.Fatalf("exp %v, want %v (the Clock's time plus two minutes)", exp, want)
	}
}

// TestNegativeMaxAttemptsIsOneTry: MaxAttempts below zero has always meant one try and no retry; the
// policy's "0 or less is unbounded" must not turn it into endless retries.
func TestNegativeMaxAttemptsIsOneTry(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.MaxAttempts = -1 })
	ctx := context.Background()
	if err := e.c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	e.emu.FailNext(3, 503)
	if _, err := e.c.Describe(ctx); err == nil {
		t.Fatal("Describe succeeded, so a 503 was retried")
	}
	if s := e.Sleeps(); len(s) != 0 {
		t.Fatalf("waits %v, want none", s)
	}
}
