package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The control endpoint lets a process outside the sandbox's (the benchmarks, a person trying incremental
// sync by hand) move the simulated register on by a day between two `proffsync run`s:
//
//	POST /_sandbox/day?changes=0.01&noise=10000&advance=24h&ago=12h
//
// changes is a share of the seeded companies when it has a decimal point (0.01: one in a hundred), else a
// count; noise is the number of feed entries for companies no account holds; advance, when given, first
// ages the emulator's change feed by that long, for a caller that ages proffsync's stored times by the same
// (a simulated night without waiting one); ago dates the day's changes that long before now (default: now),
// as a real day's changes come in the hours before a nightly run, not in the second before it. The answer
// says what changed, per country.
//
// It listens on loopback only, on a port of its own: the emulators' addresses stay exactly the APIs they
// emulate, so nothing proffsync sends can reach it by mistake.

// ControlEnv is the variable Env sets to the control endpoint's base URL.
const ControlEnv = "SANDBOX_CONTROL_URL"

// DayPath is the control endpoint's path.
const DayPath = "/_sandbox/day"

// Day is the control endpoint's answer.
type Day struct {
	// Changed counts the companies whose register entry changed, per country: the ones accounts hold, so
	// every one of them is a company a run must notice. Only the Norwegian ones are in the change feed.
	Changed map[string]int `json:"changed"`
	Total   int            `json:"total"`
	// Noise is the number of feed entries added for companies no account holds.
	Noise int `json:"noise"`
	// FeedNO is how many entries the Norwegian feed holds now (the 30-day window not applied).
	FeedNO int `json:"feed_no"`
	// Exhausted is true when fewer companies were left to change than asked for.
	Exhausted bool `json:"exhausted"`
	// Companies counts the seeded companies per country, each held by an account: with refresh_days 0,
	// every run looks up those of the countries without a feed.
	Companies map[string]int `json:"companies"`
}

// feedShifter is the emulator's way to age its change feed; asserted at run time so that the sandbox
// builds against an emulator without it and says so to a caller that asks to advance.
type feedShifter interface{ ShiftFeed(d time.Duration) }

func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != DayPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only: a day changes the register", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	n, err := s.changeCount(q.Get("changes"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	noise := 0
	if v := q.Get("noise"); v != "" {
		if noise, err = strconv.Atoi(v); err != nil || noise < 0 || noise > 10_000_000 {
			http.Error(w, "noise must be a count from 0 to 10000000", http.StatusBadRequest)
			return
		}
	}
	ago := time.Duration(0)
	if v := q.Get("ago"); v != "" {
		if ago, err = time.ParseDuration(v); err != nil || ago < 0 || ago > 29*24*time.Hour {
			http.Error(w, "ago must be a duration from 0 to 696h (inside the feed's 30 days)", http.StatusBadRequest)
			return
		}
	}
	// Everything is read before anything changes: a refused request leaves the register as it was.
	if v := q.Get("advance"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			http.Error(w, "advance must be a non-negative duration such as 24h", http.StatusBadRequest)
			return
		}
		sh, ok := any(s.Proff).(feedShifter)
		if !ok {
			http.Error(w, "this Proff emulator cannot age its change feed", http.StatusNotImplemented)
			return
		}
		sh.ShiftFeed(d)
	}
	changed := s.ChangeDay(time.Now().Add(-ago), n, noise)
	day := Day{Changed: map[string]int{}, Total: len(changed), Noise: noise, FeedNO: s.Proff.FeedLen("NO"),
		Exhausted: len(changed) < n, Companies: s.seededBy}
	for _, c := range changed {
		day.Changed[c.Country]++
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(day)
}

// changeCount reads the changes parameter: a share of the seeded companies (with a decimal point) or a
// count.
func (s *Sandbox) changeCount(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	if strings.Contains(v, ".") {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return 0, fmt.Errorf("changes %q: a share must be from 0.0 to 1.0", v)
		}
		return int(math.Round(f * float64(s.seeded))), nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("changes %q: a count must be 0 or more (a share has a decimal point: 0.01)", v)
	}
	return n, nil
}
