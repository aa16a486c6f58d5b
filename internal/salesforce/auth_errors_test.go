package salesforce_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
)

// oauthRefusal answers every token request with Salesforce's 400 and the given OAuth error.
type oauthRefusal struct{ body string }

func (o oauthRefusal) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}},
		Request: r, Body: io.NopCloser(strings.NewReader(o.body))}, nil
}

// Each OAuth error Salesforce answers a login with reads as one sentence that says what to fix, and stays
// the unauthorized kind the engine stops a run on.
func TestLoginErrorSaysWhatToFix(t *testing.T) {
	t.Parallel()
	cc, jwt, pw := salesforce.FlowClientCredentials, salesforce.FlowJWT, salesforce.FlowPassword
	key := pemKey(testKey(t))
	for _, tc := range []struct {
		flow, code, desc string
		want             string
	}{
		{cc, "invalid_client_id", "client identifier invalid",
			"salesforce login (client_credentials flow) rejected: invalid_client_id: client identifier invalid — SF_CLIENT_ID is not the consumer key of an app in the org SF_LOGIN_URL points at: copy it from the app, check that SF_LOGIN_URL is that org's (a sandbox is another org), or wait up to 10 minutes after creating the app"},
		{cc, "invalid_client", "invalid client credentials",
			"salesforce login (client_credentials flow) rejected: invalid_client: invalid client credentials — SF_CLIENT_SECRET is not the consumer secret of the app SF_CLIENT_ID names: copy it again from the app"},
		{jwt, "invalid_client", "invalid client credentials",
			"salesforce login (jwt flow) rejected: invalid_client: invalid client credentials — the app refused the JWT's client: check that SF_CLIENT_ID is the consumer key of the app that holds the certificate of SF_JWT_KEY_FILE"},
		{cc, "unsupported_grant_type", "grant type not supported",
			"salesforce login (client_credentials flow) rejected: unsupported_grant_type: grant type not supported — client credentials flow is not enabled for this app, or SF_LOGIN_URL is not the org's My Domain (https://NAME.my.salesforce.com (a sandbox: https://NAME--SANDBOX.sandbox.my.salesforce.com))"},
		{pw, "unsupported_grant_type", "grant type not supported",
			"salesforce login (password flow) rejected: unsupported_grant_type: grant type not supported — the username-password flow is blocked: allow it in Setup (OAuth and OpenID Connect Settings) or use the client_credentials or jwt flow"},
		{jwt, "unsupported_grant_type", "grant type not supported",
			"salesforce login (jwt flow) rejected: unsupported_grant_type: grant type not supported — the jwt flow is not enabled for this app: enable it in the app's OAuth settings"},
		{cc, "invalid_request", "request not supported on this domain",
			"salesforce login (client_credentials flow) rejected: invalid_request: request not supported on this domain — this host does not issue tokens for the client_credentials flow: set SF_LOGIN_URL to the org's My Domain, https://NAME.my.salesforce.com (a sandbox: https://NAME--SANDBOX.sandbox.my.salesforce.com)"},
		{cc, "unsupported_grant_type", "Request not supported on this domain",
			"salesforce login (client_credentials flow) rejected: unsupported_grant_type: Request not supported on this domain — this host does not issue tokens for the client_credentials flow: set SF_LOGIN_URL to the org's My Domain, https://NAME.my.salesforce.com (a sandbox: https://NAME--SANDBOX.sandbox.my.salesforce.com)"},
		{cc, "invalid_grant", "no client credentials user enabled",
			"salesforce login (client_credentials flow) rejected: invalid_grant: no client credentials user enabled — the app has no run-as user: set one in the app's client credentials flow settings"},
		{cc, "invalid_grant", "authentication failure",
			"salesforce login (client_credentials flow) rejected: invalid_grant: authentication failure — the app's run-as user cannot log in: check that the user is active and has API access, and that the app's client credentials flow names it"},
		{pw, "invalid_grant", "authentication failure",
			"salesforce login (password flow) rejected: invalid_grant: authentication failure — SF_USERNAME or SF_PASSWORD is wrong, or the user is locked: the password needs the user's security token appended unless the org trusts this IP address"},
		{jwt, "invalid_grant", "user hasn't approved this consumer",
			"salesforce login (jwt flow) rejected: invalid_grant: user hasn't approved this consumer — the JWT was refused: SF_USERNAME must be a user pre-authorized for the app (its profile or a permission set assigned to the app) and the app's certificate must match SF_JWT_KEY_FILE"},
		{jwt, "invalid_grant", "audience is invalid",
			"salesforce login (jwt flow) rejected: invalid_grant: audience is invalid — the JWT's audience was refused: set SF_LOGIN_URL to https://login.salesforce.com (a sandbox: https://test.salesforce.com) or the org's My Domain"},
		{pw, "invalid_grant", "ip restricted",
			"salesforce login (password flow) rejected: invalid_grant: ip restricted — the org refuses logins from this IP address: relax the app's IP relaxation policy or allow this address in the user's profile"},
		// A code without a known fix keeps Salesforce's words alone.
		{cc, "inactive_org", "the org is inactive",
			"salesforce login (client_credentials flow) rejected: inactive_org: the org is inactive"},
	} {
		c, err := salesforce.New(salesforce.Options{LoginURL: "https://acme.my.salesforce.com", Flow: tc.flow,
			ClientID: "cid", ClientSecret: "csecret", Username: "u@example.com", Password: "pw", JWTKey: key,
			APIVersion: "62.0", Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c",
			Clock: clocktest.New(),
			Base:  oauthRefusal{body: `{"error":"` + tc.code + `","error_description":"` + tc.desc + `"}`}})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login(context.Background())
		if !errors.Is(err, massupdate.ErrUnauthorized) {
			t.Errorf("%s %s: %v is not ErrUnauthorized", tc.flow, tc.code, err)
		}
		var le *salesforce.LoginError
		if !errors.As(err, &le) || le.Code != tc.code || le.Flow != tc.flow {
			t.Errorf("%s %s: %#v is not a LoginError with its code and flow", tc.flow, tc.code, err)
		}
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %s:\n got %v\nwant %s", tc.flow, tc.code, err, tc.want)
		}
	}
}

