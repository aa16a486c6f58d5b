package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// RecordError is why Salesforce refused one record of a write: the whole errors array, in order.
type RecordError struct{ Errors []ErrorItem }

func (e *RecordError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, it := range e.Errors {
		parts[i] = it.Code + ": " + it.Message
	}
	if len(parts) == 0 {
		return "UNKNOWN: Salesforce refused the record without a reason"
	}
	return strings.Join(parts, "; ")
}

// Code returns the first status code.
func (e *RecordError) Code() string {
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func (e *RecordError) retryable() bool {
	for _, it := range e.Errors {
		if it.Code == "UNABLE_TO_LOCK_ROW" {
			return true
		}
	}
	return false
}

// Write sends the updates in one sObject Collections PATCH (allOrNone false) and returns one result per
// update, in order. Each record carries its Id, the attributes type marker and only the fields of its
// Update, and Write refuses (before any request) a field that is not configured (P4). Records refused with
// UNABLE_TO_LOCK_ROW are sent again, alone, with backoff; other refusals are permanent and end in
// WriteResult.Err as "CODE: message". A request refused as a whole with 400 fails each of its records with
// that reason. The returned error wraps ErrQuotaExhausted, ErrUnauthorized or the context's error.
func (c *Client) Write(ctx context.Context, updates []massupdate.Update) ([]massupdate.WriteResult, error) {
	if len(updates) == 0 {
		return nil, nil
	}
	if len(updates) > massupdate.MaxBatch {
		return nil, fmt.Errorf("write %s: %d records in one call, at most %d", c.o.Object, len(updates), massupdate.MaxBatch)
	}
	for _, u := range updates {
		if !recordID.MatchString(u.RecordID) {
			return nil, fmt.Errorf("write %s: %q is not a record Id", c.o.Object, u.RecordID)
		}
		for name := range u.Fields {
			if !c.writable[strings.ToLower(name)] {
				return nil, fmt.Errorf("write %s: refusing to write field %q: it is not a configured field", c.o.Object, name)
			}
		}
	}
	results := make([]massupdate.WriteResult, len(updates))
	pending := make([]int, len(updates))
	for i, u := range updates {
		results[i].RecordID = u.RecordID
		pending[i] = i
	}
	for round := 1; len(pending) > 0; round++ {
		body, err := c.collectionBody(updates, pending)
		if err != nil {
			return nil, err
		}
		resp, err := c.call(ctx, request{endpoint: epComposite, method: http.MethodPatch, path: c.dataPath("composite/sobjects"), body: body,
			header: writeHeader, limit: int64(len(pending))*limitWritePerRecord + 64<<10})
		if err != nil {
			var api *APIError
			if errors.As(err, &api) && api.Status == http.StatusBadRequest {
				// The request as a whole was refused (e.g. a value of the wrong JSON type): every record in it
				// fails with that reason; the run goes on.
				for _, i := range pending {
					results[i].Err = &RecordError{Errors: api.Errors}
				}
				return results, nil
			}
			return nil, fmt.Errorf("write %s: %w", c.o.Object, err)
		}
		items, err := decodeWriteResults(resp.body, len(pending))
		if err != nil {
			return nil, fmt.Errorf("write %s: decoding the answer: %w", c.o.Object, err)
		}
		if len(items) != len(pending) {
			return nil, fmt.Errorf("write %s: %d results for %d records", c.o.Object, len(items), len(pending))
		}
		var locked []int
		for k, it := range items { // results come in request order; a failed one may lack its id
			i := pending[k]
			if it.Success {
				results[i].Err = nil
				continue
			}
			re := &RecordError{}
			for _, e := range it.Errors {
				re.Errors = append(re.Errors, ErrorItem{Code: e.StatusCode, Message: clean(e.Message, c.allSecrets()), Fields: e.Fields})
			}
			results[i].Err = re
			if re.retryable() {
				locked = append(locked, i)
			}
		}
		if len(locked) == 0 || c.retry.Spent(round) {
			break
		}
		c.log.LogAttrs(ctx, slog.LevelInfo, "salesforce rows locked, retrying those records", slog.Int("records", len(locked)), attrAttempt(round))
		if err := c.o.Clock.Sleep(ctx, c.retry.Backoff(round)); err != nil {
			return nil, fmt.Errorf("write %s: %w", c.o.Object, err)
		}
		pending = locked
	}
	return results, nil
}

// collectionBody builds {"allOrNone":false,"records":[{"attributes":{"type":…},"id":…,<fields>}]}: nothing
// but the Update's own fields goes in (P4).
func (c *Client) collectionBody(updates []massupdate.Update, idx []int) ([]byte, error) {
	type attrs struct {
		Type string `json:"type"`
	}
	recs := make([]map[string]any, 0, len(idx))
	for _, i := range idx {
		u := updates[i]
		m := make(map[string]any, len(u.Fields)+2)
		for k, v := range u.Fields {
			m[k] = c.wireValue(k, v)
		}
		m["attributes"] = attrs{Type: c.o.Object}
		m["id"] = u.RecordID
		recs = append(recs, m)
	}
	b, err := json.Marshal(struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}{false, recs})
	if err != nil {
		return nil, fmt.Errorf("write %s: encoding the records: %w", c.o.Object, err)
	}
	return b, nil
}

// wireValue formats a time for the field's describe type (date or datetime); other values go as they are.
func (c *Client) wireValue(field string, v any) any {
	t, ok := v.(time.Time)
	if !ok {
		return v
	}
	c.mu.Lock()
	typ := c.types[strings.ToLower(field)]
	c.mu.Unlock()
	if typ == "date" {
		return t.Format("2006-01-02")
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// writeHeader honours the org's duplicate rules as the admin set them: a rule whose action is "Allow" (with
// an alert) lets an API update through only with allowSave; a "Block" rule still blocks, and the record
// fails with DUPLICATES_DETECTED. Without the header every company whose name matched an alerting rule
// would fail every night.
var writeHeader = http.Header{"Sforce-Duplicate-Rule-Header": {"allowSave=true"}}
