package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// Salesforce's OAuth errors read like a wrong secret whatever went wrong: check prints, for each, the one
// sentence that says what to fix (golden file; PROFFSYNC_UPDATE_GOLDEN=1 rewrites it).
func TestCheckLoginErrorHints(t *testing.T) {
	t.Parallel()
	cases := []struct{ flow, code, description string }{
		{"client_credentials", "invalid_client_id", "client identifier invalid"},
		{"client_credentials", "invalid_client", "invalid client credentials"},
		{"client_credentials", "invalid_grant", "no client credentials user enabled"},
		{"client_credentials", "unsupported_grant_type", "grant type not supported"},
		{"client_credentials", "invalid_request", "request not supported on this domain"},
		{"password", "invalid_grant", "authentication failure"},
		{"password", "unsupported_grant_type", "grant type not supported"},
	}
	dsn := storetest.URL(t)
	cfg := writeFile(t, "p.yaml", sandbox.DemoConfig)
	// Proff refuses the token at once: this test is about Salesforce's answers.
	proffSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer proffSrv.Close()
	var got strings.Builder
	for _, tc := range cases {
		login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": tc.code, "error_description": tc.description})
		}))
		env := map[string]string{"DATABASE_URL": dsn, "PROFFSYNC_CONFIG": cfg, "SF_AUTH_FLOW": tc.flow,
			"SF_LOGIN_URL": login.URL, "SF_CLIENT_ID": "3MVG9-client", "SF_CLIENT_SECRET": "secret-hints-0000",
			"SF_USERNAME": "integration@example.com", "SF_PASSWORD": "password-hints-1111",
			"PROFF_API_URL": proffSrv.URL, "PROFF_API_TOKEN": "token-hints-2222"}
		r := proffsync(t, env, "check", "--log-level", "error")
		login.Close()
		if r.code != ExitFailed {
			t.Errorf("%s %s: code %d: %s", tc.flow, tc.code, r.code, r.stderr)
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "salesforce ") {
				fmt.Fprintf(&got, "%s %s (%s):\n%s\n", tc.flow, tc.code, tc.description, l)
			}
		}
	}
	golden := filepath.Join("testdata", "check_login_hints.golden")
	if os.Getenv("PROFFSYNC_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("check's login lines differ from %s:\n got:\n%s\nwant:\n%s", golden, got.String(), want)
	}
	if strings.Contains(got.String(), "secret-hints") || strings.Contains(got.String(), "password-hints") {
		t.Errorf("a secret in check's output:\n%s", got.String())
	}
}

// check runs the selection query with LIMIT 1: a filter Salesforce refuses fails check, not the first run.
func TestCheckRunsTheSelectionQuery(t *testing.T) {
	t.Parallel()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 4})
	r := proffsync(t, env, "check", "--log-level", "error")
	if r.code != 0 {
		t.Fatalf("check on the sandbox: %+v", r)
	}
	queries := 0
	for _, rq := range sb.SF.Requests() {
		if strings.HasSuffix(rq.Path, "/query") && strings.Contains(rq.RawQuery, "LIMIT+1") {
			queries++
		}
	}
	if queries != 1 {
		t.Errorf("%d selection queries with LIMIT 1, want 1", queries)
	}
	env["PROFFSYNC_CONFIG"] = writeFile(t, "p.yaml", strings.Replace(sandbox.DemoConfig, "  last_synced_field:",
		"  filter: \"No_Such_Field__c = 'x'\"\n  last_synced_field:", 1))
	r = proffsync(t, env, "check", "--log-level", "error")
	if r.code == 0 || !strings.Contains(r.stdout, "salesforce  FAIL") || !strings.Contains(r.stdout, "No_Such_Field__c") {
		t.Errorf("check with a bad filter: %+v", r)
	}
}

// Offline, check still reports what run needs: the Proff token, and a JWT key that does not parse (78).
func TestCheckOfflineReportsWhatRunNeeds(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "p.yaml", sandbox.DemoConfig)
	key := writeFile(t, "key.pem", "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
	env := map[string]string{"PROFFSYNC_CONFIG": cfg, "SF_AUTH_FLOW": "jwt", "SF_CLIENT_ID": "3MVG9-client",
		"SF_USERNAME": "integration@example.com", "SF_JWT_KEY_FILE": key}
	r := proffsync(t, env, "check", "--offline")
	if r.code != ExitConfig || !strings.Contains(r.stdout, "PROFF_API_TOKEN") || !strings.Contains(r.stdout, "SF_JWT_KEY_FILE: "+key) {
		t.Errorf("offline check: %+v", r)
	}
	env["PROFF_API_TOKEN"] = "token-offline-3333"
	r = proffsync(t, env, "check", "--offline")
	if r.code != ExitConfig || strings.Contains(r.stdout, "PROFF_API_TOKEN (or") {
		t.Errorf("offline check with a token: %+v", r)
	}
}

// check warns about a top-level key the catalogue does not know (mappable, in case Proff added it).
func TestCheckWarnsAboutUnknownKeys(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "p.yaml", strings.Replace(sandbox.DemoConfig, "mapping:\n", "mapping:\n  - proff: brandNewKey\n    field: Description\n", 1))
	env := map[string]string{"PROFFSYNC_CONFIG": cfg, "PROFF_API_TOKEN": "token-warn-4444", "SF_CLIENT_ID": "id",
		"SF_CLIENT_SECRET": "secret-warn-5555", "SF_LOGIN_URL": "https://acme.my.salesforce.com"}
	r := proffsync(t, env, "check", "--offline")
	if r.code != 0 || !strings.Contains(r.stdout, "warning     brandNewKey: the catalogue does not know this top-level key") {
		t.Errorf("check: %+v", r)
	}
}

// check warns when an amount goes to a currency field of an org whose currency is not the companies':
// proffsync converts nothing (issue 13).
func TestCheckWarnsAboutCurrencies(t *testing.T) {
	t.Parallel()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 4})
	env["PROFFSYNC_CONFIG"] = writeFile(t, "p.yaml", strings.Replace(sandbox.DemoConfig, "mapping:\n",
		"mapping:\n  - proff: revenue\n    field: AnnualRevenue\n", 1))
	sb.SF.SetOrgCurrency("EUR")
	r := proffsync(t, env, "check", "--log-level", "error")
	if r.code != 0 || !strings.Contains(r.stdout, "warning     revenue goes to a currency field of an org in EUR") ||
		!strings.Contains(r.stdout, "NO companies report in NOK") {
		t.Errorf("check with a EUR org: %+v", r)
	}
	sb.SF.SetOrgCurrency("NOK")
	env["PROFFSYNC_CONFIG"] = writeFile(t, "p.yaml", strings.Replace(strings.Replace(sandbox.DemoConfig, "mapping:\n",
		"mapping:\n  - proff: revenue\n    field: AnnualRevenue\n", 1), "  country_field: Country_Code__c\n", "", 1))
	r = proffsync(t, env, "check", "--log-level", "error")
	if r.code != 0 || strings.Contains(r.stdout, "currency field") {
		t.Errorf("check with a NOK org and only Norwegian records: %+v", r)
	}
}
