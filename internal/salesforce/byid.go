package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
)

// Reads by record Id: `run --retry` reads again the records a run failed (still opted in and filtered), and
// `revert` reads the current values of the records a run wrote. Both name their records in SOQL
// `Id IN (…)` lists, as many Ids per query as the request URL allows. Why SOQL and not sObject
// Collections' retrieve (up to 2,000 Ids per POST): only a query can apply the opt-in field and the
// admin's filter, which a retry must; one query path serves both; and a query's answer is decoded by the
// same bounded decoder as the ordinary read.

// maxQueryURL bounds the path and query string of one query request. Salesforce refuses a request URI
// longer than 16,384 characters; the rest is left for the instance's host name.
const maxQueryURL = 16000

// IDSource is a massupdate.RecordSource over only the given records, still subject to the opt-in field and
// the filter: the records of `run --retry`.
type IDSource struct {
	c   *Client
	ids []string // sorted, without duplicates
}

var _ massupdate.RecordSource = (*IDSource)(nil)

// ByID returns a RecordSource that selects only the records with the given Ids among those the client's
// ordinary read selects (opted in, filtered). An Id that is not a record Id is refused.
func (c *Client) ByID(ids []string) (*IDSource, error) {
	sorted, err := sortedIDs(ids)
	if err != nil {
		return nil, fmt.Errorf("read %s by Id: %w", c.o.Object, err)
	}
	return &IDSource{c: c, ids: sorted}, nil
}

// Describe is the client's describe.
func (s *IDSource) Describe(ctx context.Context) (map[string]mapping.Field, error) {
	return s.c.Describe(ctx)
}

// Count returns how many of the Ids are selected: one COUNT() query per Id list.
func (s *IDSource) Count(ctx context.Context) (int, error) {
	if err := s.c.ensureValidated(ctx); err != nil {
		return 0, fmt.Errorf("count %s by Id: %w", s.c.o.Object, err)
	}
	total := 0
	prefix := "SELECT COUNT() FROM " + s.c.o.Object + " WHERE " + s.c.where() + " AND Id IN ("
	for _, chunk := range idChunks(prefix, ")", s.ids) {
		resp, err := s.c.call(ctx, request{endpoint: epQuery, method: http.MethodGet, soql: inSOQL(prefix, chunk, ")")})
		if err != nil {
			return 0, fmt.Errorf("count %s by Id: %w", s.c.o.Object, err)
		}
		p, err := s.c.decodePage(resp.body)
		if err != nil {
			return 0, fmt.Errorf("count %s by Id: decoding the answer: %w", s.c.o.Object, err)
		}
		if !p.totalKnown {
			// As for the ordinary count: reporting 0 would tell preview that none of the records is selected.
			return 0, fmt.Errorf("count %s by Id: the answer gives no totalSize that reads as a number of records", s.c.o.Object)
		}
		total += int(min(p.totalSize, int64(len(chunk))))
	}
	return total, nil
}

// Records hands on the selected records among the Ids, with Id greater than afterID, in ascending Id order.
func (s *IDSource) Records(ctx context.Context, afterID string, page func([]massupdate.Record) error) error {
	return s.c.readByID(ctx, s.c.where(), after(s.ids, afterID), page)
}

// Current reads the records with the given Ids, whatever their opt-in field and the filter say, in ascending
// Id order; an Id with no record (deleted, or hidden from the integration user) is simply absent. A revert
// puts back what a run wrote, and the run wrote those records when they were selected: an opt-out since
// does not make proffsync's change the customer's.
func (c *Client) Current(ctx context.Context, ids []string, page func([]massupdate.Record) error) error {
	sorted, err := sortedIDs(ids)
	if err != nil {
		return fmt.Errorf("read %s by Id: %w", c.o.Object, err)
	}
	return c.readByID(ctx, "", sorted, page)
}

