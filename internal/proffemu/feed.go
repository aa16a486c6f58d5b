package proffemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/orgnr"
)

// The change feed, GET /api/changes/register/{country}, as Proff's API documentation describes it. Where it
// leaves a choice open, the emulator makes it switchable (the form of next.href, the status for a country
// without a feed), so that proffsync is tested against every reading, not one guess.
//
// Choices made here and why:
//   - History is kept FeedHistory (30 days). A since older than that is not refused: the entries before the
//     window are simply gone, as the spec's "we keep a history of 30 days" implies; the answer lists what is
//     left. A client that must know about the gap decides from its own dates, not from an error.
//   - since is a calendar date read in UTC and inclusive (entries at or after its midnight); without it, the
//     last 24 hours. Both are unverified in the real API, which is why clients overlap by a day.
//   - A fields prefix matches whole JSON-pointer segments: /name lists a change to /name or /name/…, not to
//     /nameHistory.
//   - Each page's scrollId names the rest of the result as it was when the first page was asked for, so
//     entries that arrive while a client pages do not shift the pages under it.

// FeedHistory is how far back the feed keeps entries.
const FeedHistory = 30 * 24 * time.Hour

// DefaultFeedPageSize is the number of entities per page (Proff bills one call per 1,000 changed companies).
const DefaultFeedPageSize = 1000

// HrefForm is how next.href is written.
type HrefForm int

const (
	// HrefAbsolute: "http://host/api/changes/register/NO?scrollId=…".
	HrefAbsolute HrefForm = iota
	// HrefRelative: "/api/changes/register/NO?scrollId=…".
	HrefRelative
	// HrefScrollOnly: "?scrollId=…", relative to the page it came with.
	HrefScrollOnly
)

// ChangeType is the kind of a feed entry.
type ChangeType string

// The change types of the feed.
const (
	Added   ChangeType = "ADDED"
	Removed ChangeType = "REMOVED"
	Mutated ChangeType = "MUTATED"
)

// PatchOp is one operation of a JSON patch (RFC 6902), as withPatch returns them.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

type feedEntry struct {
	country, orgnr string
	at             time.Time
	typ            ChangeType
	patchID        string
	patch          []PatchOp
}

// paths are the JSON pointers the entry changed.
func (e feedEntry) paths() []string {
	out := make([]string, len(e.patch))
	for i, op := range e.patch {
		out[i] = op.Path
	}
	return out
}

// scroll is the rest of one result, for the scrollIds of its pages.
type scroll struct {
	country  string
	entries  []feedEntry
	hits     int
	patch    bool
	pageSize int
}

const feedPrefix = "/api/changes/register/"

// SetFeedCountries sets the countries whose feed answers (NO only by default, as the OpenAPI lists).
func (s *Server) SetFeedCountries(cs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feedCountries = map[string]bool{}
	for _, c := range cs {
		s.feedCountries[strings.ToUpper(c)] = true
	}
}

// SetFeedUnsupportedStatus sets the status, sent without a body, for a country without a feed (400 by
// default, as an ASP.NET API answers a value outside its listed ones).
func (s *Server) SetFeedUnsupportedStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feedUnsupported = status
}

// SetFeedHref sets the form of next.href.
func (s *Server) SetFeedHref(f HrefForm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feedHref = f
}

// SetFeedPageSize sets the entities per page (DefaultFeedPageSize when n <= 0).
func (s *Server) SetFeedPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		n = DefaultFeedPageSize
	}
	s.feedPageSize = n
}

// Mutate changes a company's document at the simulated time at: fn edits the decoded document, the
// register endpoint serves the result from then on, and the feed lists a MUTATED entry whose patch holds
// every changed path. An edit that changes nothing lists nothing. It fails for an unknown company.
func (s *Server) Mutate(country, orgNumber string, at time.Time, fn func(doc map[string]any)) error {
	k := key{strings.ToUpper(country), orgNumber}
	s.mu.Lock()
	old, ok := s.docs[k]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("proffemu: mutate %s %s: no such company", k.country, k.orgnr)
	}
	var doc map[string]any
	if err := json.Unmarshal(old, &doc); err != nil {
		return fmt.Errorf("proffemu: mutate %s %s: the document is not a JSON object: %w", k.country, k.orgnr, err)
	}
	fn(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("proffemu: mutate %s %s: %w", k.country, k.orgnr, err)
	}
	return s.Replace(k.country, k.orgnr, b, at)
}

