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
	obj := root
	var cur json.RawMessage
	for i, s := range segs {
		if i > 0 {
			if t := jsonType(cur); t != "an object" {
				return &ShapeError{Path: formatPath(segs[:i]), Want: "an object", Got: t}
			}
			obj = nil
			if json.Unmarshal(cur, &obj) != nil {
				return nil // syntax deep inside: the value reads as no value, as before
			}
		}
		v, ok := getFold(obj, s.key)
		if !ok || isNull(v) {
			return nil
		}
		for j, ix := range s.indexes {
			if t := jsonType(v); t != "a list" {
				at := append(append([]segment(nil), segs[:i]...), segment{key: s.key, indexes: s.indexes[:j]})
				return &ShapeError{Path: formatPath(at), Want: "a list", Got: t}
			}
			var arr []json.RawMessage
			if json.Unmarshal(v, &arr) != nil || ix >= len(arr) {
				return nil
			}
			if v = arr[ix]; isNull(v) {
				return nil
			}
		}
		cur = v
	}
	listed, ok := listedAt(segs)
	if !ok || looseText[strings.ToLower(listed.Name)] {
		return nil
	}
	got := jsonType(cur)
	var fits bool
	switch listed.Kind {
	case mapping.Text, mapping.Date:
		fits = got == "a string"
	case mapping.Number, mapping.Integer:
		fits = got == "a number" || got == "a string"
	case mapping.Boolean:
		fits = got == "true or false" || got == "a string" || got == "a number"
	default:
		fits = true
	}
	if fits {
		return nil
	}
	want := map[mapping.Kind]string{mapping.Text: "text (a JSON string)", mapping.Date: "a date (a JSON string)",
		mapping.Number: "a number", mapping.Integer: "a number", mapping.Boolean: "true or false"}[listed.Kind]
	return &ShapeError{Path: formatPath(segs), Want: want, Got: got}
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
