package incremental

import (
	"context"
	"fmt"
	"time"
)

// Reason says why a company is due for a lookup.
type Reason string

const (
	// ReasonNew: never looked up, or looked up under another mapping.
	ReasonNew Reason = "new"
	// ReasonChangedInSalesforce: a record's country or org number differs from the one it had when it
	// was last processed.
	ReasonChangedInSalesforce Reason = "changed_in_salesforce"
	// ReasonFailedLastTime: the last lookup found nothing or failed.
	ReasonFailedLastTime Reason = "failed_last_time"
	// ReasonInFeed: the change feed listed the company since (FeedLag before) its last lookup.
	ReasonInFeed Reason = "in_feed"
	// ReasonFeedGap: the feed cannot vouch for the company: its last lookup is older than what the feed's
	// reads cover (from the country's first read, at most 30 days back), or the feed could not be read in
	// this run (full fallback).
	ReasonFeedGap Reason = "feed_gap"
	// ReasonStale: a country without a feed, last looked up at least refresh_days ago.
	ReasonStale Reason = "stale"
	// ReasonNoFeed: a country without a feed and refresh_days 0: every run, as before issue 12.
	ReasonNoFeed Reason = "no_feed"
	// ReasonFull: `run --full`.
	ReasonFull Reason = "full"
)

// Reasons lists every reason in the order preview shows them.
var Reasons = []Reason{ReasonNew, ReasonChangedInSalesforce, ReasonInFeed, ReasonFeedGap, ReasonStale,
	ReasonNoFeed, ReasonFailedLastTime, ReasonFull}

// FeedOverlap is the margin on a feed date: since is asked a day before the last read, because neither the
// time zone of Proff's since nor whether it is inclusive is documented (equal values are never written, so
// reading an entry twice costs nothing).
const FeedOverlap = 24 * time.Hour

// FeedLag is the margin between a feed entry and a lookup: an entry up to FeedLag older than a company's
// lookup still makes it due, for clocks that differ and a document served a little after its entry was
// written. It is not FeedOverlap: an entry's createdDate is an instant, not a date, and a day's margin here
// would look every changed company up on two nights running, as nightly runs meet each change within the
// day before the lookup. An hour costs the changes of that hour a second lookup.
const FeedLag = time.Hour

// FeedHistory is how far back Proff's change feed keeps entries.
const FeedHistory = 30 * 24 * time.Hour

// Record is one record of a page as the engine classified it: its Id and the company its country and org
// number name. Records without a valid key (missing or invalid org number) are not planned.
type Record struct {
	ID  string
	Key CompanyKey
}

// State is what the store holds for a page: the company each record pointed at when last processed (by
// record Id) and the stored companies (by key). Absent entries were never stored.
type State struct {
	Records   map[string]CompanyKey
	Companies map[CompanyKey]StoredCompany
}

// FeedCoverage is what this run's feed read says about one country whose feed is enabled.
type FeedCoverage struct {
	// Read is false when the feed could not be read in this run: every company of the country is due.
	Read bool
	// Since: every feed entry at or after it is in the companies' FeedChangedAt (FeedState.CoveredSince
	// after the read). A company looked up before it is due.
	Since time.Time
}

// Options steer Plan.
type Options struct {
	// MappingKey is the key of the run's mapping (MappingKeyOf).
	MappingKey string
	// Feeds holds the countries whose change feed decides (sync.change_feed on, and the feed supported):
	// ReadFeeds' Coverage. Other countries are planned by age (RefreshDays).
	Feeds map[string]FeedCoverage
	// RefreshDays: a company of a country without a feed is due once its last lookup is this many days
	// old; 0 makes it due every run.
	RefreshDays int
	// Full (`run --full`) makes every company due, whatever is stored.
	Full bool
}

