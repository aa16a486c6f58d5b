package config

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
)

// Left out, sync uses the change feed with no refresh and no cap, and notify.on names the runs someone has
// to act on (README: Contract, "Config file").
func TestSyncAndNotifyDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse("p.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Sync.ChangeFeed || c.Sync.RefreshDays != 0 || c.Sync.MaxLookups != 0 {
		t.Errorf("sync defaults: %+v", c.Sync)
	}
	if want := []massupdate.Status{massupdate.StatusFail, massupdate.Interrupted}; !slices.Equal(c.Notify.On, want) {
		t.Errorf("notify.on = %v, want %v", c.Notify.On, want)
	}
	// Defaults must not hand out a shared slice that one config's edits would change for the next.
	c.Notify.On[0] = "succeeded"
	if d := Defaults(); d.Notify.On[0] != massupdate.StatusFail {
		t.Errorf("Defaults().Notify.On shares its slice: %v", d.Notify.On)
	}
}

func TestSyncAndNotifyParsed(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		sync       Sync
		on         []massupdate.Status
	}{
		{"all set", "sync:\n  change_feed: false\n  refresh_days: 30\n  max_lookups: 5000\nnotify:\n  on: [partial, Succeeded, failed, partial]\n",
			Sync{RefreshDays: 30, MaxLookups: 5000}, []massupdate.Status{"partial", "succeeded", "failed"}},
		{"one status as a value", "notify:\n  on: interrupted\n", Sync{ChangeFeed: true}, []massupdate.Status{"interrupted"}},
		{"none", "notify:\n  on: []\n", Sync{ChangeFeed: true}, []massupdate.Status{}},
		{"no value keeps the default", "notify:\n  on:\n", Sync{ChangeFeed: true}, []massupdate.Status{"failed", "interrupted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse("p.yaml", []byte(minimal+tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.Sync != tc.sync {
				t.Errorf("sync = %+v, want %+v", c.Sync, tc.sync)
			}
			if !slices.Equal(c.Notify.On, tc.on) || c.Notify.On == nil {
				t.Errorf("notify.on = %#v, want %#v", c.Notify.On, tc.on)
			}
		})
	}
}

