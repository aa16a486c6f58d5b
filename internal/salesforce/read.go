package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/soql"
)

const (
	epQuery     = "GET /services/data/v{version}/query"
	epQueryMore = "GET /services/data/v{version}/query/{locator}"
	epDescribe  = "GET /services/data/v{version}/sobjects/{object}/describe"
	epLimits    = "GET /services/data/v{version}/limits"
	epComposite = "PATCH /services/data/v{version}/composite/sobjects"
)

func (c *Client) dataPath(rest string) string {
	return "/services/data/v" + c.o.APIVersion + "/" + rest
}

// Describe returns the object's fields as the integration user sees them: a field without read access is
// absent, one without edit access has Updateable false. When the org number or country is a parent's field
// (Account.Org_Number__c), the parent is described too and the field is returned under its path, never
// updateable: it is read, not written.
//
// A Client describes once: the command's mapping check before a run and the run itself read one answer
// (a Client serves one command or one scheduled run, so a field changed in the org is seen by the next).
func (c *Client) Describe(ctx context.Context) (map[string]mapping.Field, error) {
	c.mu.Lock()
	cached := c.described
	c.mu.Unlock()
	if cached != nil {
		return maps.Clone(cached), nil
	}
	d, err := c.describeObject(ctx, c.o.Object)
	if err != nil {
		return nil, err
	}
	out := make(map[string]mapping.Field, len(d.fields)+2)
	types := make(map[string]string, len(d.fields))
	for _, mf := range d.fields {
		out[mf.Name] = mf
		types[strings.ToLower(mf.Name)] = mf.Type
	}
	relProblems, err := c.describeParents(ctx, d, out)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.types = types
	c.described = out
	c.relProblems = relProblems
	c.mu.Unlock()
	return maps.Clone(out), nil
}

func (c *Client) describeObject(ctx context.Context, object string) (describeAnswer, error) {
	resp, err := c.call(ctx, request{endpoint: epDescribe, method: http.MethodGet, path: c.dataPath("sobjects/" + object + "/describe"),
		limit: limitDescribe})
	var api *APIError
	if errors.As(err, &api) && api.has("NOT_FOUND") {
		return describeAnswer{}, fmt.Errorf("describe %s: the org has no object %s, or the integration user cannot read it: %w", object, object, err)
	}
	if err != nil {
		return describeAnswer{}, fmt.Errorf("describe %s: %w", object, err)
	}
	fields, parents, err := decodeDescribe(resp.body)
	if err != nil {
		return describeAnswer{}, fmt.Errorf("describe %s: decoding the answer: %w", object, err)
	}
	return describeAnswer{fields: fields, parent: parents}, nil
}

// describeParents describes the parent of each relationship path (once per parent object) and adds the
// parent's field to out under the path. What cannot be found is returned by lower-case path, for
// ValidateFields to name; only a failed call is an error.
func (c *Client) describeParents(ctx context.Context, d describeAnswer, out map[string]mapping.Field) (map[string]string, error) {
	problems := map[string]string{}
	parents := map[string]describeAnswer{}
	for _, p := range []soql.Path{c.orgPath, c.countryPath} {
		if p.Relationship == "" {
			continue
		}
		refs, ok := d.parent[strings.ToLower(p.Relationship)]
		switch {
		case !ok:
			problems[strings.ToLower(p.String())] = fmt.Sprintf("%s has no relationship %s (the relationship name of a lookup: Account on a Contact, Parent__r for a custom lookup Parent__c)", c.o.Object, p.Relationship)
			continue
		case len(refs) != 1:
			problems[strings.ToLower(p.String())] = fmt.Sprintf("relationship %s on %s refers to %d objects (%s); only a lookup to one object can be read", p.Relationship, c.o.Object, len(refs), strings.Join(refs, ", "))
			continue
		}
		pd, seen := parents[strings.ToLower(refs[0])]
		if !seen {
			var err error
			if pd, err = c.describeObject(ctx, refs[0]); err != nil {
				return nil, err
			}
			parents[strings.ToLower(refs[0])] = pd
		}
		f, found := fieldNamed(pd.fields, p.Field)
		if !found {
			problems[strings.ToLower(p.String())] = fmt.Sprintf("%s does not exist on %s (the parent through %s.%s) or the integration user cannot read it", p.Field, refs[0], c.o.Object, p.Relationship)
			continue
		}
		f.Name, f.Updateable = p.String(), false
		out[p.String()] = f
	}
	return problems, nil
}

func fieldNamed(fields []mapping.Field, name string) (mapping.Field, bool) {
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return mapping.Field{}, false
}

