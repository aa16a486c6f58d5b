package proff

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/safetext"
)

// ErrWrongCompany is matched (errors.Is) by an *IdentityError.
var ErrWrongCompany = errors.New("Proff answered with another company's document")

// IdentityError says that the register document Proff answered is not the company looked up: its
// organisationNumber, normalised for the country, differs. A misrouted cache or proxy would otherwise write a
// stranger's data into the record; the record fails with this reason and nothing is written.
type IdentityError struct {
	Country orgnr.Country
	Asked   string // the canonical number looked up
	Got     string // the document's number, canonical when it reads as one, else as sent (escaped)
}

func (e *IdentityError) Error() string {
	return fmt.Sprintf("Proff answered with the document of organisation number %s, not %s: nothing written",
		e.Got, orgnr.Display(e.Country, e.Asked))
}

// Is makes an IdentityError match ErrWrongCompany.
func (e *IdentityError) Is(target error) bool { return target == ErrWrongCompany }

// checkIdentity compares the document's organisationNumber with the number looked up, both normalised for
// the country (SE and FI documents write theirs hyphenated: 556999-0004, 3123456-3).
//
// A document without organisationNumber (absent, null or blank) is accepted: every real answer carries it,
// so its absence says nothing about whose document it is, and refusing would turn a renamed or dropped field
// into a failed run for every record. What this guards against is a document that names another company,
// which a misrouted answer always does.
func checkIdentity(root map[string]json.RawMessage, cc orgnr.Country, asked string) error {
	raw, ok := getFold(root, "organisationNumber")
	if !ok || !hasValue(raw) {
		return nil
	}
	var s string
	switch jsonType(raw) {
	case "a string":
		if json.Unmarshal(raw, &s) != nil {
			return &ShapeError{Path: "organisationNumber", Want: "text", Got: "an unreadable string"}
		}
	case "a number":
		// Numbers-as-numbers would lose an FI or DK leading zero; read the digits as written.
		s = strings.TrimSpace(string(raw))
	default:
		return &ShapeError{Path: "organisationNumber", Want: "text (a JSON string)", Got: jsonType(raw)}
	}
	got, err := orgnr.Normalize(cc, s)
	if err == nil && got == asked {
		return nil
	}
	shown := safetext.Escape(strings.TrimSpace(s))
	if err == nil {
		shown = orgnr.Display(cc, got)
	}
	if r := []rune(shown); len(r) > 40 {
		shown = string(r[:40]) + "…"
	}
	return &IdentityError{Country: cc, Asked: asked, Got: shown}
}

// extractLookedUp decodes a looked-up document once: it checks that it is the company asked for, extracts the
// points, and drops what is not defined for the company's country.
func extractLookedUp(body []byte, cc orgnr.Country, asked string, points []DataPoint, now time.Time) (map[string]any, error) {
	root, err := decodeRoot(body)
	if err != nil {
		return nil, err
	}
	if err := checkIdentity(root, cc, asked); err != nil {
		return nil, err
	}
	vals, err := extractRoot(root, points, now)
	if err != nil {
		return nil, err
	}
	forCountry(vals, cc)
	return vals, nil
}

// danishOnly are the points whose value is defined for Danish companies only: elsewhere Proff sends false
// for "not applicable", which would read as "no protection" and be written as such.
var danishOnly = []string{"marketingProtection"}

// forCountry removes the values a country's documents carry without meaning.
func forCountry(vals map[string]any, cc orgnr.Country) {
	if cc == orgnr.DK {
		return
	}
	for name := range vals {
		for _, d := range danishOnly {
			if strings.EqualFold(name, d) {
				delete(vals, name)
			}
		}
	}
}
