package massupdate_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental/proffeed"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

// Incremental sync against the sandbox: the real Proff client reads the emulator's change feed (NO only;
// the other countries answer unsupported and are remembered), the real Salesforce client writes, the real
// store keeps the state. The second night, one NO company changed: it is looked up, and every company that
// was found the first night and not listed is served from its stored values. The feed's pages are Proff
// calls of the run.
func TestIntegrationSecondNightLooksUpTheFeedsChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil)
	var paths []string
	for _, m := range w.cfg.Mapping {
		paths = append(paths, m.Proff)
	}
	engine := func() *massupdate.Engine {
		e, err := massupdate.New(massupdate.Options{
			Source: w.sf, Lookup: w, Writer: w.sf, Store: w.st, Rules: w.rules, Kinds: w.kinds,
			DefaultCountry: w.cfg.Salesforce.DefaultCountry, LastSyncedField: w.cfg.Salesforce.LastSyncedField,
			Concurrency: 8, Settings: w.cfg.Settings(),
			// The emulator dates its feed by the wall clock: so does this run (Clock nil: the system's).
			Calls: func() massupdate.APICalls {
				p, s := w.tally.Counts()
				return massupdate.APICalls{Proff: p, Salesforce: s}
			},
			SyncStore: w.st, Feed: proffeed.Reader{Client: w.pc}, FeedFields: proff.FeedFields(paths), ChangeFeed: true,
			RefreshDays: 7, MappingVersion: fmt.Sprintf("catalogue=%d", proff.CatalogueVersion),
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ctx := context.Background()
	first, err := engine().Run(ctx, massupdate.RunRequest{})
	if err != nil && first == nil {
		t.Fatal(err)
	}
	if first.Counts != w.counts() {
		t.Fatalf("first run %+v, want %+v", first.Counts, w.counts())
	}
	var notFound, companies int64
	if err := w.st.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE status <> 'found'), count(*) FROM sync_companies`).
		Scan(&notFound, &companies); err != nil {
		t.Fatal(err)
	}
	if companies != first.Lookups.Fresh || first.Lookups.Cached != 0 {
		t.Fatalf("first run stored %d companies, lookups %+v", companies, first.Lookups)
	}

	// One NO company, whose record the first run updated, is renamed in the register after the first run.
	var changed string
	if err := w.st.Pool().QueryRow(ctx, `SELECT r.org_number FROM run_records r JOIN sync_companies c
		ON c.country = r.country AND c.org_number = r.org_number
		WHERE r.run_id = $1 AND r.outcome = 'updated' AND r.country = 'NO' AND c.status = 'found'
		ORDER BY r.record_id LIMIT 1`, first.ID).Scan(&changed); err != nil {
		t.Fatal(err)
	}
	if err := w.sb.Proff.Mutate("NO", changed, time.Now(), func(doc map[string]any) { doc["name"] = "RENAMED TONIGHT AS" }); err != nil {
		t.Fatal(err)
	}
	fields := proff.FeedFields(paths)
	feedRequestsCarryNothingFromSalesforce(t, w.sb.Proff.Requests(), fields)
	w.sb.Proff.ResetRequests()
	second, err := engine().Run(ctx, massupdate.RunRequest{})
	if err != nil && second == nil {
		t.Fatal(err)
	}
	feedRequestsCarryNothingFromSalesforce(t, w.sb.Proff.Requests(), fields)
	feedCalls, lookups := 0, 0
	for _, r := range w.sb.Proff.Requests() {
		switch {
		case strings.HasPrefix(r.Path, "/api/changes/register/"):
			feedCalls++
			if !strings.HasSuffix(r.Path, "/NO") {
				t.Errorf("asked the feed of %s again within a week of its unsupported answer", r.Path)
			}
		default:
			lookups++
		}
	}
	// Due: the renamed company, and those not found or failed the first night.
	if second.Lookups.Fresh != notFound+1 || second.Lookups.Cached != companies-notFound-1 || feedCalls != 2 {
		t.Errorf("second run lookups %+v feed calls %d; stored %d companies, %d not found", second.Lookups, feedCalls, companies, notFound)
	}
	if second.APICalls.Proff < int64(feedCalls) || second.Counts.Selected != first.Counts.Selected {
		t.Errorf("second run %+v", second)
	}
	d, err := w.st.RunDetail(ctx, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	renamed := false
	for _, c := range d.Changes {
		renamed = renamed || c.New == "Renamed Tonight AS" // the demo config writes names with format: title
	}
	if !renamed {
		t.Errorf("the renamed company was not written: %+v", d.Changes)
	}
}

// feedRequestsCarryNothingFromSalesforce is P2 for the change feed: a feed request is a GET of a country's
// feed with no body, and its query holds only the date asked from, the change types, the mapped points'
// paths and the server's own scrollId; nothing a record holds (Id, org number, name) has a place in it.
func feedRequestsCarryNothingFromSalesforce(t *testing.T, reqs []proffemu.Request, fields []string) {
	t.Helper()
	allowed := map[string]bool{}
	for _, f := range fields {
		allowed[f] = true
	}
	path := regexp.MustCompile(`^/api/changes/register/(NO|SE|DK|FI)$`)
	feeds := 0
	for _, r := range reqs {
		if !strings.HasPrefix(r.Path, "/api/changes/") {
			continue
		}
		feeds++
		if r.Method != http.MethodGet || !path.MatchString(r.Path) || len(r.Body) != 0 {
			t.Errorf("feed request %s %s?%s body %q", r.Method, r.Path, r.RawQuery, r.Body)
			continue
		}
		for _, p := range proffemu.FeedQueryProblems(r.RawQuery, allowed) {
			t.Errorf("feed request %s?%s carries %s", r.Path, r.RawQuery, p)
		}
	}
	if feeds == 0 {
		t.Error("no change-feed request: the check proves nothing")
	}
}
