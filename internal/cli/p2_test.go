package cli

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/sandbox"
)

// P2 end to end, through run's wiring of the lookups and the change feed: over a first run and a second one
// that reads the feed after a simulated day, every request Proff receives is a GET without a body: a
// lookup whose path is a country and an org number (digits, or the hyphenated SE/FI form) with no query,
// the token information with none, or a change feed whose query holds only the date, the change types,
// the feed fields of the mapped points and Proff's own scroll id. No Salesforce
// record id or record text is anywhere in a request to Proff, headers included.
func TestProffRequestsCarryOnlyTheLookupValues(t *testing.T) {
	t.Parallel()
	sb, env, _ := sandboxRun(t, sandbox.Options{Companies: 40})
	first, _ := runSummary(t, env, "run", "--json", "--log-level", "warn")
	sb.ChangeDay(time.Now(), 6, 20)
	second, _ := runSummary(t, env, "run", "--json", "--log-level", "warn")
	if second.Lookups.Cached == 0 {
		t.Fatalf("the second run served nothing from stored values (%+v): the feed was not read", second.Lookups)
	}

	// What the config maps decides the feed's fields; nothing else may.
	a := testApp(nil)
	a.getenv = func(k string) string { return env[k] }
	cfg, err := a.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	res, err := resolveMapping(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, f := range proff.FeedFields(res.pointNames()) {
		fields[f] = true
	}

	// Salesforce's data: the records' ids and the text values the runs found there.
	var sfData []string
	for _, id := range []string{first.RunID, second.RunID} {
		var d massupdate.Detail
		if err := json.Unmarshal([]byte(proffsync(t, env, "history", "show", id, "--json").stdout), &d); err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Changes {
			sfData = append(sfData, c.RecordID)
			if s, ok := c.Old.(string); ok && len(s) >= 6 && strings.ContainsFunc(s, func(r rune) bool { return r > '9' }) {
				sfData = append(sfData, s, url.PathEscape(s), url.QueryEscape(s))
			}
		}
		for _, r := range d.Records {
			sfData = append(sfData, r.RecordID)
		}
	}
	if len(sfData) == 0 {
		t.Fatal("no Salesforce values to look for: the check proves nothing")
	}

	lookup := regexp.MustCompile(`^/api/companies/register/(NO|SE|DK|FI)/[0-9]{6,10}(-[0-9]{1,4})?$`)
	feedPath := regexp.MustCompile(`^/api/changes/register/(NO|SE|DK|FI)$`)
	lookups, feeds := 0, 0
	for _, r := range sb.Proff.Requests() {
		if r.Method != http.MethodGet || len(r.Body) != 0 {
			t.Errorf("%s %s with a %d-byte body", r.Method, r.Path, len(r.Body))
		}
		switch {
		case lookup.MatchString(r.Path):
			lookups++
			if r.RawQuery != "" {
				t.Errorf("lookup %s carries a query %q", r.Path, r.RawQuery)
			}
		case r.Path == "/api/service/tokeninformation":
			if r.RawQuery != "" {
				t.Errorf("token information carries a query %q", r.RawQuery)
			}
		case feedPath.MatchString(r.Path):
			feeds++
			for _, p := range proffemu.FeedQueryProblems(r.RawQuery, fields) {
				t.Errorf("feed request %s?%s carries %s", r.Path, r.RawQuery, p)
			}
		default:
			t.Errorf("a request to Proff outside the lookup and the feed: %s %s?%s", r.Method, r.Path, r.RawQuery)
		}
		whole := r.Path + "?" + r.RawQuery
		for k, vs := range r.Header {
			whole += "\n" + k + ": " + strings.Join(vs, ", ")
		}
		for _, s := range sfData {
			if strings.Contains(whole, s) {
				t.Errorf("a request to Proff holds the Salesforce value %q:\n%s", s, whole)
			}
		}
	}
	if lookups == 0 || feeds == 0 {
		t.Errorf("%d lookups and %d feed requests: the check proves nothing", lookups, feeds)
	}
}
