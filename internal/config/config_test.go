package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimal = `
salesforce:
  org_number_field: Org_Number__c
  default_country: NO
  opt_in_field: Proff_Mass_Update__c
mapping:
  - proff: name
    field: Name
`

func TestParseMinimalAppliesDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse("p.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Salesforce.Object != "Account" || c.Salesforce.DefaultCountry != "NO" || c.Salesforce.APIReservePercent != 10 {
		t.Errorf("salesforce defaults: %+v", c.Salesforce)
	}
	if c.Mapping[0].Mode != "overwrite" || c.Mapping[0].Line != 7 {
		t.Errorf("rule: %+v", c.Mapping[0])
	}
	if c.Proff.RateLimitPerSecond != 5 || c.Proff.Concurrency != 8 || c.Schedule.Enabled || c.Schedule.Cron != "0 2 * * *" ||
		c.Schedule.Timezone != "Europe/Oslo" || c.Logs.RetentionDays != 90 || c.Serve.HTTPAddr != "127.0.0.1:8080" {
		t.Errorf("defaults: %+v", c)
	}
	if got := c.Fields(); len(got) != 1 || got[0] != "Name" {
		t.Errorf("Fields() = %v", got)
	}
}

func TestParseFullContractExample(t *testing.T) {
	t.Parallel()
	full := `
salesforce:
  object: Account                  # Account or Lead
  org_number_field: Org_Number__c  # required
  country_field: Country_Code__c
  default_country: NO
  opt_in_field: Proff_Mass_Update__c
  filter: "Type = 'Customer'"
  last_synced_field: Proff_Last_Synced__c
  last_synced_every_check: false
  api_reserve_percent: 10
mapping:
  - proff: name
    field: Name
    mode: overwrite
  - proff: visitorAddress.zipCode
    field: BillingPostalCode
  - proff: numberOfEmployees
    field: NumberOfEmployees
    mode: fill_blank
proff:
  rate_limit_per_second: 5
  concurrency: 8
schedule:
  enabled: false
  cron: "0 2 * * *"
  timezone: Europe/Oslo
sync:
  change_feed: true
  refresh_days: 0
  max_lookups: 0
notify:
  on: [failed, interrupted]
logs:
  retention_days: 90
serve:
  http_addr: 127.0.0.1:8080
`
	c, err := Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Mapping) != 3 || c.Mapping[2].Mode != "fill_blank" || c.Salesforce.Filter != "Type = 'Customer'" {
		t.Errorf("parsed: %+v", c)
	}
	if got := strings.Join(c.Fields(), ","); got != "Name,BillingPostalCode,NumberOfEmployees,Proff_Last_Synced__c" {
		t.Errorf("Fields() = %s", got)
	}
	if s := string(c.Settings()); !strings.Contains(s, `"filter":"Type = 'Customer'"`) || !strings.Contains(s, `"field":"BillingPostalCode"`) {
		t.Errorf("Settings() = %s", s)
	}
}

func TestParseBadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		want       []string // each must appear in the message
	}{
		{"unknown top-level key", minimal + "extra: 1\n", []string{"bad.yaml", `unknown key "extra"`, "line 9"}},
		{"unknown nested key", strings.Replace(minimal, "  default_country: NO", "  default_country: NO\n  objekt: Lead", 1), []string{`unknown key "salesforce.objekt"`}},
		{"unknown key in a rule", minimal + "    when: always\n", []string{`unknown key "mapping[0].when"`}},
		{"missing org number field", strings.Replace(minimal, "  org_number_field: Org_Number__c\n", "", 1), []string{"salesforce.org_number_field: required"}},
		{"missing opt-in field", strings.Replace(minimal, "  opt_in_field: Proff_Mass_Update__c\n", "", 1), []string{"salesforce.opt_in_field: required"}},
		{"missing default country", strings.Replace(minimal, "  default_country: NO\n", "", 1), []string{"salesforce.default_country: required"}},
		{"unknown country", strings.Replace(minimal, "default_country: NO", "default_country: DE", 1), []string{"salesforce.default_country", `"DE"`}},
		{"object not an API name", strings.Replace(minimal, "  default_country: NO", "  default_country: NO\n  object: \"Account WHERE\"", 1), []string{"salesforce.object", "Account WHERE", "not an object API name"}},
		{"org number two relationships up", strings.Replace(minimal, "org_number_field: Org_Number__c", "org_number_field: Account.Parent.Org__c", 1), []string{"salesforce.org_number_field", "parent's field"}},
		{"opt-in field through a relationship", strings.Replace(minimal, "opt_in_field: Proff_Mass_Update__c", "opt_in_field: Account.Opt__c", 1), []string{"salesforce.opt_in_field", "not a Salesforce field API name"}},
		{"mapped field through a relationship", strings.Replace(minimal, "field: Name", "field: Account.Name", 1), []string{"mapping[0].field", "not a Salesforce field API name"}},
		{"filter with an open quote", strings.Replace(minimal, "  default_country: NO", "  default_country: NO\n  filter: \"Type = 'Customer\"", 1), []string{"salesforce.filter"}},
		{"unknown format", minimal + "    format: upper\n", []string{"mapping[0].format", "upper", "title"}},
		{"unknown type", minimal + "    type: money\n", []string{"mapping[0].type", "money", "text, number"}},
		{"refresh days negative", minimal + "sync:\n  refresh_days: -1\n", []string{"sync.refresh_days", "-1"}},
		{"max lookups negative", minimal + "sync:\n  max_lookups: -3\n", []string{"sync.max_lookups", "-3"}},
		{"change feed not a bool", minimal + "sync:\n  change_feed: maybe\n", []string{"sync.change_feed", "true or false"}},
		{"notify on a running run", minimal + "notify:\n  on: [failed, running]\n", []string{"notify.on", "running"}},
		{"notify on a mapping", minimal + "notify:\n  on: {failed: true}\n", []string{"notify.on", "list"}},
		{"unknown key under sync", minimal + "sync:\n  feed: true\n", []string{`unknown key "sync.feed"`, "change_feed"}},
		{"malformed cron", minimal + "schedule:\n  cron: \"61 2 * * *\"\n", []string{"schedule.cron", "61 2"}},
		{"cron with six fields", minimal + "schedule:\n  cron: \"0 0 2 * * *\"\n", []string{"schedule.cron"}},
		{"unknown time zone", minimal + "schedule:\n  timezone: Europe/Atlantis\n", []string{"schedule.timezone", "Europe/Atlantis"}},
		{"duplicate mapping target", minimal + "  - proff: companyId\n    field: name\n", []string{"mapping[1].field", "already the target of mapping[0]"}},
		{"bad mode", minimal + "    mode: append\n", []string{"mapping[0].mode", "append"}},
		{"no mapping", strings.Split(minimal, "mapping:")[0], []string{"mapping: at least one"}},
		{"rate not a number", minimal + "proff:\n  rate_limit_per_second: fast\n", []string{"proff.rate_limit_per_second", "expected a number", "line 10"}},
		{"rate zero", minimal + "proff:\n  rate_limit_per_second: 0\n", []string{"proff.rate_limit_per_second"}},
		{"concurrency too high", minimal + "proff:\n  concurrency: 1000\n", []string{"proff.concurrency"}},
		{"retention zero", minimal + "logs:\n  retention_days: 0\n", []string{"logs.retention_days"}},
		{"retention negative", minimal + "logs:\n  retention_days: -5\n", []string{"logs.retention_days", "-5"}},
		// 106752 days overflow time.Duration: the cut-off would land in the future and a prune delete everything.
		{"retention overflowing a duration", minimal + "logs:\n  retention_days: 106752\n", []string{"logs.retention_days", "106752", "36500"}},
		{"retention above the cap", minimal + "logs:\n  retention_days: 36501\n", []string{"logs.retention_days"}},
		{"enabled not a bool", minimal + "schedule:\n  enabled: sometimes\n", []string{"schedule.enabled", "true or false"}},
		{"field name injection", strings.Replace(minimal, "field: Name", "field: \"Name FROM User --\"", 1), []string{"mapping[0].field", "not a Salesforce field API name"}},
		{"opt-in field mapped", minimal + "  - proff: registeredForVat\n    field: Proff_Mass_Update__c\n", []string{"salesforce.opt_in_field and cannot be mapped"}},
		{"not yaml", "salesforce: [\n", []string{"bad.yaml", "not valid YAML"}},
		{"empty file", "", []string{"bad.yaml", "empty"}},
		{"section not a mapping", minimal + "proff: 5\n", []string{"proff must be a mapping"}},
		{"duplicate key", minimal + "logs:\n  retention_days: 1\nlogs:\n  retention_days: 2\n", []string{"logs"}},
		{"bad http addr", minimal + "serve:\n  http_addr: localhost\n", []string{"serve.http_addr"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("Parse accepted a bad config")
			}
			var ce *Error
			if !errors.As(err, &ce) || !IsError(err) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err.Error(), w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !IsError(err) || !strings.Contains(err.Error(), "nope.yaml: config file not found") {
		t.Fatalf("err = %v", err)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadEnvDefaultsAndFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tok")
	if err := os.WriteFile(tokFile, []byte("proff-secret-token-1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := LoadEnv(env(map[string]string{"PROFF_API_TOKEN_FILE": tokFile, "SF_API_VERSION": "v61.0"}))
	if err != nil {
		t.Fatal(err)
	}
	if e.ProffAPIToken != "proff-secret-token-1234" || e.DatabaseURL != DefaultDatabaseURL || e.ProffAPIURL != DefaultProffAPIURL ||
		e.SFAuthFlow != FlowClientCredentials || e.SFLoginURL != "" || e.SFAPIVersion != "61.0" {
		t.Errorf("env: %+v", e)
	}
	if err := e.RequireSalesforce(); err == nil || !strings.Contains(err.Error(), "SF_LOGIN_URL") || !strings.Contains(err.Error(), "SF_CLIENT_ID") {
		t.Errorf("RequireSalesforce: %v", err)
	}
	for _, row := range e.Describe() {
		if strings.Contains(row[1], "proff-secret-token") {
			t.Errorf("Describe leaks the token: %v", row)
		}
	}
}

func TestLoadEnvErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both value and file", map[string]string{"PROFF_API_TOKEN": "x", "PROFF_API_TOKEN_FILE": "/y"}, "PROFF_API_TOKEN and PROFF_API_TOKEN_FILE are both set"},
		{"missing file", map[string]string{"SF_CLIENT_SECRET_FILE": "/nonexistent/secret"}, "SF_CLIENT_SECRET_FILE: cannot read /nonexistent/secret"},
		{"plain http to a remote host", map[string]string{"PROFF_API_URL": "http://api.proff.no"}, "PROFF_API_URL: refusing plain http"},
		{"bad flow", map[string]string{"SF_AUTH_FLOW": "saml"}, `SF_AUTH_FLOW: "saml"`},
		{"bad version", map[string]string{"SF_API_VERSION": "latest"}, "SF_API_VERSION"},
		{"bad database url", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL: not a postgres:// URL"},
		{"database url neither URL nor keywords", map[string]string{"DATABASE_URL": "db.example.com"}, "DATABASE_URL: not a postgres:// URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadEnv(env(tc.env))
			if !IsError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// pgx reads the keyword/value form of a connection string as well as the URL: LoadEnv takes it too, and
// masks its password wherever it shows it.
func TestLoadEnvKeywordValueDatabaseURL(t *testing.T) {
	t.Parallel()
	const dsn = "host=db.example.com port=5432 dbname=proffsync user=app password=kv-secret-pass-7777 sslmode=verify-full"
	e, err := LoadEnv(env(map[string]string{"DATABASE_URL": dsn}))
	if err != nil {
		t.Fatalf("LoadEnv refused the keyword/value form: %v", err)
	}
	if e.DatabaseURL != dsn {
		t.Errorf("DatabaseURL = %q", e.DatabaseURL)
	}
	if !contains(e.Secrets(), "kv-secret-pass-7777") {
		t.Errorf("Secrets() = %q lacks the password", e.Secrets())
	}
	if got := rows(e); strings.Contains(got, "kv-secret-pass") || !strings.Contains(got, "password=****7777") {
		t.Errorf("Describe does not mask the password:\n%s", got)
	}
}

func TestSecretsNeverInMessagesOrDescribe(t *testing.T) {
	t.Parallel()
	const pw = "db-password-s3cret-9876"
	e, err := LoadEnv(env(map[string]string{
		"DATABASE_URL": "postgres://app:" + pw + "@db.example:5432/proffsync", "PROFF_API_TOKEN": "proff-token-abcdef-4321",
		"SF_CLIENT_SECRET": "sf-client-secret-zyxw-1111", "SF_AUTH_FLOW": "password", "SF_PASSWORD": "sf-password-qwerty-2222",
		"PROFFSYNC_UI_PASSWORD": "ui-password-hjkl-3333",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, row := range e.Describe() {
		all.WriteString(row[0] + "=" + row[1] + "\n")
	}
	for _, s := range e.Secrets() {
		if strings.Contains(all.String(), s) {
			t.Errorf("Describe shows %q in full:\n%s", s, all.String())
		}
	}
	if !strings.Contains(all.String(), "PROFF_API_TOKEN=****4321") || !strings.Contains(all.String(), "PROFFSYNC_UI_PASSWORD=****3333") || !strings.Contains(all.String(), "postgres://app:****9876@db.example:5432/proffsync") {
		t.Errorf("masked values missing:\n%s", all.String())
	}
	if !slices.Contains(e.Secrets(), "ui-password-hjkl-3333") || len(e.Secrets()) != 5 {
		t.Errorf("Secrets() = %d values, want 5 with the UI password", len(e.Secrets()))
	}
	if err := e.RequireSalesforce(); err == nil || strings.Contains(err.Error(), "sf-password") {
		t.Errorf("RequireSalesforce: %v", err)
	}
}

// The largest accepted retention is the cap, and it still fits a time.Duration.
func TestRetentionAtTheCap(t *testing.T) {
	t.Parallel()
	c, err := Parse("p.yaml", []byte(minimal+"logs:\n  retention_days: 36500\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Logs.RetentionDays != MaxRetentionDays {
		t.Errorf("RetentionDays = %d at the cap", c.Logs.RetentionDays)
	}
	if d := time.Duration(c.Logs.RetentionDays) * 24 * time.Hour; d <= 0 {
		t.Errorf("the cap overflows a time.Duration: %v", d)
	}
}
