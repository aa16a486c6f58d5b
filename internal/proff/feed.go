package proff

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
)

// The change feed, GET /api/changes/register/{country} (Proff's API documentation, "The change feed"): which
// companies' register documents changed since a date. Every page is one GET through the same path as a
// lookup (limiter, retries, technical log, GET only, the token only to the configured host), and nothing
// from Salesforce is in its query (P2): the date, the types and the mapping's paths only.
//
// What the caller must know: the feed is a hint, never the truth. An answer that is not understood, a
// failure half-way, or a page beyond the bound is an error wrapping ErrFeedFailed, and the caller looks
// that country's companies up in full rather than skip anything.

// EndpointFeed is the technical log's template of a feed page.
const EndpointFeed = "GET /api/changes/register/{country}"

// DefaultFeedMaxPages bounds one read of the feed: 1,000 pages of 1,000 entities is about all of Norway's
// register, far more than 30 days of changes. A feed that pages on beyond it is not believed.
const DefaultFeedMaxPages = 1000

// ErrFeedUnsupported is wrapped when Proff answers a 4xx (but 401, 408, 429) for a country's feed: that
// country has no feed, or not in this agreement. The caller remembers it and looks the country's companies
// up by age instead.
var ErrFeedUnsupported = errors.New("Proff has no change feed for that country")

// ErrFeedFailed is wrapped when a feed read failed or answered strangely (not JSON, entities not a list, a
// next link to another host, a page read before, too many pages, a failure after the retries).
// The caller falls back to full lookups for that country in this run.
var ErrFeedFailed = errors.New("the Proff change feed could not be read")

// ErrFeedTooLong is wrapped, with ErrFeedFailed, when a read needs more pages than it may take: the caller
// must not ask for the same long span again (it would fail the same way every night).
var ErrFeedTooLong = errors.New("the change feed holds more than one read may take")

// FeedType is a kind of change the feed lists.
type FeedType string

// The feed's change types.
const (
	FeedAdded   FeedType = "ADDED"
	FeedRemoved FeedType = "REMOVED"
	FeedMutated FeedType = "MUTATED"
)

// FeedOptions narrow a feed read.
type FeedOptions struct {
	// Types asks for these kinds only; empty asks for all three (Proff's default). The entries do not say
	// their kind: ask for FeedRemoved alone to know which companies were removed.
	Types []FeedType
	// Fields are JSON-pointer prefixes (FeedFields builds them from the mapping); empty: any change.
	// Proff applies them to MUTATED entries only.
	Fields []string
	// MaxPages bounds the read; DefaultFeedMaxPages when 0.
	MaxPages int
}

// Change is one feed entry. A company changed on several days is listed once per change.
type Change struct {
	OrgNumber string    // canonical, as Lookup takes it
	At        time.Time // when Proff recorded the change; zero when the entry gave none
	PatchID   string
}

// FeedResult tells what a read cost and found, also when it failed half-way.
type FeedResult struct {
	Pages   int // calls made (each page one call, retries not counted)
	Changes int // entries passed to fn
	Skipped int // entries without a valid organisation number
	// NumberOfHits is the total the first page announced; -1 when it gave none.
	NumberOfHits int
}

// feedStatusKey marks a request whose 4xx answers (but 401, 408, 429) come back as a *feedStatusError for
// the feed to classify: for the feed a 404 or 403 means "no feed for that country", not "no such company"
// or "token refused".
type feedStatusKey struct{}

func isFeedRequest(ctx context.Context) bool { return ctx.Value(feedStatusKey{}) != nil }

type feedStatusError struct{ status int }

// emptyFeedPage stands for a feed page answered 204 No Content: no entities and no next link.
const emptyFeedPage = "{}"

func (e *feedStatusError) Error() string { return fmt.Sprintf("Proff answered %d", e.status) }