func TestValidateLoginURL(t *testing.T) {
	t.Parallel()
	const refused = " cannot issue tokens for the client_credentials flow: set it to the org's My Domain, https://NAME.my.salesforce.com (a sandbox: https://NAME--SANDBOX.sandbox.my.salesforce.com) (Setup, My Domain, shows NAME)"
	for _, tc := range []struct {
		flow, url, want string
	}{
		{salesforce.FlowClientCredentials, "https://login.salesforce.com", "SF_LOGIN_URL https://login.salesforce.com" + refused},
		{salesforce.FlowClientCredentials, "https://test.salesforce.com/", "SF_LOGIN_URL https://test.salesforce.com" + refused},
		{salesforce.FlowClientCredentials, "https://LOGIN.Salesforce.com.", "SF_LOGIN_URL https://LOGIN.Salesforce.com." + refused},
		{"", "https://login.salesforce.com", "SF_LOGIN_URL https://login.salesforce.com" + refused}, // "" is client_credentials
		{salesforce.FlowClientCredentials, "https://acme.my.salesforce.com", ""},
		{salesforce.FlowClientCredentials, "https://acme--uat.sandbox.my.salesforce.com", ""},
		{salesforce.FlowClientCredentials, "http://127.0.0.1:8080", ""},
		{salesforce.FlowJWT, "https://login.salesforce.com", ""},
		{salesforce.FlowJWT, "https://test.salesforce.com", ""},
		{salesforce.FlowPassword, "https://login.salesforce.com", ""},
	} {
		err := salesforce.ValidateLoginURL(tc.flow, tc.url)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("ValidateLoginURL(%q, %q):\n got %q\nwant %q", tc.flow, tc.url, got, tc.want)
		}
	}
}
