package mapping

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Format is how a rule reshapes a text value before it is converted (`format:` on a mapping entry).
type Format string

const (
	// AsSent writes the value as Proff sends it (the default).
	AsSent Format = ""
	// Title turns an all-capitals register name into the way people write it: "OSEBERG SOLUTIONS AS" →
	// "Oseberg Solutions AS". Registers write names in capitals; an Account list in capitals looks broken.
	Title Format = "title"
)

// ErrFormat is wrapped by ParseFormat for a format proffsync does not know.
var ErrFormat = errors.New("unknown format")

// ParseFormat reads the `format:` of a mapping entry (case-insensitive; blank is AsSent).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return AsSent, nil
	case string(Title):
		return Title, nil
	}
	return AsSent, fmt.Errorf("%w %q: the formats are %q", ErrFormat, s, Title)
}

// ApplyFormat returns v reshaped by f. Only text is reshaped: any other value comes back as it is (Check
// refuses a format on a point that is not text, so this is a guard, not a rule).
func ApplyFormat(v any, f Format) any {
	if f != Title {
		return v
	}
	if s, ok := v.(string); ok {
		return TitleCase(s)
	}
	return v
}

// ConvertRule is Convert for one rule: the rule's format first, then the conversion to the field. The engine
// calls it where it called Convert, so that a format applies to the value compared and written.
func ConvertRule(v any, r Rule, k Kind, f Field) (any, error) {
	return Convert(ApplyFormat(v, r.Format), k, f)
}

// legalForms are the company-form abbreviations of the four countries' registers, written as each register
// writes them, keyed by their upper-case spelling. A name keeps them as written: "AS" must not become "As".
var legalForms = func() map[string]string {
	m := map[string]string{}
	for _, f := range []string{
		// Norway
		"AS", "ASA", "ANS", "DA", "ENK", "NUF", "SA", "BA", "KS", "IKS", "KF", "SF", "BBL", "BRL", "FLI", "STI",
		"ESEK", "KBO",
		// Sweden
		"AB", "HB", "KB", "EF", "BRF", "SB", "(PUBL)",
		// Denmark
		"APS", "A/S", "IVS", "P/S", "K/S", "I/S", "AMBA", "A.M.B.A.", "FMBA", "F.M.B.A.", "SMBA", "S.M.B.A.",
		// Finland
		"OY", "OYJ", "KY", "TMI", "AY", "OSK", "AB/OY",
	} {
		m[f] = f
	}
	// Mixed-case spellings the registers use.
	for _, f := range []string{"ApS", "Oy", "Oyj", "Ky", "Tmi", "Ay", "Osk", "amba", "a.m.b.a.", "fmba", "smba", "(publ)", "Ab/Oy"} {
		m[strings.ToUpper(f)] = f
	}
	return m
}()

// leadingForms are the legal forms that also begin names ("AB Volvo", "AS Vinmonopolet", "A/S Storm",
// "Oy Karl Fazer Ab") and are never a word of their own there. The others (DA, SA, BA, …) are only kept at
// the end or inside a name: as a first word they are more often a name ("Da Vinci Bygg AS").
var leadingForms = map[string]bool{"AB": true, "AS": true, "ASA": true, "A/S": true, "I/S": true, "K/S": true,
	"P/S": true, "OY": true, "OYJ": true, "APS": true}

// joinWords stay lower case inside a name ("Hansen og Sønn AS"), as people write them; first word excepted.
var joinWords = map[string]bool{"OG": true, "AND": true, "OCH": true, "JA": true, "UND": true, "OF": true}

// TitleCase capitalises an all-capitals register name word by word: "OSEBERG SOLUTIONS AS" → "Oseberg
// Solutions AS". Legal-form suffixes keep the register's spelling (AS, ASA, AB, AB (publ), ApS, A/S, Oy, Oyj,
// …), "OG"/"AND"/"OCH" become lower case, "&" stays, hyphenated parts are capitalised each ("NORD-TRØNDELAG"
// → "Nord-Trøndelag"), Nordic letters are handled as letters, and a word with digits keeps its letters in
// capitals ("3D", "A2B"), as such words are usually codes. A name that is not all capitals (it has a lower-case
// letter) is returned unchanged: someone wrote it that way on purpose.
func TitleCase(s string) string {
	if !allCapitals(s) {
		return s
	}
	words := strings.Fields(s)
	if len(words) == 0 {
		return s
	}
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = titleWord(w, i == 0)
	}
	// Keep the value's surrounding and inner spacing only as far as a name needs it: single spaces. Equality
	// trims, and a register name has no meaningful double spaces.
	return strings.Join(out, " ")
}

// allCapitals: at least one letter, and no lower-case letter.
func allCapitals(s string) bool {
	letter := false
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsLetter(r) {
			letter = true
		}
	}
	return letter
}

func titleWord(w string, first bool) string {
	if f, ok := legalForms[w]; ok && (!first || leadingForms[w]) {
		return f
	}
	if joinWords[w] && !first {
		return strings.ToLower(w)
	}
	if strings.ContainsAny(w, "0123456789") {
		return w
	}
	// Hyphenated and slashed compounds: each part on its own ("NORD-TRØNDELAG", "A/S" handled above).
	var b strings.Builder
	start := true
	for len(w) > 0 {
		r, size := utf8.DecodeRuneInString(w)
		w = w[size:]
		switch {
		case unicode.IsLetter(r):
			if start {
				b.WriteRune(unicode.ToUpper(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			start = false
		case r == '\'' || r == '’':
			// "O'BRIEN" → "O'Brien", but "KIRSTEN'S" → "Kirsten's".
			b.WriteRune(r)
			start = len(w) > 1
		default:
			b.WriteRune(r)
			start = true
		}
	}
	return b.String()
}

// ErrKind is wrapped by ParseKind for a type proffsync does not know.
var ErrKind = errors.New("unknown type")

// ParseKind reads a mapping entry's `type:` hint: text, number, integer, date or boolean (case-insensitive).
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(strings.TrimSpace(s))); k {
	case Text, Number, Integer, Date, Boolean:
		return k, nil
	}
	return "", fmt.Errorf("%w %q: the types are text, number, integer, date and boolean", ErrKind, s)
}
