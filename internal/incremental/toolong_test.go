package incremental_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// tooLong is a feed whose read of a span longer than two days needs more pages than a read may take.
type tooLong struct{ since []time.Time }

func (f *tooLong) Changes(_ context.Context, country string, q incremental.FeedQuery, _ func(incremental.FeedChange) error) (int, error) {
	f.since = append(f.since, q.Since)
	if q.Since.Before(t0.Add(-2 * day)) {
		return 1000, fmt.Errorf("feed %s: more than 1000 pages: %w: %w", country, incremental.ErrFeedTooLong, incremental.ErrFeedFailed)
	}
	return 1, nil
}

// A read that is too long (a pause of weeks in a busy country) falls back to full lookups for the run, as
// any failed read does, and starts the feed afresh from the run: the next night asks for a day, not the
// same long span, which would fail every night and never let the feed start.
func TestATooLongReadStartsTheFeedAfresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.New(t)
	if err := st.MarkFeedChanges(ctx, "NO", nil, &incremental.FeedAdvance{ReadUntil: t0.Add(-20 * day),
		CoveredSince: t0.Add(-40 * day)}); err != nil {
		t.Fatal(err)
	}
	feed := &tooLong{}
	res, err := incremental.ReadFeeds(ctx, feed, st, []string{"NO"}, t0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cf := res.Countries[0]; cf.Outcome != incremental.FeedFailed || res.Coverage()["NO"].Read {
		t.Fatalf("too long a read: %+v; want failed, every company due", cf)
	}
	states, err := st.FeedStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := states["NO"]; !s.ReadUntil.Equal(t0) || !s.CoveredSince.Equal(t0) {
		t.Fatalf("state after the too-long read: %+v; want read until and covered since the run", s)
	}
	next := t0.Add(day)
	res, err = incremental.ReadFeeds(ctx, feed, st, []string{"NO"}, next, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cf := res.Countries[0]; cf.Outcome != incremental.FeedRead || !cf.Since.Equal(t0.Add(-day).Truncate(day)) {
		t.Errorf("the next night: %+v (asked %v); want a read from the day before the last", cf, feed.since)
	}
}