// Count returns how many records the read selects.
func (c *Client) Count(ctx context.Context) (int, error) {
	if err := c.ensureValidated(ctx); err != nil {
		return 0, fmt.Errorf("count %s: %w", c.o.Object, err)
	}
	resp, err := c.call(ctx, request{endpoint: epQuery, method: http.MethodGet, soql: c.countSOQL(), header: c.queryHeader()})
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", c.o.Object, err)
	}
	p, err := c.decodePage(resp.body)
	if err != nil {
		return 0, fmt.Errorf("count %s: decoding the answer: %w", c.o.Object, err)
	}
	if !p.totalKnown {
		// Reporting 0 would tell preview that nothing is selected.
		return 0, fmt.Errorf("count %s: the answer gives no totalSize that reads as a number of records", c.o.Object)
	}
	if p.totalSize > math.MaxInt32 {
		return 0, fmt.Errorf("count %s: totalSize %d is beyond any org", c.o.Object, p.totalSize)
	}
	return int(p.totalSize), nil
}

// CheckSelection runs the read's own query, fields, condition and filter, with LIMIT 1, so that `check`
// finds what Salesforce refuses in it (a filter on a field that does not exist, a relationship the user
// cannot follow) before a run does. It describes and validates the fields first, as a read does.
func (c *Client) CheckSelection(ctx context.Context) error {
	if err := c.ensureValidated(ctx); err != nil {
		return fmt.Errorf("check the selection on %s: %w", c.o.Object, err)
	}
	resp, err := c.call(ctx, request{endpoint: epQuery, method: http.MethodGet, soql: c.selectSOQL("") + " LIMIT 1", header: c.queryHeader(), limit: c.pageLimit()})
	if err != nil {
		return fmt.Errorf("check the selection on %s: %w", c.o.Object, err)
	}
	if _, err := c.decodePage(resp.body); err != nil {
		return fmt.Errorf("check the selection on %s: decoding the answer: %w", c.o.Object, err)
	}
	return nil
}

// OrgCurrency returns the org's corporate currency (Organization.DefaultCurrencyIsoCode, an ISO 4217 code),
// which `check` compares with the companies' reporting currencies: an amount mapped to a currency field is
// written as it is, never converted (proff.CurrencyWarnings).
func (c *Client) OrgCurrency(ctx context.Context) (string, error) {
	resp, err := c.call(ctx, request{endpoint: epQuery, method: http.MethodGet, soql: "SELECT DefaultCurrencyIsoCode FROM Organization LIMIT 1"})
	if err != nil {
		return "", fmt.Errorf("read the org's currency: %w", err)
	}
	var page struct {
		Records []struct {
			DefaultCurrencyIsoCode *string `json:"DefaultCurrencyIsoCode"`
		} `json:"records"`
	}
	if err := json.Unmarshal(resp.body, &page); err != nil {
		return "", fmt.Errorf("read the org's currency: decoding the answer: %w", err)
	}
	if len(page.Records) != 1 || page.Records[0].DefaultCurrencyIsoCode == nil || !isoCurrency.MatchString(*page.Records[0].DefaultCurrencyIsoCode) {
		return "", errors.New("read the org's currency: the answer holds no currency code")
	}
	return *page.Records[0].DefaultCurrencyIsoCode, nil
}

var isoCurrency = regexp.MustCompile(`^[A-Z]{3}$`)

func (c *Client) queryHeader() http.Header {
	return http.Header{"Sforce-Query-Options": {"batchSize=" + strconv.Itoa(c.o.PageSize)}}
}

