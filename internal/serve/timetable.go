package serve

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// due is one due time of the schedule.
//
// For a cron expression a due time is a wall-clock time in the schedule's zone ("02:30 on 29 March"), and
// it runs once, at the first instant the zone's clock shows it: in an hour that autumn repeats, the first
// pass; for a time that spring-forward skips, the first moment after the gap (03:00 when the clock jumps
// from 02:00 to 03:00). robfig/cron's own runner reasons in instants instead, which skips the first and
// runs the second twice. An @every schedule has no wall clock: its due times are instants.
type due struct {
	wall time.Time // the due time's identity: local wall-clock fields carried in UTC (== at for @every)
	at   time.Time // the instant it runs at, in the schedule's zone
}

// timetable yields due times in order. next(cursor) is the first due time whose wall is strictly after
// cursor; a zero at means there is none.
type timetable interface {
	next(cursor time.Time) due
	// cursor returns the cursor for the instant now.
	cursor(now time.Time) time.Time
}

// parseTimetable parses a cron expression (five standard fields or a descriptor such as @daily or
// @every 6h) in the named zone ("" is the process's local zone). A CRON_TZ= prefix in the expression
// overrides the zone.
func parseTimetable(spec, zone string) (timetable, *time.Location, error) {
	loc := time.Local
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return nil, nil, fmt.Errorf("schedule timezone %q: %w", zone, err)
		}
		loc = l
	}
	if strings.TrimSpace(spec) == "" {
		return nil, nil, fmt.Errorf("schedule cron is empty")
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("schedule cron %q: %w", spec, err)
	}
	switch s := s.(type) {
	case *cron.SpecSchedule:
		if s.Location != time.Local {
			loc = s.Location
		}
		// Walk the wall clock in UTC, which has no daylight saving, so that robfig/cron steps through
		// every wall-clock due time exactly once; resolve maps each onto an instant in loc.
		w := *s
		w.Location = time.UTC
		return wallTimetable{spec: &w, loc: loc}, loc, nil
	case cron.ConstantDelaySchedule:
		return everyTimetable{s: s, loc: loc}, loc, nil
	default:
		return nil, nil, fmt.Errorf("schedule cron %q: unsupported schedule type %T", spec, s)
	}
}

type wallTimetable struct {
	spec *cron.SpecSchedule
	loc  *time.Location
}

func (t wallTimetable) cursor(now time.Time) time.Time { return wallOf(now.In(t.loc)) }

func (t wallTimetable) next(cursor time.Time) due {
	w := t.spec.Next(cursor)
	if w.IsZero() { // robfig gives up after five years without a match (e.g. 30 February)
		return due{}
	}
	return due{wall: w, at: resolve(w, t.loc)}
}

type everyTimetable struct {
	s   cron.ConstantDelaySchedule
	loc *time.Location
}

func (t everyTimetable) cursor(now time.Time) time.Time { return now.In(t.loc) }

func (t everyTimetable) next(cursor time.Time) due {
	at := t.s.Next(cursor)
	return due{wall: at, at: at}
}

// wallOf carries t's wall-clock fields (in t's location) in UTC.
func wallOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// resolve returns the instant loc's clock first shows the wall-clock time w (fields carried in UTC), or,
// when loc's clock skips it, the first moment after the gap.
func resolve(w time.Time, loc *time.Location) time.Time {
	// The offsets in force around w: a daylight-saving change has the one before and the one after.
	var cands []time.Time
	for _, probe := range []time.Duration{-48 * time.Hour, 0, 48 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone()
		cands = append(cands, w.Add(-time.Duration(off)*time.Second).In(loc))
	}
	var first time.Time
	for _, c := range cands {
		if wallOf(c).Equal(w) && (first.IsZero() || c.Before(first)) {
			first = c
		}
	}
	if !first.IsZero() {
		return first
	}
	// w lies in a gap. A candidate that lands after w lies in the period that follows the gap, and that
	// period starts at the first moment after it.
	var after time.Time
	for _, c := range cands {
		if !wallOf(c).After(w) {
			continue
		}
		start, _ := c.ZoneBounds()
		if start.IsZero() || wallOf(start.In(loc)).Before(w) {
			start = c
		}
		if after.IsZero() || start.Before(after) {
			after = start
		}
	}
	if !after.IsZero() {
		return after.In(loc)
	}
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
}