// readByID reads the records of ids (sorted) that meet where ("" for none), Id list by Id list. Each list's
// records are handed on sorted by Id as Go compares strings, the order the callers' checkpoints use.
func (c *Client) readByID(ctx context.Context, where string, ids []string, page func([]massupdate.Record) error) error {
	if len(ids) == 0 {
		return nil
	}
	if err := c.ensureValidated(ctx); err != nil {
		return fmt.Errorf("read %s by Id: %w", c.o.Object, err)
	}
	prefix := "SELECT " + strings.Join(c.soqlFields, ", ") + " FROM " + c.o.Object + " WHERE "
	if where != "" {
		prefix += where + " AND "
	}
	prefix += "Id IN ("
	const suffix = ") ORDER BY Id"
	for _, chunk := range idChunks(prefix, suffix, ids) {
		recs, err := c.queryAll(ctx, inSOQL(prefix, chunk, suffix))
		if err != nil {
			return fmt.Errorf("read %s by Id: %w", c.o.Object, err)
		}
		slices.SortFunc(recs, func(a, b massupdate.Record) int { return strings.Compare(a.ID, b.ID) })
		if len(recs) > 0 {
			if err := page(recs); err != nil {
				return err
			}
		}
	}
	return nil
}

// queryAll reads every page of one query whose answer is bounded by its Id list (at most a few hundred
// records), following nextRecordsUrl. When the cursor is dropped part-way, the whole query is issued
// again: the list is short, and its records were not handed on yet.
func (c *Client) queryAll(ctx context.Context, soql string) ([]massupdate.Record, error) {
	limit := c.pageLimit()
	first := request{endpoint: epQuery, method: http.MethodGet, soql: soql, header: c.queryHeader(), limit: limit}
	r := first
	var recs []massupdate.Record
	for again := 0; ; {
		resp, err := c.call(ctx, r)
		var api *APIError
		if err != nil && r.endpoint == epQueryMore && again < 2 && errors.As(err, &api) && api.has("INVALID_QUERY_LOCATOR") {
			again++
			r, recs = first, recs[:0]
			continue
		}
		if err != nil {
			return nil, err
		}
		qr, err := c.decodePage(resp.body)
		if err != nil {
			return nil, fmt.Errorf("query page (%s): %w", r.endpoint, err)
		}
		recs = append(recs, qr.records...)
		if qr.done || qr.next == "" {
			return recs, nil
		}
		if r, err = c.nextPage(qr.next, limit); err != nil {
			return nil, err
		}
	}
}

// sortedIDs checks, sorts and deduplicates record Ids: only checked Ids reach SOQL.
func sortedIDs(ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !recordID.MatchString(id) {
			return nil, fmt.Errorf("%q is not a record Id", id)
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// after is the tail of sorted ids greater than afterID.
func after(ids []string, afterID string) []string {
	i, found := slices.BinarySearch(ids, afterID)
	if found {
		i++
	}
	return ids[i:]
}

// queryPath is the request path of a query without its SOQL, as simpleforce builds it.
const queryPath = "/services/data/v00.0/query?q="

// idChunks splits ids into lists whose query, prefix + 'id', 'id', … + suffix, fits maxQueryURL once
// URL-encoded. Every list holds at least one Id.
func idChunks(prefix, suffix string, ids []string) [][]string {
	base := len(queryPath) + len(url.QueryEscape(prefix)) + len(url.QueryEscape(suffix))
	var chunks [][]string
	start, size := 0, base
	for i, id := range ids {
		n := len(url.QueryEscape("'" + id + "'"))
		if i > start {
			n += len(url.QueryEscape(", "))
		}
		if i > start && size+n > maxQueryURL {
			chunks = append(chunks, ids[start:i])
			start, size = i, base
			n = len(url.QueryEscape("'" + id + "'"))
		}
		size += n
	}
	if start < len(ids) {
		chunks = append(chunks, ids[start:])
	}
	return chunks
}

// inSOQL is prefix + 'id1', 'id2', … + suffix. The Ids were checked by sortedIDs.
func inSOQL(prefix string, ids []string, suffix string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(suffix) + len(ids)*22)
	b.WriteString(prefix)
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("'" + id + "'")
	}
	b.WriteString(suffix)
	return b.String()
}