// Changes reads the country's change feed from since (sent as its calendar date in since's location;
// zero: Proff's default, the last day) and calls fn for each entry, page after page, until a page is empty
// or has no next link. The caller overlaps since by a day: whether Proff's date is inclusive, and in which
// time zone, is not documented. An error from fn stops the read and is returned as is.
func (c *Client) Changes(ctx context.Context, country string, since time.Time, opt FeedOptions, fn func(Change) error) (FeedResult, error) {
	res := FeedResult{NumberOfHits: -1}
	cc, ok := orgnr.ParseCountry(country)
	if !ok {
		return res, fmt.Errorf("proff change feed: country %q is not one of NO, SE, DK, FI", country)
	}
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.Format("2006-01-02"))
	}
	for _, t := range opt.Types {
		switch t {
		case FeedAdded, FeedRemoved, FeedMutated:
			q.Add("types", string(t))
		default:
			return res, fmt.Errorf("proff change feed: unknown change type %q", t)
		}
	}
	for _, f := range opt.Fields {
		if !strings.HasPrefix(f, "/") {
			return res, fmt.Errorf("proff change feed: field %q is not a JSON pointer", f)
		}
		q.Add("fields", f)
	}
	maxPages := opt.MaxPages
	if maxPages <= 0 {
		maxPages = DefaultFeedMaxPages
	}
	path := "/api/changes/register/" + string(cc)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	ctx = context.WithValue(ctx, feedStatusKey{}, true)
	// A loop is a page read before: the same entities with the same next link. Not a next link seen before:
	// Proff's scrollId is an Elasticsearch scroll, whose id often stays the same from page to page while the
	// pages differ. Pages that differ but never end stop at maxPages.
	seen := map[[sha256.Size]byte]bool{}
	defer func() {
		if res.Skipped > 0 {
			// Counted, never the ids themselves: the log holds no payload.
			c.log.LogAttrs(ctx, slog.LevelWarn, "change feed entries without a valid organisation number were skipped",
				slog.String("country", string(cc)), slog.Int("skipped", res.Skipped), slog.Int("pages", res.Pages))
		}
	}()
	for path != "" {
		if res.Pages >= maxPages {
			return res, fmt.Errorf("proff change feed %s: more than %d pages: %w: %w", cc, maxPages, ErrFeedTooLong, ErrFeedFailed)
		}
		res.Pages++
		body, err := c.get(ctx, path, EndpointFeed, "")
		if err != nil {
			return res, feedError(cc, res.Pages, err)
		}
		next, entities, err := c.feedPage(body, cc, &res, seen, fn)
		if err != nil {
			return res, err
		}
		if entities == 0 || next == "" {
			return res, nil
		}
		if path, err = c.feedNext(cc, path, next); err != nil {
			return res, fmt.Errorf("proff change feed %s page %d: %w: %w", cc, res.Pages, ErrFeedFailed, err)
		}
	}
	return res, nil
}

// feedError classifies a failed page: what stops the whole run (token, quota, cancellation) keeps its
// own kind; a 4xx means no feed; anything else makes the country fall back to full lookups.
func feedError(cc orgnr.Country, page int, err error) error {
	var st *feedStatusError
	switch {
	case errors.As(err, &st) && page > 1:
		// The first page was answered, so the country has a feed: a 4xx later (an expired or refused scroll)
		// is a failed read, not "no feed", which would leave the country unread for days.
		return fmt.Errorf("proff change feed %s page %d: Proff answered %d: %w", cc, page, st.status, ErrFeedFailed)
	case errors.As(err, &st):
		return fmt.Errorf("proff change feed %s: Proff answered %d: %w", cc, st.status, ErrFeedUnsupported)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, massupdate.ErrUnauthorized), errors.Is(err, massupdate.ErrQuotaExhausted):
		return fmt.Errorf("proff change feed %s page %d: %w", cc, page, err)
	}
	return fmt.Errorf("proff change feed %s page %d: %w: %w", cc, page, ErrFeedFailed, err)
}

