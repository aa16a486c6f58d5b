package salesforce

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
)

// Answers are decoded here, not by simpleforce: its generic decoding of a query page into maps took hundreds
// of times the body's size in memory and panicked on a null record. Each decoder walks the body with a
// json.Decoder, one element at a time, into typed values, and refuses what Salesforce never sends.

// maxPageRecords is the most records a query page holds (Sforce-Query-Options batchSize is 200 to 2000).
const maxPageRecords = 2000

// queryPage is one page of a query: the records turned into the engine's Records.
type queryPage struct {
	totalSize int64 // 0 when the answer gave none that reads as a count (totalKnown false)
	// totalKnown says totalSize was given as a whole number of records.
	totalKnown bool
	done       bool
	next       string
	records    []massupdate.Record
}

// pageLimit is the longest a query page can legitimately be: 2000 records of the selected fields, each
// value as long as describe says the field holds, every character escaped (\uXXXX, six bytes), with room
// for the attributes and names. Generous on purpose: a page refused is a failed run.
func (c *Client) pageLimit() int64 {
	c.mu.Lock()
	described := c.described
	c.mu.Unlock()
	byLower := make(map[string]mapping.Field, len(c.soqlFields))
	for name, f := range described {
		byLower[strings.ToLower(name)] = f
	}
	perRecord := int64(512) // {"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/001…"}}
	if c.orgPath.Relationship != "" || c.countryPath.Relationship != "" {
		perRecord += 2 * 512 // a parent's nested record and its attributes, for each relationship read
	}
	for _, name := range c.soqlFields {
		perRecord += 2*int64(len(name)) + 16
		f, ok := byLower[strings.ToLower(name)]
		switch {
		case !ok:
			perRecord += 6*255 + 2 // not described (yet): as long as a default text field
		case f.Type == "id" || f.Type == "reference":
			perRecord += 6*18 + 2
		case f.Type == "boolean" || f.Type == "int" || f.Type == "double" || f.Type == "currency" || f.Type == "percent" ||
			f.Type == "date" || f.Type == "datetime" || f.Type == "time":
			perRecord += 64
		case f.Length > 0:
			perRecord += 6*int64(f.Length) + 2
		default:
			perRecord += 6*255 + 2
		}
	}
	return min(maxPageRecords*perRecord+64<<10, limitAnswer)
}

// decodePage reads a query answer: {"totalSize","done","nextRecordsUrl"?,"records":[…]}. A record that is
// not an object, lacks its attributes or has an Id that is not a string fails the whole page: handing on
// the records around it would skip one without a trace.
func (c *Client) decodePage(body []byte) (*queryPage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	p := &queryPage{}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return nil, err
		}
		switch key {
		case "totalSize":
			// Only the counts report it; a read goes by done and nextRecordsUrl. A value that is not a whole
			// number of records is noted as unknown, never a reason to refuse the page's records.
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("totalSize: %w", err)
			}
			p.totalSize, p.totalKnown = wholeCount(raw)
		case "done":
			if err := dec.Decode(&p.done); err != nil {
				return nil, fmt.Errorf("done: %w", err)
			}
		case "nextRecordsUrl":
			var next *string
			if err := dec.Decode(&next); err != nil {
				return nil, fmt.Errorf("nextRecordsUrl: %w", err)
			}
			if next != nil {
				p.next = *next
			}
		case "records":
			if p.records, err = c.decodeRecords(dec); err != nil {
				return nil, err
			}
		default:
			if err := skipValue(dec); err != nil {
				return nil, err
			}
		}
	}
	if err := endOfAnswer(dec); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *Client) decodeRecords(dec *json.Decoder) ([]massupdate.Record, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("records is %s, not an array", tokenKind(tok))
	}
	var recs []massupdate.Record
	for i := 0; dec.More(); i++ {
		if i == maxPageRecords {
			return nil, fmt.Errorf("more than the %d records a page holds", maxPageRecords)
		}
		rec, err := c.record(dec)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		recs = append(recs, rec)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, fmt.Errorf("records: %w", err)
	}
	return recs, nil
}

