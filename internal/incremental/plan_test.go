package incremental_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
)

var t0 = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func key(country, org string) incremental.CompanyKey {
	return incremental.CompanyKey{Country: country, Org: org}
}

var (
	kNO = key("NO", "923609016")
	kSE = key("SE", "5560125790")
)

func found(at time.Time) incremental.StoredCompany {
	return incremental.StoredCompany{MappingKey: "m1", Vals: []byte("v"), LookedUpAt: at, Status: incremental.Found}
}

func TestPlanDecidesEachReason(t *testing.T) {
	t.Parallel()
	noFeed := incremental.Options{MappingKey: "m1"}
	week := incremental.Options{MappingKey: "m1", RefreshDays: 7}
	feedRead := incremental.Options{MappingKey: "m1", RefreshDays: 7,
		Feeds: map[string]incremental.FeedCoverage{"NO": {Read: true, Since: t0.Add(-29 * day)}}}
	feedFailed := incremental.Options{MappingKey: "m1", RefreshDays: 7,
		Feeds: map[string]incremental.FeedCoverage{"NO": {}}}
	full := feedRead
	full.Full = true
	otherMapping := feedRead
	otherMapping.MappingKey = "m2"
	marked := func(at, feed time.Time) incremental.StoredCompany {
		c := found(at)
		c.FeedChangedAt = feed
		return c
	}
	failed := func(st incremental.Status) incremental.StoredCompany {
		c := found(t0.Add(-time.Hour))
		c.Status, c.Vals = st, nil
		return c
	}
	for _, tc := range []struct {
		name   string
		k      incremental.CompanyKey
		stored *incremental.StoredCompany
		opt    incremental.Options
		want   incremental.Reason
	}{
		{"never looked up", kNO, nil, feedRead, incremental.ReasonNew},
		{"another mapping", kNO, ptr(found(t0.Add(-time.Hour))), otherMapping, incremental.ReasonNew},
		{"full beats everything", kNO, ptr(found(t0.Add(-time.Hour))), full, incremental.ReasonFull},
		{"not found last time", kNO, ptr(failed(incremental.NotFound)), feedRead, incremental.ReasonFailedLastTime},
		{"failed last time", kSE, ptr(failed(incremental.Failed)), week, incremental.ReasonFailedLastTime},
		{"feed: not listed", kNO, ptr(found(t0.Add(-3 * day))), feedRead, ""},
		{"feed: listed after the lookup", kNO, ptr(marked(t0.Add(-3*day), t0.Add(-2*day))), feedRead, incremental.ReasonInFeed},
		{"feed: listed FeedLag before the lookup", kNO, ptr(marked(t0.Add(-3*day), t0.Add(-3*day-time.Hour))), feedRead, incremental.ReasonInFeed},
		{"feed: listed longer before", kNO, ptr(marked(t0.Add(-3*day), t0.Add(-3*day-time.Hour-time.Nanosecond))), feedRead, ""},
		{"feed: lookup before what the reads cover", kNO, ptr(found(t0.Add(-29*day - time.Nanosecond))), feedRead, incremental.ReasonFeedGap},
		{"feed: lookup at the start of what they cover", kNO, ptr(found(t0.Add(-29 * day))), feedRead, ""},
		{"feed: not read this run", kNO, ptr(found(t0.Add(-time.Hour))), feedFailed, incremental.ReasonFeedGap},
		{"feed country is not SE's", kSE, ptr(found(t0.Add(-3 * day))), feedRead, ""},
		{"no feed, young", kSE, ptr(found(t0.Add(-7*day + time.Nanosecond))), week, ""},
		{"no feed, refresh_days old", kSE, ptr(found(t0.Add(-7 * day))), week, incremental.ReasonStale},
		{"no feed, refresh_days 0", kSE, ptr(found(t0.Add(-time.Minute))), noFeed, incremental.ReasonNoFeed},
		{"a feed read does not spare NO from refresh_days when NO's feed is off", kNO, ptr(found(t0.Add(-8 * day))), week, incremental.ReasonStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := incremental.State{Companies: map[incremental.CompanyKey]incremental.StoredCompany{}}
			if tc.stored != nil {
				st.Companies[tc.k] = *tc.stored
			}
			ds := incremental.Plan([]incremental.Record{{ID: "001A", Key: tc.k}}, st, tc.opt, t0)
			if len(ds) != 1 {
				t.Fatalf("%d decisions, want 1", len(ds))
			}
			d := ds[0]
			if d.Reason != tc.want || d.Due != (tc.want != "") || d.Key != tc.k {
				t.Errorf("decision %+v, want reason %q", d, tc.want)
			}
			if tc.stored != nil && (!d.LastLookup.Equal(tc.stored.LookedUpAt) || string(d.Stored.Vals) != string(tc.stored.Vals)) {
				t.Errorf("decision %+v does not carry the stored state %+v", d, *tc.stored)
			}
			if tc.stored == nil && !d.LastLookup.IsZero() {
				t.Errorf("never looked up, but LastLookup %v", d.LastLookup)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A record whose org number changed in Salesforce makes its new company due, even a fresh one; its old
// company is not on the page and not planned.
func TestPlanOrgNumberChangedInSalesforce(t *testing.T) {
	t.Parallel()
	other := key("NO", "984851006")
	st := incremental.State{
		Records: map[string]incremental.CompanyKey{"001A": kNO, "001B": other},
		Companies: map[incremental.CompanyKey]incremental.StoredCompany{
			kNO: found(t0.Add(-time.Hour)), other: found(t0.Add(-time.Hour))},
	}
	opt := incremental.Options{MappingKey: "m1", RefreshDays: 7}
	// 001A moved to other; other's first record 001B did not move; 001C is a record never seen.
	ds := incremental.Plan([]incremental.Record{{ID: "001B", Key: other}, {ID: "001A", Key: other}, {ID: "001C", Key: other}}, st, opt, t0)
	if len(ds) != 1 || ds[0].Key != other || !ds[0].Due || ds[0].Reason != incremental.ReasonChangedInSalesforce {
		t.Fatalf("plan %+v, want other due as changed_in_salesforce", ds)
	}
	// The same page with 001A where it was: nothing is due, and a record never seen changes nothing.
	ds = incremental.Plan([]incremental.Record{{ID: "001A", Key: kNO}, {ID: "001C", Key: other}}, st, opt, t0)
	for _, d := range ds {
		if d.Due {
			t.Errorf("%+v due, want both cached", d)
		}
	}
	// A stronger reason stays: a company never looked up is "new" even if a record moved to it.
	fresh := key("NO", "971274808")
	ds = incremental.Plan([]incremental.Record{{ID: "001A", Key: fresh}}, st, opt, t0)
	if ds[0].Reason != incremental.ReasonNew {
		t.Errorf("reason %q, want new", ds[0].Reason)
	}
}

// Plan lists each company once, in the order its first record came.
func TestPlanListsEachCompanyOnce(t *testing.T) {
	t.Parallel()
	ds := incremental.Plan([]incremental.Record{{ID: "1", Key: kSE}, {ID: "2", Key: kNO}, {ID: "3", Key: kSE}},
		incremental.State{}, incremental.Options{MappingKey: "m1"}, t0)
	if len(ds) != 2 || ds[0].Key != kSE || ds[1].Key != kNO {
		t.Fatalf("plan %+v, want SE then NO", ds)
	}
}

func TestMappingKeyCoversVersionPointsKindsAndOrder(t *testing.T) {
	t.Parallel()
	const v = "catalogue=2;packed=1"
	base := []incremental.MappedPoint{{Point: "name", Kind: "text"}, {Point: "revenue", Kind: "number"}}
	k := incremental.MappingKeyOf(v, base)
	if k != incremental.MappingKeyOf(v, append([]incremental.MappedPoint(nil), base...)) {
		t.Error("the same mapping gives two keys")
	}
	// Each part is length-prefixed: no choice of separator byte makes two mappings one.
	if incremental.MappingKeyOf(v, []incremental.MappedPoint{{Point: "x\x00y", Kind: "z"}}) ==
		incremental.MappingKeyOf(v, []incremental.MappedPoint{{Point: "x", Kind: "y\x00z"}}) {
		t.Error("two mappings share a key across the boundary of their parts")
	}
	if incremental.MappingKeyOf("catalogue=3;packed=1", base) == k {
		t.Error("a new catalogue version keeps the key: values of the old meaning would be served")
	}
	for _, other := range [][]incremental.MappedPoint{
		{base[1], base[0]}, // order: the packed slots move
		{base[0]},          // a point removed
		append(base[:2:2], incremental.MappedPoint{Point: "email", Kind: "text"}), // a point added
		{{Point: "name", Kind: "text"}, {Point: "revenue", Kind: "text"}},         // a kind changed
		{{Point: "nam", Kind: "etext"}, base[1]},                                  // no ambiguity across the boundary
	} {
		if incremental.MappingKeyOf(v, other) == k {
			t.Errorf("%v has the key of %v", other, base)
		}
	}
}

func TestPreviewCoverageIsWhatTheNextReadWouldVouchFor(t *testing.T) {
	t.Parallel()
	states := map[string]incremental.FeedState{
		"NO": {Country: "NO", ReadUntil: t0.Add(-day), CoveredSince: t0.Add(-60 * day)},
		"SE": {Country: "SE", UnsupportedAt: t0.Add(-2 * day)},
		// Asked again by the next run; its last read is older than the feed's history.
		"FI": {Country: "FI", UnsupportedAt: t0.Add(-8 * day), ReadUntil: t0.Add(-40 * day), CoveredSince: t0.Add(-70 * day)},
	}
	got := incremental.PreviewCoverage(states, []string{"NO", "SE", "DK", "FI"}, t0)
	want := map[string]incremental.FeedCoverage{
		"NO": {Read: true, Since: t0.Add(-60 * day)},
		"DK": {Read: true, Since: t0}, // a first read vouches for no company looked up before it
		"FI": {Read: true, Since: t0.Add(-29 * day)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("coverage %v, want %v", got, want)
	}
	// A state read but without coverage is read as a first read.
	got = incremental.PreviewCoverage(map[string]incremental.FeedState{"NO": {Country: "NO", ReadUntil: t0.Add(-day)}},
		[]string{"NO"}, t0)
	if want := (incremental.FeedCoverage{Read: true, Since: t0}); got["NO"] != want {
		t.Errorf("coverage %v, want %v", got["NO"], want)
	}
}
