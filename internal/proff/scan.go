package proff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// splitObject splits a JSON object into its members without decoding them: the values are sub-slices of
// doc (no copy), found by a single pass that skips what it does not need to understand.
//
// Why not json.Unmarshal into map[string]json.RawMessage: that validates the whole document and then
// copies every member, two full passes over 40–440 KB for the handful of values a mapping needs; at
// thousands of lookups a second it was most of proffsync's CPU. The members a mapping reads are decoded
// (and so validated) by encoding/json afterwards; a truncated document is always caught here, as are
// syntax errors at the top level. Syntax errors deep inside members nobody reads go unnoticed, which is
// harmless: nothing of them is used.
func splitObject(doc []byte) (map[string]json.RawMessage, error) {
	i := skipWS(doc, 0)
	if i == len(doc) {
		return nil, errors.New("unexpected end of JSON input")
	}
	if bytes.HasPrefix(doc[i:], []byte("null")) && skipWS(doc, i+4) == len(doc) {
		return nil, nil
	}
	if doc[i] != '{' {
		return nil, fmt.Errorf("the answer is not a JSON object (byte %d)", i)
	}
	m := make(map[string]json.RawMessage, 80)
	i = skipWS(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return m, trailing(doc, i+1)
	}
	for {
		if i >= len(doc) {
			return nil, errors.New("unexpected end of JSON input")
		}
		if doc[i] != '"' {
			return nil, fmt.Errorf("invalid character %q looking for a key at byte %d", doc[i], i)
		}
		end, err := skipString(doc, i)
		if err != nil {
			return nil, err
		}
		key, err := decodeKey(doc[i:end])
		if err != nil {
			return nil, fmt.Errorf("%v at byte %d", err, i)
		}
		i = skipWS(doc, end)
		if i >= len(doc) {
			return nil, errors.New("unexpected end of JSON input")
		}
		if doc[i] != ':' {
			return nil, fmt.Errorf("invalid character %q after a key at byte %d", doc[i], i)
		}
		i = skipWS(doc, i+1)
		start := i
		if i, err = skipValue(doc, i); err != nil {
			return nil, err
		}
		m[key] = doc[start:i:i]
		i = skipWS(doc, i)
		if i >= len(doc) {
			return nil, errors.New("unexpected end of JSON input")
		}
		switch doc[i] {
		case ',':
			i = skipWS(doc, i+1)
		case '}':
			return m, trailing(doc, i+1)
		default:
			return nil, fmt.Errorf("invalid character %q after a value at byte %d", doc[i], i)
		}
	}
}

func trailing(doc []byte, i int) error {
	if j := skipWS(doc, i); j != len(doc) {
		return fmt.Errorf("invalid character %q after the top-level value at byte %d", doc[j], j)
	}
	return nil
}

func decodeKey(quoted []byte) (string, error) {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var k string
	err := json.Unmarshal(quoted, &k)
	return k, err
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index just after the string that starts (with its quote) at i.
func skipString(b []byte, i int) (int, error) {
	j := i + 1
	for {
		// IndexByte is vectorised; escapes are rare, so look for the quote and count the backslashes
		// before it only when one is found.
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, errors.New("unexpected end of JSON input")
		}
		j += k
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, nil
		}
		j++ // an escaped quote
	}
}

// skipValue returns the index just after the value that starts at i.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("unexpected end of JSON input")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errors.New("unexpected end of JSON input")
	default:
		// A number, true, false or null: up to the next delimiter.
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\r' && b[j] != '\t' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("invalid character %q looking for a value at byte %d", b[i], i)
		}
		if j == len(b) {
			return 0, errors.New("unexpected end of JSON input")
		}
		return j, nil
	}
}