// record reads one queried record from dec and turns it into the engine's Record. Salesforce answers with
// its own spelling of each name; Values use the names as configured. A selected field's value is a JSON
// scalar or null; a parent's fields (Account.Org_Number__c) come nested under the relationship's name; a
// field not selected is passed over without being copied.
func (c *Client) record(dec *json.Decoder) (massupdate.Record, error) {
	tok, err := dec.Token()
	if err != nil {
		return massupdate.Record{}, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return massupdate.Record{}, fmt.Errorf("it is %s, not an object", tokenKind(tok))
	}
	rec := massupdate.Record{Values: make(map[string]any, len(c.valueKeys))}
	var seen recordSeen
	for dec.More() {
		k, err := objectKey(dec)
		if err != nil {
			return massupdate.Record{}, err
		}
		if err := c.recordKey(dec, k, &rec, &seen); err != nil {
			return massupdate.Record{}, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing }
		return massupdate.Record{}, err
	}
	switch {
	case !seen.attrs:
		return massupdate.Record{}, errors.New("it has no attributes object")
	case !seen.id:
		return massupdate.Record{}, errors.New("it has no Id")
	}
	for _, name := range c.valueKeys {
		if _, ok := rec.Values[name]; !ok {
			rec.Values[name] = nil
		}
	}
	return rec, nil
}

// recordSeen is what a record must have had once all its keys are read.
type recordSeen struct{ id, attrs bool }

// recordKey reads the value of one key of a record into rec.
func (c *Client) recordKey(dec *json.Decoder, k string, rec *massupdate.Record, seen *recordSeen) error {
	if k == "attributes" {
		var a kindOnly
		if err := dec.Decode(&a); err != nil {
			return fmt.Errorf("attributes: %w", err)
		}
		seen.attrs = a.kind == "an object"
		return nil
	}
	if c.isRelationship(k) {
		return c.parentFields(dec, k, rec)
	}
	isID := strings.EqualFold(k, "Id")
	name, isValue := c.valueKeys[lower(k)]
	isOrg := c.orgPath.Relationship == "" && strings.EqualFold(k, c.orgPath.Field)
	isCountry := c.countryPath.Relationship == "" && c.countryPath.Field != "" && strings.EqualFold(k, c.countryPath.Field)
	if !isID && !isValue && !isOrg && !isCountry {
		if err := dec.Decode(&kindOnly{}); err != nil { // not selected: nothing reads it
			return fmt.Errorf("field %s: %w", k, err)
		}
		return nil
	}
	v, err := decodeScalar(dec, k)
	if err != nil {
		return err
	}
	if isID {
		id, ok := v.v.(string)
		if !ok {
			return fmt.Errorf("its Id is %s, not a string", v.kind)
		}
		rec.ID, seen.id = id, true
	}
	if isOrg {
		rec.OrgNumber = text(v.v)
	}
	if isCountry {
		rec.Country = text(v.v)
	}
	if isValue {
		rec.Values[name] = v.v
	}
	return nil
}

func decodeScalar(dec *json.Decoder, k string) (scalar, error) {
	var v scalar
	if err := dec.Decode(&v); err != nil {
		return v, fmt.Errorf("field %s: %w", k, err)
	}
	if v.kind == "an object" || v.kind == "an array" {
		return v, fmt.Errorf("its field %s is %s, not a value", k, v.kind)
	}
	return v, nil
}

// isRelationship says k is the relationship the org number or the country is read through.
func (c *Client) isRelationship(k string) bool {
	return c.orgPath.Relationship != "" && strings.EqualFold(k, c.orgPath.Relationship) ||
		c.countryPath.Relationship != "" && strings.EqualFold(k, c.countryPath.Relationship)
}