// feedPage decodes one page, passes its entries to fn and returns the next link and the number of
// entities. Unknown keys are ignored; keys match case-insensitively, as encoding/json does. seen holds the
// digests of the pages read so far (entities and next link): a page that repeats one is a loop.
func (c *Client) feedPage(body []byte, cc orgnr.Country, res *FeedResult, seen map[[sha256.Size]byte]bool,
	fn func(Change) error) (string, int, error) {
	strange := func(why string) error {
		return fmt.Errorf("proff change feed %s page %d: %s: %w", cc, res.Pages, why, ErrFeedFailed)
	}
	var page struct {
		NumberOfHits json.RawMessage `json:"numberOfHits"`
		Entities     json.RawMessage `json:"entities"`
		Next         json.RawMessage `json:"next"`
	}
	// JSON null decodes into a struct without complaint, as an empty last page: a proxy's "null" would end
	// the read as complete, and the feed state would move past changes never read.
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &page) != nil {
		return "", 0, strange("the answer is not a JSON object")
	}
	if hits, ok := jsonText(page.NumberOfHits); ok && res.Pages == 1 {
		// Only informative: a count that does not read as one is ignored, not a reason to distrust the page.
		if n, err := strconv.Atoi(hits); err == nil && n >= 0 {
			res.NumberOfHits = n
		}
	}
	var entities []json.RawMessage
	if t := bytes.TrimSpace(page.Entities); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if t[0] != '[' || json.Unmarshal(t, &entities) != nil {
			return "", 0, strange("entities is not a list")
		}
	}
	next, ok := nextHref(page.Next)
	if !ok {
		return "", 0, strange("next is not a link")
	}
	if len(entities) > 0 && next != "" {
		// The same entities with the same next link: the server hands out this page again and again.
		sum := sha256.Sum256(append(append([]byte(next), 0), bytes.TrimSpace(page.Entities)...))
		if seen[sum] {
			return "", 0, strange("the page repeats one already read (the next link loops)")
		}
		seen[sum] = true
	}
	for _, raw := range entities {
		var e struct {
			ID          json.RawMessage `json:"id"`
			CreatedDate json.RawMessage `json:"createdDate"`
			PatchID     json.RawMessage `json:"patchId"`
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &e) != nil {
			return "", 0, strange("an entity is not an object")
		}
		id, ok := jsonText(e.ID)
		nr, err := orgnr.Normalize(cc, id)
		if !ok || err != nil {
			// No CRM record can hold a number that fails its check: nothing to look at again.
			res.Skipped++
			continue
		}
		patchID, _ := jsonText(e.PatchID)
		ch := Change{OrgNumber: nr, At: epochMillis(e.CreatedDate), PatchID: patchID}
		if err := fn(ch); err != nil {
			return "", 0, err
		}
		res.Changes++
	}
	return next, len(entities), nil
}

// nextHref reads the page's next link: {"href","rel"} as documented, or a bare href, as some link writers
// give it. "" when there is none (absent, null, no href); false when next is something else.
func nextHref(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return "", true
	}
	var href *string
	if t[0] == '"' {
		href = new(string)
		if json.Unmarshal(t, href) != nil {
			return "", false
		}
	} else {
		var link struct {
			Href *string `json:"href"`
		}
		if t[0] != '{' || json.Unmarshal(t, &link) != nil {
			return "", false
		}
		href = link.Href
	}
	if href == nil {
		return "", true
	}
	return strings.TrimSpace(*href), true
}

// jsonText reads a JSON string or number as text.
func jsonText(raw json.RawMessage) (string, bool) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&v) != nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, x != ""
	case json.Number:
		return x.String(), true
	}
	return "", false
}

// Bounds of a believable createdDate number. Below epochSecondsMax it can only be seconds: as milliseconds
// it would be before March 1973, long before any feed; as seconds it reaches the year 5138. From
// epochMillisMax on (the year 5138 as milliseconds) it is no date at all (microseconds, say).
const (
	epochSecondsMax = 1e11
	epochMillisMax  = 1e14
)

