package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// A cut-off is whole calendar days back in now's location: two days before noon after the spring-forward
// night is noon two days before, 47 hours back, where a Duration of 48 hours lands an hour early. The
// longest retention still lands in the past, where a Duration of 106,752 days overflowed into the future.
func TestRetentionCutoffIsCalendarArithmetic(t *testing.T) {
	t.Parallel()
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	now := time.Date(2026, 3, 30, 12, 0, 0, 0, oslo) // 2026-03-29 02:00 was the spring-forward
	for _, tc := range []struct {
		days int
		want time.Time
	}{
		{1, time.Date(2026, 3, 29, 12, 0, 0, 0, oslo)},
		{2, time.Date(2026, 3, 28, 12, 0, 0, 0, oslo)},
		{30, time.Date(2026, 2, 28, 12, 0, 0, 0, oslo)},
		{store.MaxRetentionDays, time.Date(1926, 4, 24, 12, 0, 0, 0, oslo)},
	} {
		got, err := store.RetentionCutoff(now, tc.days)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("RetentionCutoff(%v, %d) = %v, %v; want %v", now, tc.days, got, err, tc.want)
		}
	}
	for _, days := range []int{0, -1, store.MaxRetentionDays + 1, 106752, 1 << 40} {
		if got, err := store.RetentionCutoff(now, days); err == nil {
			t.Errorf("RetentionCutoff(%d days) = %v, want an error", days, got)
		}
	}
}

// Whatever computed it, a cut-off that is not in the past deletes nothing: pruning up to now or later
// would wipe the whole history.
func TestPruneRefusesACutoffNotInThePast(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	now := time.Date(2026, 6, 15, 3, 0, 0, 0, time.UTC)
	s := storetest.NewWith(t, store.Options{Clock: clocktest.At(now)})
	storetest.Seed(t, s, now.AddDate(0, 0, -40))
	storetest.Seed(t, s, now.Add(-time.Minute))
	before := storetest.Count(t, s)
	for _, cutoff := range []time.Time{now, now.Add(time.Nanosecond), now.AddDate(292, 0, 0)} {
		res, err := s.Prune(ctx, cutoff)
		if !errors.Is(err, store.ErrCutoffNotInPast) || res != (store.PruneResult{}) {
			t.Errorf("Prune(%v) = %+v, %v; want ErrCutoffNotInPast", cutoff, res, err)
		}
		if got := storetest.Count(t, s); got != before {
			t.Fatalf("Prune(%v) deleted rows: %+v, had %+v", cutoff, got, before)
		}
	}
	// Just in the past is a cut-off like any other.
	res, err := s.Prune(ctx, now.Add(-time.Hour))
	if err != nil || res.Runs != 1 || res.Calls != 2 {
		t.Fatalf("Prune an hour back: %+v, %v", res, err)
	}
}