// parentFields reads a relationship's nested record, {"attributes":{…},"Org_Number__c":"…"} or null (the
// lookup is empty: no org number, the record is skipped as one without).
func (c *Client) parentFields(dec *json.Decoder, rel string, rec *massupdate.Record) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("relationship %s: %w", rel, err)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("its relationship %s is %s, not an object or null", rel, tokenKind(tok))
	}
	for dec.More() {
		k, err := objectKey(dec)
		if err != nil {
			return err
		}
		isOrg := strings.EqualFold(rel, c.orgPath.Relationship) && strings.EqualFold(k, c.orgPath.Field)
		isCountry := strings.EqualFold(rel, c.countryPath.Relationship) && strings.EqualFold(k, c.countryPath.Field)
		if !isOrg && !isCountry {
			if err := dec.Decode(&kindOnly{}); err != nil {
				return fmt.Errorf("field %s.%s: %w", rel, k, err)
			}
			continue
		}
		v, err := decodeScalar(dec, rel+"."+k)
		if err != nil {
			return err
		}
		if isOrg {
			rec.OrgNumber = text(v.v)
		}
		if isCountry {
			rec.Country = text(v.v)
		}
	}
	_, err = dec.Token() // the closing }
	return err
}

// kindOnly takes a JSON value without keeping it: the decoder hands UnmarshalJSON a view of its buffer, so
// a value nothing reads is checked but never copied or turned into maps.
type kindOnly struct{ kind string }

func (k *kindOnly) UnmarshalJSON(b []byte) error { k.kind = rawKind(b); return nil }

// scalar is a selected field's value: decoded as encoding/json decodes into any (a number is a float64),
// but only when it is a scalar, so that a hostile object or array is refused before it is built.
type scalar struct {
	kind string
	v    any
}

func (s *scalar) UnmarshalJSON(b []byte) error {
	s.kind = rawKind(b)
	if s.kind == "an object" || s.kind == "an array" {
		return nil
	}
	return json.Unmarshal(b, &s.v)
}

// Bounds on describe's numbers. Salesforce's own limits are far below them (a long text area holds 131,072
// characters; a number has at most 18 digits, of which at most 17 after the point); an answer beyond them is
// not Salesforce's, and a scale of 1e9 would make the mapping format numbers with a billion decimals.
const (
	maxFieldLength = 1 << 20
	maxDigits      = 36
	maxScale       = 18
	maxFields      = 10000
	maxPicklist    = 10000
)

// describedField is one element of describe's fields array as far as the adapter reads it.
type describedField struct {
	mapping.Field
	// Digits is how many digits an int field holds. Salesforce reports it here and leaves precision at 0
	// for ints (precision and scale are for double, currency and percent).
	Digits         int `json:"digits"`
	PicklistValues []struct {
		Active bool   `json:"active"`
		Value  string `json:"value"`
	} `json:"picklistValues"`
	// A lookup names the object it refers to and the relationship SOQL reaches that object's fields by.
	ReferenceTo      []string `json:"referenceTo"`
	RelationshipName *string  `json:"relationshipName"`
}

// describeAnswer is describe's answer as the adapter reads it: the fields, and the lookups by lower-case
// relationship name → the objects they refer to (more than one for a polymorphic lookup).
type describeAnswer struct {
	fields []mapping.Field
	parent map[string][]string
}

// decodeDescribe reads describe's fields, one at a time, and checks their numbers; it returns them and the
// lookups by relationship name.
func decodeDescribe(body []byte) ([]mapping.Field, map[string][]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var out []mapping.Field
	parents := map[string][]string{}
	seenFields := false
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return nil, nil, err
		}
		if key != "fields" {
			if err := skipValue(dec); err != nil {
				return nil, nil, err
			}
			continue
		}
		seenFields = true
		if err := expectDelim(dec, '['); err != nil {
			return nil, nil, fmt.Errorf("fields: %w", err)
		}
		for dec.More() {
			if len(out) == maxFields {
				return nil, nil, fmt.Errorf("more than %d fields", maxFields)
			}
			var f describedField
			if err := dec.Decode(&f); err != nil {
				return nil, nil, fmt.Errorf("field %d: %w", len(out)+1, err)
			}
			mf, err := checkDescribed(f)
			if err != nil {
				return nil, nil, fmt.Errorf("field %d (%q): %w", len(out)+1, f.Name, err)
			}
			out = append(out, mf)
			if f.RelationshipName != nil && *f.RelationshipName != "" {
				parents[strings.ToLower(*f.RelationshipName)] = f.ReferenceTo
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, nil, fmt.Errorf("fields: %w", err)
		}
	}
	if err := endOfAnswer(dec); err != nil {
		return nil, nil, err
	}
	if !seenFields {
		return nil, nil, errors.New("the answer has no fields")
	}
	return out, parents, nil
}