// Decision is the plan for one company.
type Decision struct {
	Key CompanyKey
	// Due: look the company up (subject to the Budget); otherwise serve Stored.Vals.
	Due    bool
	Reason Reason // why it is due; "" when not
	// LastLookup is when the company was last looked up (zero: never): what the Budget orders by.
	LastLookup time.Time
	// Stored is the stored state (zero when none): for a company that is not due, the values to serve.
	Stored StoredCompany
}

// Plan decides, for each distinct company of the page's records, whether it is due for a lookup and why,
// in the order the companies first appear. It is a pure function of its inputs.
//
// The rule for dry runs lives with the caller: a dry run must never call Store's save (SaveBatch without
// Save), so a company it looked up stays due for the next real run, as if the dry run had not happened.
func Plan(records []Record, st State, opt Options, now time.Time) []Decision {
	index := map[CompanyKey]int{}
	var out []Decision
	for _, r := range records {
		i, seen := index[r.Key]
		if !seen {
			i = len(out)
			index[r.Key] = i
			stored, ok := st.Companies[r.Key]
			d := Decision{Key: r.Key}
			if ok {
				d.Stored, d.LastLookup = stored, stored.LookedUpAt
			}
			d.Reason = companyReason(d.Key, stored, ok, opt, now)
			out = append(out, d)
		}
		// A record that moved to this company from another one makes it due, unless a stronger reason did.
		if prev, ok := st.Records[r.ID]; ok && prev != r.Key {
			if d := &out[i]; d.Reason == "" || rank(ReasonChangedInSalesforce) < rank(d.Reason) {
				d.Reason = ReasonChangedInSalesforce
			}
		}
	}
	for i := range out {
		out[i].Due = out[i].Reason != ""
	}
	return out
}

// rank orders the reasons by precedence when several apply: the one reported is the first.
func rank(r Reason) int {
	switch r {
	case ReasonFull:
		return 0
	case ReasonNew:
		return 1
	case ReasonChangedInSalesforce:
		return 2
	}
	return 3
}

// companyReason is the reason a company is due by its own stored state, or "" when it may be served from
// stored values.
func companyReason(k CompanyKey, c StoredCompany, stored bool, opt Options, now time.Time) Reason {
	switch {
	case opt.Full:
		return ReasonFull
	case !stored || c.MappingKey != opt.MappingKey:
		return ReasonNew
	case c.Status != Found:
		return ReasonFailedLastTime
	}
	if cov, ok := opt.Feeds[k.Country]; ok {
		switch {
		case !cov.Read || c.LookedUpAt.Before(cov.Since):
			return ReasonFeedGap
		case !c.FeedChangedAt.IsZero() && !c.FeedChangedAt.Before(c.LookedUpAt.Add(-FeedLag)):
			return ReasonInFeed
		}
		return ""
	}
	if opt.RefreshDays <= 0 {
		return ReasonNoFeed
	}
	if now.Sub(c.LookedUpAt) >= time.Duration(opt.RefreshDays)*24*time.Hour {
		return ReasonStale
	}
	return ""
}

// StateLoader is the store's page read (store.Store.LoadSyncState).
type StateLoader interface {
	LoadSyncState(ctx context.Context, recordIDs []string, keys []CompanyKey) (State, error)
}

// PlanPage loads a page's stored state in one round trip and plans it: what the engine calls once per
// page of records, in each pass.
func PlanPage(ctx context.Context, store StateLoader, records []Record, opt Options, now time.Time) ([]Decision, error) {
	ids, keys := make([]string, len(records)), make([]CompanyKey, 0, len(records))
	seen := make(map[CompanyKey]bool, len(records))
	for i, r := range records {
		ids[i] = r.ID
		if !seen[r.Key] {
			seen[r.Key] = true
			keys = append(keys, r.Key)
		}
	}
	st, err := store.LoadSyncState(ctx, ids, keys)
	if err != nil {
		return nil, fmt.Errorf("plan %d records: %w", len(records), err)
	}
	return Plan(records, st, opt, now), nil
}