// Records reads the selected records with Id greater than afterID in Id order, one page (up to PageSize
// records) at a time, following nextRecordsUrl. Only one page is held at once. When Salesforce has dropped
// the cursor (INVALID_QUERY_LOCATOR), the query is issued again after the last record handed on.
func (c *Client) Records(ctx context.Context, afterID string, page func([]massupdate.Record) error) error {
	if afterID != "" && !recordID.MatchString(afterID) {
		return fmt.Errorf("read %s: %q is not a record Id", c.o.Object, afterID)
	}
	if err := c.ensureValidated(ctx); err != nil {
		return fmt.Errorf("read %s: %w", c.o.Object, err)
	}
	limit := c.pageLimit()
	r := request{endpoint: epQuery, method: http.MethodGet, soql: c.selectSOQL(afterID), header: c.queryHeader(), limit: limit}
	// last is the Id of the last record handed on; progressed says a page came since the query was issued.
	last, progressed := afterID, false
	for pageNo := 1; ; pageNo++ {
		resp, err := c.call(ctx, r)
		var api *APIError
		if err != nil && r.endpoint == epQueryMore && progressed && errors.As(err, &api) && api.has("INVALID_QUERY_LOCATOR") {
			// The cursor is gone: Salesforce drops one after 15 idle minutes (a page of slow lookups) or when
			// the user opens an eleventh. The read is in Id order, so the same query after the last Id handed
			// on goes on exactly where this one stopped.
			c.log.LogAttrs(ctx, slogInfo, "salesforce query cursor expired, querying again after the last record read", attrEndpoint(r.endpoint))
			r = request{endpoint: epQuery, method: http.MethodGet, soql: c.selectSOQL(last), header: c.queryHeader(), limit: limit}
			progressed = false
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", c.o.Object, err)
		}
		qr, err := c.decodePage(resp.body)
		if err != nil {
			// Nothing of a malformed page is handed on: the run fails here rather than skip a record.
			return fmt.Errorf("read %s: query page %d (%s): %w", c.o.Object, pageNo, r.endpoint, err)
		}
		recs := qr.records
		if len(recs) > 0 {
			if err := page(recs); err != nil {
				return err
			}
			if id := recs[len(recs)-1].ID; recordID.MatchString(id) {
				last, progressed = id, true
			}
		}
		if !qr.done && qr.next == "" {
			// Not done, yet no way on: the read ends here (as a page without a next link always has), but an
			// operator must be able to see why a run selected fewer records than the org holds.
			c.log.LogAttrs(ctx, slogWarn, "salesforce query page says not done but gives no nextRecordsUrl: the read ends here, possibly incomplete",
				attrEndpoint(r.endpoint), slog.Int("page", pageNo))
		}
		if qr.done || qr.next == "" {
			return nil
		}
		if r, err = c.nextPage(qr.next, limit); err != nil {
			return fmt.Errorf("read %s: %w", c.o.Object, err)
		}
	}
}

// nextPage is the request for a query's next page. Its URL comes from the network: it is followed only
// within this API's query resource. Salesforce sends a path; an absolute URL is followed only on the
// instance itself.
func (c *Client) nextPage(nextRecordsURL string, limit int64) (request, error) {
	next := c.samePath(nextRecordsURL)
	if !strings.HasPrefix(next, "/services/data/v") || !strings.Contains(next, "/query/") || strings.ContainsAny(next, "?#@\\") || strings.Contains(next, "..") {
		return request{}, fmt.Errorf("refusing to follow nextRecordsUrl %q", next)
	}
	return request{endpoint: epQueryMore, method: http.MethodGet, soql: next, header: c.queryHeader(), limit: limit}, nil
}

// samePath turns an absolute URL on the session's instance into its path; anything else is returned as it
// is, for the caller's checks to judge.
func (c *Client) samePath(next string) string {
	u, err := url.Parse(next)
	if err != nil || !u.IsAbs() || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return next
	}
	c.mu.Lock()
	inst := c.sess.instance
	c.mu.Unlock()
	if inst == "" {
		return next
	}
	iu, err := url.Parse(inst)
	if err != nil || !strings.EqualFold(u.Scheme, iu.Scheme) || originPort(u) != originPort(iu) {
		return next
	}
	return u.EscapedPath()
}

// originPort is the URL's host and port, the scheme's default port written out: acme.my.salesforce.com and
// acme.my.salesforce.com:443 are the same instance for https.
func originPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// lower avoids an allocation for names that are lower-case already; most are not, so it mostly allocates.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// text is an org number or country as read: "" when null or blank, numbers without exponent.
func text(v any) string {
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) == "" {
			return ""
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// Limits reads the daily API allocation from /limits: used = Max − Remaining. It is answered even below the
// reserve (one call), so that `check` can show why runs stop.
func (c *Client) Limits(ctx context.Context) (used, max int64, err error) {
	resp, err := c.call(ctx, request{endpoint: epLimits, method: http.MethodGet, path: c.dataPath("limits"), noReserve: true})
	if err != nil {
		return 0, 0, fmt.Errorf("read limits: %w", err)
	}
	var l struct {
		DailyApiRequests struct {
			Max       int64 `json:"Max"`
			Remaining int64 `json:"Remaining"`
		} `json:"DailyApiRequests"`
	}
	if err := json.Unmarshal(resp.body, &l); err != nil {
		return 0, 0, fmt.Errorf("read limits: decoding the answer: %w", err)
	}
	return l.DailyApiRequests.Max - l.DailyApiRequests.Remaining, l.DailyApiRequests.Max, nil
}