// epochMillis reads createdDate: milliseconds since 1970 as a number or a numeric string, seconds (a number
// too small to be milliseconds of any feed's time), or an RFC 3339 text; zero when it is none of these, or
// not after 1970. A date misread as 1970 would look older than every lookup and hide the change: zero
// makes the caller take "now", which makes the company due.
func epochMillis(raw json.RawMessage) time.Time {
	s, ok := jsonText(raw)
	if !ok {
		return time.Time{}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		switch {
		case f <= 0 || f >= epochMillisMax || math.IsNaN(f):
			return time.Time{}
		case f < epochSecondsMax:
			return time.UnixMilli(int64(f * 1000)).UTC()
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.UnixMilli(ms).UTC()
		}
		return time.UnixMilli(int64(f)).UTC()
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// feedNext resolves next.href, absolute, relative to the host, or a bare query ("?scrollId=…") relative to
// the page it came with, and returns it as a path below the base URL. A link to any other scheme, host or
// path is refused: the token goes to the configured host's feed only.
func (c *Client) feedNext(cc orgnr.Country, cur, href string) (string, error) {
	page, err := url.Parse(c.base.String() + cur)
	if err != nil {
		return "", fmt.Errorf("the page's own URL: %w", err)
	}
	ref, err := url.Parse(href)
	if err != nil {
		return "", errors.New("the next link is not a URL")
	}
	u := page.ResolveReference(ref)
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || hostPort(u) != hostPort(c.base) || u.User != nil {
		return "", fmt.Errorf("the next link leads to another host (%s://%s), not the configured Proff URL",
			u.Scheme, u.Hostname())
	}
	rel, ok := strings.CutPrefix(u.EscapedPath(), c.base.EscapedPath())
	// Only this country's feed: another country's entries would be read as this country's numbers.
	if !ok || !strings.EqualFold(strings.TrimSuffix(rel, "/"), "/api/changes/register/"+string(cc)) {
		return "", errors.New("the next link leads out of the country's change feed")
	}
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	return rel, nil
}

// hostPort is the URL's host and port, the scheme's default port written out: api.proff.no and
// api.proff.no:443 are the same host for https.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// FeedFields turns the mapping's data points into the feed's fields= prefixes: the top-level key each
// point is read from (visitorAddress.zipCode → /visitorAddress, naceCategories[0] → /naceCategories), and
// for a derived point every key it is computed from. Top-level keys, not deeper pointers, because how
// Proff cuts a change into paths (a whole object replaced, or one key of it) is not documented.
//
// It returns nil, which asks for every change, when a point's source is not known to it (a path that does
// not parse, a key it cannot spell): a feed filtered too finely would hide a change for ever, one not
// filtered only costs lookups.
func FeedFields(paths []string) []string {
	var out []string
	for _, p := range paths {
		if src, ok := derivedSources[strings.ToLower(strings.TrimSpace(p))]; ok {
			out = append(out, src...)
			continue
		}
		segs, err := parsePath(p)
		if err != nil {
			return nil
		}
		root := strings.ToLower(segs[0].key)
		if src, ok := derivedSources[root+".*"]; ok {
			out = append(out, src...)
			continue
		}
		spelled, ok := rootSpelling[root]
		if !ok {
			return nil
		}
		out = append(out, "/"+spelled)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// derivedSources are the keys a derived point is computed from (catalogue.go); "x.*" covers every point
// under a derived prefix (accounts.SDI reads annualAccounts).
var derivedSources = map[string][]string{
	pointNaceCode:                   {"/naceCategories"},
	pointNaceText:                   {"/naceCategories"},
	strings.ToLower(pointEmployees): {"/empMin", "/numberOfEmployees"},
	strings.ToLower(pointYears):     {"/establishedDate", "/foundationDate", "/registrationDate", "/yearsInOperation"},
	"accounts.*":                    {"/annualAccounts"},
}

// rootSpelling is how the register document spells its top-level keys (JSON pointers match case), keyed
// lower-case like documentRoots.
var rootSpelling = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"analyses", "announcements", "annualAccounts", "annualReports", "businessUnitId",
		"centralApproval", "companyAccounts", "companyCacheFlows", "companyId", "companyMain", "companyPurpose",
		"companyRoles", "companyType", "companyTypeName", "corporateAccounts", "corporateCacheFlows",
		"corporateMain", "corporateStructure", "creditRating", "email", "empMax", "empMin", "establishedDate",
		"estimatedTurnover", "foundationDate", "foundationYear", "hasSecurity", "homePage", "keyFigures", "link",
		"liquidationDate", "location", "mainOffice", "marketingProtection", "mortgages", "naceCategories", "name",
		"numberOfEmployees", "organisationNumber", "phoneNumbers", "postalAddress", "previousNames",
		"proffListingId", "profit", "publicListings", "registeredAsEnterprise", "registeredForNav",
		"registeredForPayrollTax", "registeredForVat", "registeredForVatDescription", "registeredForVoluntary",
		"registrationDate", "revenue", "sOrganisationNumber", "sectorCode", "shareCapital", "shareholders",
		"shareholdersLastUpdatedDate", "shortAnalyses", "status", "subsidiaries", "subsidiariesLastUpdatedDate",
		"trials", "visitorAddress", "yearsInOperation"} {
		m[strings.ToLower(k)] = k
	}
	return m
}()