// Replace serves doc for an existing company from now on and lists the difference as a MUTATED entry at
// at (nothing when the documents are equal).
func (s *Server) Replace(country, orgNumber string, doc []byte, at time.Time) error {
	k := key{strings.ToUpper(country), orgNumber}
	var after any
	if err := json.Unmarshal(doc, &after); err != nil {
		return fmt.Errorf("proffemu: replace %s %s: %w", k.country, k.orgnr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.docs[k]
	if !ok {
		return fmt.Errorf("proffemu: replace %s %s: no such company", k.country, k.orgnr)
	}
	var before any
	json.Unmarshal(old, &before) // a Malformed document differs from anything: the whole root is replaced
	s.docs[k] = append([]byte(nil), doc...)
	if patch := diff("", before, after); len(patch) > 0 {
		s.record(k, at, Mutated, patch)
	}
	return nil
}

// Add registers a new company at at: its document is served, and the feed lists an ADDED entry.
func (s *Server) Add(c Company, at time.Time) {
	s.AddDocument(c.Country, c.OrgNumber, Document(c), at)
}

// AddDocument is Add for a document given as is.
func (s *Server) AddDocument(country, orgNumber string, doc []byte, at time.Time) {
	k := key{strings.ToUpper(country), orgNumber}
	var v any
	json.Unmarshal(doc, &v)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[k] = append([]byte(nil), doc...)
	s.record(k, at, Added, []PatchOp{{Op: "add", Path: "", Value: v}})
}

// Remove takes a company out of the register at at: lookups answer 404, and the feed lists a REMOVED entry.
func (s *Server) Remove(country, orgNumber string, at time.Time) {
	k := key{strings.ToUpper(country), orgNumber}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.docs, k)
	s.record(k, at, Removed, []PatchOp{{Op: "remove", Path: ""}})
}

// Noise lists n MUTATED entries at at for companies the emulator does not serve (valid numbers that no
// CRM of the tests holds), as the real feed lists every changed company of the country, whoever's they are.
// The changed paths rotate over a few of the document's keys.
func (s *Server) Noise(country string, n int, at time.Time) {
	cc := strings.ToUpper(country)
	c, _ := orgnr.ParseCountry(cc)
	paths := []string{"/name", "/visitorAddress/addressLine", "/phoneNumbers/telephoneNumber",
		"/annualAccounts/0/accounts/0/amount", "/shareholders/0/share", "/numberOfEmployees"}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		var nr string
		for nr == "" || s.docs[key{cc, nr}] != nil {
			s.noiseSeq++
			nr = noiseNumber(c, s.noiseSeq)
		}
		p := paths[s.noiseSeq%len(paths)]
		s.record(key{cc, nr}, at, Mutated, []PatchOp{{Op: "replace", Path: p, Value: "changed"}})
	}
}

// noiseNumber is the seq-th fictional valid number of a series no seed or sandbox draws from (NO numbers
// start with 7, the sandbox's with 8 or 9).
func noiseNumber(c orgnr.Country, seq int) string {
	for ; ; seq += 1 << 20 {
		var prefix string
		switch c {
		case orgnr.SE:
			prefix = fmt.Sprintf("552%06d", seq%1_000_000)
		case orgnr.DK:
			prefix = fmt.Sprintf("7%06d", seq%1_000_000)
		case orgnr.FI:
			prefix = fmt.Sprintf("7%06d", seq%1_000_000)
		default:
			prefix = fmt.Sprintf("7%07d", seq%10_000_000)
		}
		for d := '0'; d <= '9'; d++ {
			if nr := prefix + string(d); orgnr.Valid(c, nr) {
				return nr
			}
		}
	}
}

// record appends a feed entry; s.mu is held.
func (s *Server) record(k key, at time.Time, t ChangeType, patch []PatchOp) {
	s.patchSeq++
	s.feed = append(s.feed, feedEntry{country: k.country, orgnr: k.orgnr, at: at, typ: t,
		patchID: fmt.Sprintf("%s-%08d", k.country, s.patchSeq), patch: patch})
}

// ShiftFeed moves every feed entry d back in time, those of open scrolls included: the sandbox's simulated
// nights age the feed by a day while the client ages its own stored times by the same day, so that
// yesterday's entries stay older than the lookups they caused.
func (s *Server) ShiftFeed(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.feed {
		s.feed[i].at = s.feed[i].at.Add(-d)
	}
	for id, sc := range s.scrolls {
		entries := slices.Clone(sc.entries)
		for i := range entries {
			entries[i].at = entries[i].at.Add(-d)
		}
		sc.entries = entries
		s.scrolls[id] = sc
	}
}

// FeedLen is the number of entries the feed holds for a country, the 30-day window not applied.
func (s *Server) FeedLen(country string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.feed {
		if e.country == strings.ToUpper(country) {
			n++
		}
	}
	return n
}

// diff lists the JSON-patch operations that turn a into b: objects key by key, arrays of equal length item
// by item, anything else replaced whole.
func diff(path string, a, b any) []PatchOp {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		var ops []PatchOp
		keys := make([]string, 0, len(x)+len(y))
		for k := range x {
			keys = append(keys, k)
		}
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
			av, ina := x[k]
			bv, inb := y[k]
			switch {
			case !inb:
				ops = append(ops, PatchOp{Op: "remove", Path: p})
			case !ina:
				ops = append(ops, PatchOp{Op: "add", Path: p, Value: bv})
			default:
				ops = append(ops, diff(p, av, bv)...)
			}
		}
		return ops
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		var ops []PatchOp
		for i := range x {
			ops = append(ops, diff(path+"/"+strconv.Itoa(i), x[i], y[i])...)
		}
		return ops
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []PatchOp{{Op: "replace", Path: path, Value: b}}
}

