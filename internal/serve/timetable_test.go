package serve

import (
	"testing"
	"time"
)

func TestResolveWallClockTimes(t *testing.T) {
	t.Parallel()
	zone := func(name string) *time.Location {
		l, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	wall := func(y int, m time.Month, d, h, mi int) time.Time { return time.Date(y, m, d, h, mi, 0, 0, time.UTC) }
	cases := []struct {
		zone string
		wall time.Time
		want string
	}{
		{"Europe/Oslo", wall(2026, 3, 29, 2, 30), "2026-03-29T01:00:00Z"},  // gap: the first moment after it
		{"Europe/Oslo", wall(2026, 3, 29, 1, 59), "2026-03-29T00:59:00Z"},  // just before the gap
		{"Europe/Oslo", wall(2026, 3, 29, 3, 0), "2026-03-29T01:00:00Z"},   // the gap's end exists
		{"Europe/Oslo", wall(2026, 10, 25, 2, 30), "2026-10-25T00:30:00Z"}, // repeated: the first pass
		{"Europe/Oslo", wall(2026, 10, 25, 3, 0), "2026-10-25T02:00:00Z"},  // after the repeat
		{"Europe/Oslo", wall(2026, 7, 1, 2, 0), "2026-07-01T00:00:00Z"},    // an ordinary summer night
		{"America/New_York", wall(2026, 3, 8, 2, 30), "2026-03-08T07:00:00Z"},
		{"America/New_York", wall(2026, 11, 1, 1, 30), "2026-11-01T05:30:00Z"},
		{"Australia/Lord_Howe", wall(2026, 10, 4, 2, 15), "2026-10-03T15:30:00Z"}, // a half-hour gap
		{"Australia/Lord_Howe", wall(2026, 4, 5, 1, 45), "2026-04-04T14:45:00Z"},  // a half-hour repeat
		{"UTC", wall(2026, 3, 29, 2, 30), "2026-03-29T02:30:00Z"},
	}
	for _, c := range cases {
		got := resolve(c.wall, zone(c.zone)).UTC().Format(time.RFC3339)
		if got != c.want {
			t.Errorf("%s %s: %s, want %s", c.zone, c.wall.Format("2006-01-02 15:04"), got, c.want)
		}
	}
}