func checkDescribed(f describedField) (mapping.Field, error) {
	if f.Name == "" {
		return mapping.Field{}, errors.New("no name")
	}
	for _, n := range []struct {
		what     string
		v, limit int
	}{{"length", f.Length, maxFieldLength}, {"precision", f.Precision, maxDigits}, {"scale", f.Scale, maxScale}, {"digits", f.Digits, maxDigits}} {
		if n.v < 0 || n.v > n.limit {
			return mapping.Field{}, fmt.Errorf("%s %d is out of range (0 to %d)", n.what, n.v, n.limit)
		}
	}
	if len(f.PicklistValues) > maxPicklist {
		return mapping.Field{}, fmt.Errorf("%d picklist values, more than %d", len(f.PicklistValues), maxPicklist)
	}
	mf := f.Field
	if mf.Type == "int" && mf.Precision == 0 {
		mf.Precision = f.Digits // mapping.Field keeps an int's digits in Precision
	}
	mf.PicklistValues = nil
	for _, p := range f.PicklistValues {
		if p.Active {
			mf.PicklistValues = append(mf.PicklistValues, p.Value)
		}
	}
	return mf, nil
}

// writeItem is one element of a collection write's answer.
type writeItem struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
	Errors  []struct {
		StatusCode string   `json:"statusCode"`
		Message    string   `json:"message"`
		Fields     []string `json:"fields"`
	} `json:"errors"`
}

// decodeWriteResults reads a collection write's answer: an array with one element per record sent. More
// elements than records is refused as soon as it shows, before they are decoded.
func decodeWriteResults(body []byte, sent int) ([]writeItem, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	items := make([]writeItem, 0, sent)
	for dec.More() {
		if len(items) == sent {
			return nil, fmt.Errorf("more results than the %d records sent", sent)
		}
		var it writeItem
		if err := dec.Decode(&it); err != nil {
			return nil, fmt.Errorf("result %d: %w", len(items)+1, err)
		}
		items = append(items, it)
	}
	if err := endOfAnswer(dec); err != nil {
		return nil, err
	}
	return items, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("the answer is %s, not %s", tokenKind(tok), map[json.Delim]string{'{': "an object", '[': "an array"}[want])
	}
	return nil
}

func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("unexpected %v", tok)
	}
	return key, nil
}

// skipValue passes over a value nothing reads. It is copied once, for the moment it takes.
func skipValue(dec *json.Decoder) error {
	var skip json.RawMessage
	return dec.Decode(&skip)
}

// endOfAnswer reads the closing delimiter and makes sure nothing follows it.
func endOfAnswer(dec *json.Decoder) error {
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the end of the answer")
	}
	return nil
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", tok)
}

func rawKind(raw []byte) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "empty"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// wholeCount reads a count written as a JSON number: 3 or 3.0; false for anything else (a fraction, a
// negative, a value beyond int64, a string, null).
func wholeCount(raw json.RawMessage) (int64, bool) {
	if rawKind(raw) != "a number" {
		return 0, false
	}
	n := json.Number(bytes.TrimSpace(raw))
	if i, err := n.Int64(); err == nil {
		return max(i, 0), i >= 0
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f != math.Trunc(f) || f > math.MaxInt64/2 {
		return 0, false
	}
	return int64(f), true
}