// serveFeed answers GET /api/changes/register/{country}; authorisation, the request log, the limit and
// faults have been applied.
func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request) {
	cc := strings.TrimPrefix(r.URL.Path, feedPrefix)
	s.mu.Lock()
	supported, allowed, status := s.feedCountries[cc], s.countries[cc], s.feedUnsupported
	s.mu.Unlock()
	if !supported {
		// No body: nothing documents one, and a client must classify by the status alone.
		w.Header().Del("Content-Type")
		w.WriteHeader(status)
		return
	}
	if !allowed {
		writeError(w, http.StatusForbidden, "country not included in agreement")
		return
	}
	q := r.URL.Query()
	if id := q.Get("scrollId"); id != "" {
		// Every other parameter is ignored, as the OpenAPI says.
		s.mu.Lock()
		sc, ok := s.scrolls[id]
		s.mu.Unlock()
		if !ok || sc.country != cc {
			writeError(w, http.StatusBadRequest, "unknown or expired scrollId")
			return
		}
		s.feedPage(w, r, sc)
		return
	}
	now := s.now()
	from := now.Add(-24 * time.Hour)
	if v := q.Get("since"); v != "" {
		d, err := time.Parse("2006-01-02", v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "since must be a date yyyy-MM-dd")
			return
		}
		from = d
	}
	from = latest(from, now.Add(-FeedHistory))
	types := map[ChangeType]bool{}
	for _, v := range q["types"] {
		for _, t := range strings.Split(v, ",") {
			switch ct := ChangeType(strings.ToUpper(strings.TrimSpace(t))); ct {
			case Added, Removed, Mutated:
				types[ct] = true
			default:
				writeError(w, http.StatusBadRequest, "types must be ADDED, REMOVED or MUTATED")
				return
			}
		}
	}
	if len(types) == 0 {
		types = map[ChangeType]bool{Added: true, Removed: true, Mutated: true}
	}
	var fields []string
	for _, v := range q["fields"] {
		if !strings.HasPrefix(v, "/") {
			writeError(w, http.StatusBadRequest, "fields must be JSON pointers such as /name")
			return
		}
		fields = append(fields, strings.TrimRight(v, "/"))
	}
	withPatch, _ := strconv.ParseBool(q.Get("withPatch"))

	s.mu.Lock()
	var list []feedEntry
	for _, e := range s.feed {
		if e.country != cc || e.at.Before(from) || e.at.After(now) || !types[e.typ] {
			continue
		}
		if e.typ == Mutated && len(fields) > 0 && !anyPrefix(e.paths(), fields) {
			continue
		}
		list = append(list, e)
	}
	size := s.feedPageSize
	s.mu.Unlock()
	slices.SortStableFunc(list, func(a, b feedEntry) int { return a.at.Compare(b.at) })
	s.feedPage(w, r, scroll{country: cc, entries: list, hits: len(list), patch: withPatch, pageSize: size})
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// anyPrefix reports whether one of paths is, or lies under, one of the prefixes.
func anyPrefix(paths, prefixes []string) bool {
	for _, p := range paths {
		for _, f := range prefixes {
			if p == f || strings.HasPrefix(p, f+"/") || f == "" {
				return true
			}
		}
	}
	return false
}

// feedPage writes the first page of sc and, when more remain, a next link whose scrollId names the rest.
func (s *Server) feedPage(w http.ResponseWriter, r *http.Request, sc scroll) {
	n := min(sc.pageSize, len(sc.entries))
	page, rest := sc.entries[:n], sc.entries[n:]
	type entity struct {
		ID          string    `json:"id"`
		CreatedDate int64     `json:"createdDate"`
		PatchID     string    `json:"patchId"`
		Patch       []PatchOp `json:"patch,omitempty"`
	}
	out := struct {
		NumberOfHits int               `json:"numberOfHits"`
		Entities     []entity          `json:"entities"`
		Next         map[string]string `json:"next,omitempty"`
	}{NumberOfHits: sc.hits, Entities: []entity{}}
	for _, e := range page {
		en := entity{ID: e.orgnr, CreatedDate: e.at.UnixMilli(), PatchID: e.patchID}
		if sc.patch {
			en.Patch = e.patch
		}
		out.Entities = append(out.Entities, en)
	}
	if len(rest) > 0 {
		s.mu.Lock()
		s.scrollSeq++
		id := fmt.Sprintf("scroll-%d", s.scrollSeq)
		next := sc
		next.entries = rest
		s.scrolls[id] = next
		form := s.feedHref
		s.mu.Unlock()
		q := "?scrollId=" + url.QueryEscape(id)
		href := feedPrefix + sc.country + q
		switch form {
		case HrefAbsolute:
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			href = scheme + "://" + r.Host + href
		case HrefScrollOnly:
			href = q
		}
		out.Next = map[string]string{"href": href, "rel": "next"}
	}
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(out)
}