// format and type are read in any case and kept in mapping's spelling; a relationship path is accepted
// where a parent's field can be read (org number, country) and the object may be any API name.
func TestRuleHintsObjectsAndPaths(t *testing.T) {
	t.Parallel()
	y := `
salesforce:
  object: contact
  org_number_field: Account.Org_Number__c
  country_field: Parent__r.Country_Code__c
  default_country: se
  opt_in_field: Proff_Mass_Update__c
mapping:
  - proff: name
    field: Title
    format: Title
  - proff: newTopLevelKey
    field: Some_Number__c
    type: " Number "
`
	c, err := Parse("p.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Salesforce.Object != "Contact" || c.Salesforce.OrgNumberField != "Account.Org_Number__c" ||
		c.Salesforce.CountryField != "Parent__r.Country_Code__c" {
		t.Errorf("salesforce: %+v", c.Salesforce)
	}
	if c.Mapping[0].Format != mapping.Title || c.Mapping[0].Type != "" || c.Mapping[1].Type != mapping.Number || c.Mapping[1].Format != mapping.AsSent {
		t.Errorf("rules: %+v", c.Mapping)
	}
	custom, err := Parse("p.yaml", []byte(strings.Replace(y, "object: contact", "object: ns__Company__c", 1)))
	if err != nil || custom.Salesforce.Object != "ns__Company__c" {
		t.Errorf("custom object: %v %+v", err, custom)
	}
}

// Settings records what shaped a run (sync, notify.on, each rule's format and type) and never the webhook.
func TestSettingsHoldSyncNotifyAndHints(t *testing.T) {
	t.Parallel()
	c, err := Parse("p.yaml", []byte(minimal+"    format: title\nsync:\n  refresh_days: 7\n  max_lookups: 100\nnotify:\n  on: [partial]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Env.NotifyWebhookURL = "https://hooks.example.com/services/T000/B000/secretkey123"
	var got struct {
		Mapping []map[string]string `json:"mapping"`
		Sync    map[string]any      `json:"sync"`
		On      []string            `json:"notify_on"`
	}
	raw := c.Settings()
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Mapping[0]["format"] != "title" || got.Sync["refresh_days"] != 7.0 || got.Sync["max_lookups"] != 100.0 ||
		got.Sync["change_feed"] != true || !slices.Equal(got.On, []string{"partial"}) {
		t.Errorf("settings: %s", raw)
	}
	if strings.Contains(string(raw), "hooks.example.com") || strings.Contains(string(raw), "secretkey") {
		t.Errorf("settings hold the webhook: %s", raw)
	}
}

// NOTIFY_WEBHOOK_URL is a secret: masked to scheme and host in check, its URL and path on the scrub list,
// never quoted by an error; https only, loopback excepted.
func TestNotifyWebhookEnv(t *testing.T) {
	t.Parallel()
	const hook = "https://hooks.example.com/services/T000/B000/hook-key-5555"
	e, err := LoadEnv(env(map[string]string{"NOTIFY_WEBHOOK_URL": hook}))
	if err != nil {
		t.Fatal(err)
	}
	if e.NotifyWebhookURL != hook {
		t.Errorf("NotifyWebhookURL = %q", e.NotifyWebhookURL)
	}
	got := rows(e)
	if strings.Contains(got, "hook-key") || !strings.Contains(got, "NOTIFY_WEBHOOK_URL=https://hooks.example.com/****") {
		t.Errorf("Describe:\n%s", got)
	}
	if !slices.Contains(e.Secrets(), hook) || !slices.Contains(e.Secrets(), "/services/T000/B000/hook-key-5555") {
		t.Errorf("Secrets() = %q", e.Secrets())
	}
	if _, err := LoadEnv(env(map[string]string{"NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/hook"})); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
	if e, _ := LoadEnv(env(nil)); !strings.Contains(rows(e), "NOTIFY_WEBHOOK_URL=(not set)") {
		t.Errorf("unset webhook:\n%s", rows(e))
	}
	for _, bad := range []string{"http://hooks.example.com/services/plain-key-6666", "hooks.example.com/plain-key-6666"} {
		_, err := LoadEnv(env(map[string]string{"NOTIFY_WEBHOOK_URL": bad}))
		if !IsError(err) || !strings.Contains(err.Error(), "NOTIFY_WEBHOOK_URL") || strings.Contains(err.Error(), "plain-key") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

// The client credentials flow is served only by the org's My Domain: login.salesforce.com and
// test.salesforce.com are refused at load, naming My Domain and the URL form, instead of a login that
// fails with a rejected credential.
func TestClientCredentialsOnGenericLoginHostIsRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://login.salesforce.com", "https://TEST.salesforce.com/"} {
		for _, flow := range []string{"", "client_credentials"} {
			_, err := LoadEnv(env(map[string]string{"SF_LOGIN_URL": u, "SF_AUTH_FLOW": flow}))
			if !IsError(err) || !strings.Contains(err.Error(), "My Domain") || !strings.Contains(err.Error(), "https://NAME.my.salesforce.com") {
				t.Errorf("%s flow %q: err = %v", u, flow, err)
			}
		}
	}
	for _, tc := range []map[string]string{
		{"SF_LOGIN_URL": "https://acme.my.salesforce.com"},
		{"SF_LOGIN_URL": "https://login.salesforce.com", "SF_AUTH_FLOW": "jwt"},
		{"SF_LOGIN_URL": "https://test.salesforce.com", "SF_AUTH_FLOW": "password"},
	} {
		if _, err := LoadEnv(env(tc)); err != nil {
			t.Errorf("%v: %v", tc, err)
		}
	}
}

// A field name quoted with spaces around it is the name without them, for every field of the salesforce
// section: the opt-in and last-synced fields were used as written, so mapping onto the last-synced field
// went unnoticed and a write carried the spaced name.
func TestSalesforceFieldNamesAreTrimmed(t *testing.T) {
	t.Parallel()
	y := `
salesforce:
  org_number_field: " Org_Number__c "
  default_country: NO
  opt_in_field: " Proff_Mass_Update__c "
  last_synced_field: " Proff_Last_Synced__c "
mapping:
  - proff: name
    field: Name
`
	c, err := Parse("p.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if sf := c.Salesforce; sf.OrgNumberField != "Org_Number__c" || sf.OptInField != "Proff_Mass_Update__c" ||
		sf.LastSyncedField != "Proff_Last_Synced__c" {
		t.Errorf("salesforce: %+v", sf)
	}
	_, err = Parse("p.yaml", []byte(y+"  - proff: employees\n    field: Proff_Last_Synced__c\n"))
	if err == nil || !strings.Contains(err.Error(), "is salesforce.last_synced_field and cannot be mapped") {
		t.Errorf("mapping onto the spaced last-synced field: %v", err)
	}
}
