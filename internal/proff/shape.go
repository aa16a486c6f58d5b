package proff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/proffconnect/proffsync/internal/mapping"
)

// ShapeError says that a register document does not have the shape the catalogue gives a mapped point: a
// number where a listed text point is ({"name":42}), a string where an object or a list is on the path. The
// record fails with it and nothing is written. It matches ErrMalformed with errors.Is.
type ShapeError struct {
	Path string // where the shape differs, canonical spelling
	Want string // "text", "a number", "an object", …
	Got  string // the JSON type found: "a number", "a string", …
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("Proff sent a document of the wrong shape: %s is %s, not %s", e.Path, e.Got, e.Want)
}

// Is makes a ShapeError an ErrWrongShape and an ErrMalformed: the answer is not a register document as
// Proff defines it.
func (e *ShapeError) Is(target error) bool { return target == ErrMalformed || target == ErrWrongShape }

// ErrWrongShape is the sentinel of a *ShapeError, for errors.Is without errors.As.
var ErrWrongShape = errors.New("Proff sent a document of the wrong shape")

// looseText are the listed text points that real answers also send as JSON numbers (numbers as strings is a
// quirk of the numeric points; these are numbers written as numbers), or raw (creditRating).
var looseText = map[string]bool{
	"numberofemployees": true, "estimatedturnover": true, "sectorcode": true, "companyid": true,
	"organisationnumber": true, "corporatestructure.parentcompanyorganisationnumber": true, "creditrating": true,
}

// jsonType names the JSON type of a raw value as a reason says it.
func jsonType(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "a number"
}

// checkShape walks a point's path and refuses a value on the way that cannot hold what the path needs, and
// a listed point's value of a JSON type its kind never comes as. Absent and null values are no value, never a
// wrong shape. Paths the catalogue does not list are checked on the way only: their value arrives as text,
// whatever it is.
func checkShape(root map[string]json.RawMessage, p DataPoint) error {
	name := strings.ToLower(p.Name)
	switch {
	case strings.HasPrefix(name, pointAccounts):
		if raw, ok := getFold(root, "annualAccounts"); ok && !isNull(raw) && jsonType(raw) != "a list" {
			return &ShapeError{Path: "annualAccounts", Want: "a list", Got: jsonType(raw)}
		}
		return nil
	case name == pointNaceCode || name == pointNaceText || name == strings.ToLower(pointEmployees) || name == strings.ToLower(pointYears):
		return nil
	}
	segs, err := parsePath(p.Name)
	if err != nil {
		return nil
	}
	if _, derived := naceSplit(segs); derived {
		return nil // naceCategories[i].code and .text split a string; a value that is none has none
	}
	cur, err := walkShape(root, segs)
	if cur == nil || err != nil {
		return err
	}
	listed, ok := listedAt(segs)
	if !ok || looseText[strings.ToLower(listed.Name)] {
		return nil
	}
	got := jsonType(cur)
	if kindFits(listed.Kind, got) {
		return nil
	}
	want := map[mapping.Kind]string{mapping.Text: "text (a JSON string)", mapping.Date: "a date (a JSON string)",
		mapping.Number: "a number", mapping.Integer: "a number", mapping.Boolean: "true or false"}[listed.Kind]
	return &ShapeError{Path: formatPath(segs), Want: want, Got: got}
}

// walkShape follows segs from root and returns the value at their end, or nil when a value on the way is
// absent or null (no value, never a wrong shape), or a ShapeError where a value on the way is not the
// object or list the path needs.
func walkShape(root map[string]json.RawMessage, segs []segment) (json.RawMessage, error) {
	obj := root
	var cur json.RawMessage
	for i, s := range segs {
		if i > 0 {
			if t := jsonType(cur); t != "an object" {
				return nil, &ShapeError{Path: formatPath(segs[:i]), Want: "an object", Got: t}
			}
			obj = nil
			if json.Unmarshal(cur, &obj) != nil {
				return nil, nil // syntax deep inside: the value reads as no value, as before
			}
		}
		v, ok := getFold(obj, s.key)
		if !ok || isNull(v) {
			return nil, nil
		}
		v, err := walkIndexes(v, segs[:i], s)
		if v == nil || err != nil {
			return nil, err
		}
		cur = v
	}
	return cur, nil
}

// walkIndexes follows a segment's list indexes ([0][1]) from its key's value v; before are the segments
// up to it, for the path a ShapeError names.
func walkIndexes(v json.RawMessage, before []segment, s segment) (json.RawMessage, error) {
	for j, ix := range s.indexes {
		if t := jsonType(v); t != "a list" {
			at := append(append([]segment(nil), before...), segment{key: s.key, indexes: s.indexes[:j]})
			return nil, &ShapeError{Path: formatPath(at), Want: "a list", Got: t}
		}
		var arr []json.RawMessage
		if json.Unmarshal(v, &arr) != nil || ix >= len(arr) {
			return nil, nil
		}
		if v = arr[ix]; isNull(v) {
			return nil, nil
		}
	}
	return v, nil
}

// kindFits reports whether a JSON type can carry a listed point's kind: text and dates come as strings;
// numbers also as strings (a quirk of real answers), booleans also as strings and 0/1.
func kindFits(k mapping.Kind, got string) bool {
	switch k {
	case mapping.Text, mapping.Date:
		return got == "a string"
	case mapping.Number, mapping.Integer:
		return got == "a number" || got == "a string"
	case mapping.Boolean:
		return got == "true or false" || got == "a string" || got == "a number"
	}
	return true
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
