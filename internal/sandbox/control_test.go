package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/proff"
)

func postDay(t *testing.T, s *Sandbox, method, query string) (int, Day) {
	t.Helper()
	req, _ := http.NewRequest(method, s.control.URL+DayPath+query, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d Day
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, d
}

// feedCount is how many Norwegian feed entries a read from yesterday lists, any path.
func feedCount(t *testing.T, s *Sandbox) int {
	t.Helper()
	return feedCountSince(t, s, time.Now().Add(-24*time.Hour))
}

func feedCountSince(t *testing.T, s *Sandbox, since time.Time) int {
	t.Helper()
	c, err := proff.New(proff.Options{BaseURL: s.Proff.URL(), Token: s.proffToken,
		Points: []proff.DataPoint{{Name: "name", Kind: mapping.Text}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Changes(context.Background(), "NO", since, proff.FeedOptions{},
		func(proff.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return res.Changes
}

// A process outside the sandbox's moves the register on by a day: a share of the seeded companies
// changes (each one an account holds), noise joins the Norwegian feed, and the answer says how many per
// country, so that a benchmark knows the lookups a run must make.
func TestDayEndpointChangesTheRegister(t *testing.T) {
	t.Parallel()
	s := Start(Options{})
	defer s.Close()
	if got := s.Env("postgres://x")[ControlEnv]; got != s.control.URL {
		t.Fatalf("Env()[%s] = %q, want %q", ControlEnv, got, s.control.URL)
	}
	code, d := postDay(t, s, http.MethodPost, "?changes=0.05&noise=30")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	sum := 0
	for _, n := range d.Changed {
		sum += n
	}
	if d.Total != 12 || sum != 12 || d.Noise != 30 || d.Exhausted { // 5 % of 240
		t.Errorf("day %+v, want 12 changed and 30 noise", d)
	}
	if d.Companies["NO"] != 60 || d.Companies["FI"] != 60 {
		t.Errorf("day %+v: want the 240 companies a quarter per country", d)
	}
	if d.Changed["NO"] == 0 || d.FeedNO != d.Changed["NO"]+30 {
		t.Errorf("day %+v: the Norwegian feed holds %d, want the Norwegian changes and the noise", d, d.FeedNO)
	}
	if got := feedCount(t, s); got != d.FeedNO {
		t.Errorf("a read from yesterday lists %d, want %d", got, d.FeedNO)
	}
	// A count is a count, and the next day changes other companies.
	if code, d2 := postDay(t, s, http.MethodPost, "?changes=3"); code != http.StatusOK || d2.Total != 3 || d2.Noise != 0 {
		t.Errorf("changes=3: %d %+v", code, d2)
	}
	// More than are left: all that are left, and it says so.
	if code, d3 := postDay(t, s, http.MethodPost, "?changes=100000"); code != http.StatusOK || !d3.Exhausted ||
		d3.Total != len(s.companies)-15 {
		t.Errorf("changes=100000: %d %+v, want the %d left and exhausted", code, d3, len(s.companies)-15)
	}
}

func TestDayEndpointRefusesWhatItCannotDo(t *testing.T) {
	t.Parallel()
	s := Start(Options{Companies: 8})
	defer s.Close()
	for _, c := range []struct {
		method, query string
		want          int
	}{
		{http.MethodGet, "?changes=1", http.StatusMethodNotAllowed},
		{http.MethodPost, "?changes=1.5", http.StatusBadRequest},
		{http.MethodPost, "?changes=-1", http.StatusBadRequest},
		{http.MethodPost, "?changes=abc", http.StatusBadRequest},
		{http.MethodPost, "?noise=-3", http.StatusBadRequest},
		{http.MethodPost, "?advance=-1h", http.StatusBadRequest},
		{http.MethodPost, "?advance=tomorrow", http.StatusBadRequest},
		{http.MethodPost, "?changes=1&ago=-1h", http.StatusBadRequest},
		{http.MethodPost, "?changes=1&ago=800h", http.StatusBadRequest},
	} {
		if code, _ := postDay(t, s, c.method, c.query); code != c.want {
			t.Errorf("%s %s: status %d, want %d", c.method, c.query, code, c.want)
		}
	}
	if s.changed != 0 || s.Proff.FeedLen("NO") != 0 {
		t.Errorf("a refused request changed the register: %d changed, %d feed entries", s.changed, s.Proff.FeedLen("NO"))
	}
	req, _ := http.NewRequest(http.MethodPost, s.control.URL+"/elsewhere", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("another path: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

// advance ages the feed, so that yesterday's entries stop looking new once the caller has aged proffsync's
// stored times too. Without an emulator that can, the endpoint says so rather than pretend.
func TestDayEndpointAdvanceAgesTheFeed(t *testing.T) {
	t.Parallel()
	s := Start(Options{})
	defer s.Close()
	if code, _ := postDay(t, s, http.MethodPost, "?changes=0&noise=20"); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if got := feedCount(t, s); got != 20 {
		t.Fatalf("today's read lists %d, want 20", got)
	}
	code, d := postDay(t, s, http.MethodPost, "?advance=72h&noise=5")
	if _, ok := any(s.Proff).(feedShifter); !ok {
		if code != http.StatusNotImplemented {
			t.Errorf("advance without an emulator that ages its feed: status %d, want 501", code)
		}
		return
	}
	if code != http.StatusOK || d.Noise != 5 {
		t.Fatalf("advance: %d %+v", code, d)
	}
	if got := feedCount(t, s); got != 5 {
		t.Errorf("after three days a read from yesterday lists %d, want only the 5 new entries", got)
	}
}

// ago dates the day's changes before now: entries two days old are not in a read from yesterday, and are
// in a read from three days back.
func TestDayEndpointDatesTheChangesAgo(t *testing.T) {
	t.Parallel()
	s := Start(Options{})
	defer s.Close()
	code, d := postDay(t, s, http.MethodPost, "?changes=4&noise=10&ago=48h")
	if code != http.StatusOK || d.Total != 4 {
		t.Fatalf("status %d, %+v", code, d)
	}
	if got := feedCount(t, s); got != 0 {
		t.Errorf("a read from yesterday lists %d entries dated two days ago", got)
	}
	if got, want := feedCountSince(t, s, time.Now().Add(-72*time.Hour)), d.Changed["NO"]+10; got != want {
		t.Errorf("a read from three days back lists %d, want %d", got, want)
	}
}
