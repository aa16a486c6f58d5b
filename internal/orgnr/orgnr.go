// Package orgnr reads and validates the organisation numbers of Norway, Sweden, Denmark and Finland, and
// the country values CRM users type, so that a number that is missing or fails its check never costs a
// Proff call.
//
// Nothing here does I/O or logs: an error's message is a human reason fit for a record's outcome, and it
// never repeats the input (the caller decides whether the number may be shown).
package orgnr

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Country is one of the four countries Proff covers, as its ISO 3166-1 alpha-2 code.
type Country string

const (
	NO Country = "NO"
	SE Country = "SE"
	DK Country = "DK"
	FI Country = "FI"
)

// Countries lists the supported countries.
var Countries = []Country{NO, SE, DK, FI}

// ErrMissing is returned by Normalize for a number that is empty or holds no digit at all: the record ends
// missing_org_number rather than invalid_org_number.
var ErrMissing = errors.New("no organisation number")

// ErrInvalid wraps every other Normalize failure (invalid_org_number); the message says why.
var ErrInvalid = errors.New("invalid organisation number")

var countryNames = map[string]Country{
	"no": NO, "nor": NO, "norway": NO, "norge": NO, "noreg": NO,
	"se": SE, "swe": SE, "sweden": SE, "sverige": SE,
	"dk": DK, "dnk": DK, "denmark": DK, "danmark": DK,
	"fi": FI, "fin": FI, "finland": FI, "suomi": FI,
}

// ParseCountry reads an ISO code (alpha-2 or alpha-3) in any case, or the English or native name of the
// country (Norway/Norge/Noreg, Sweden/Sverige, Denmark/Danmark, Finland/Suomi), ignoring surrounding space.
func ParseCountry(s string) (Country, bool) {
	c, ok := countryNames[strings.ToLower(strings.TrimSpace(s))]
	return c, ok
}

// Valid reports whether c is one of the four supported countries.
func (c Country) Valid() bool {
	switch c {
	case NO, SE, DK, FI:
		return true
	}
	return false
}

// adjective names the country's numbers in reasons.
func (c Country) adjective() string {
	switch c {
	case NO:
		return "Norwegian"
	case SE:
		return "Swedish"
	case DK:
		return "Danish"
	case FI:
		return "Finnish"
	}
	return string(c)
}

// length is the number of digits of a canonical number.
func (c Country) length() int {
	switch c {
	case NO:
		return 9
	case SE:
		return 10
	case DK, FI:
		return 8
	}
	return 0
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
}

// Normalize returns the canonical form of raw for country c: digits only (FI as its 8 digits without the
// hyphen), check digit verified. It accepts what people type into CRMs: spaces, dots, hyphens, a leading
// country prefix (NO, SE, DK or FI; it must name c), a trailing MVA, and for Sweden the 12-digit forms
// "16NNNNNNNNNN" and VAT "SE NNNNNNNNNN 01". Failures wrap ErrMissing or ErrInvalid with a human reason.
func Normalize(c Country, raw string) (string, error) {
	if !c.Valid() {
		return "", invalid("country %q is not one of NO, SE, DK, FI", string(c))
	}
	s := clean(raw)
	if s == "" {
		return "", fmt.Errorf("%w: the organisation number is blank", ErrMissing)
	}
	s, hadPrefix, err := stripAffixes(c, s)
	if err != nil {
		return "", err
	}
	d, hyphenAt, err := digitsOf(s)
	if err != nil {
		return "", err
	}
	if d == "" {
		if hadPrefix {
			return "", invalid("it holds a country prefix but no digits")
		}
		return "", fmt.Errorf("%w: the organisation number holds no digits", ErrMissing)
	}
	d = longForms(c, d, hadPrefix, hyphenAt)
	if len(d) != c.length() {
		return "", invalid("has %d %s, a %s organisation number has %d", len(d), plural(len(d), "digit"),
			c.adjective(), c.length())
	}
	if err := c.check(d); err != nil {
		return "", err
	}
	return d, nil
}

// clean drops the invisible format characters (zero-width space, soft hyphen, BOM, word joiner) that come
// along when a number is copied from a web page or a document, and upper-cases the rest.
func clean(raw string) string {
	return strings.ToUpper(strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, raw)))
}

// stripAffixes removes a leading label, as numbers are written on letterheads and in signatures ("Org.nr.
// 923 609 016", "CVR-nr. 24256790", "Y-tunnus 0112038-9": it holds no digit, and the rest must still pass
// its check), a leading country prefix (the VAT forms NO…MVA, SE…01, DK…, FI…), which must name c, and a
// trailing MVA.
func stripAffixes(c Country, s string) (string, bool, error) {
	s = label.ReplaceAllString(s, "")
	hadPrefix := false
	if len(s) >= 2 {
		if p, ok := ParseCountry(s[:2]); ok && (len(s) == 2 || !isLetter(s[2])) {
			if p != c {
				return "", false, invalid("it starts with the country prefix %s, but the record's country is %s", p, c)
			}
			s, hadPrefix = s[2:], true
		}
	}
	s = strings.TrimSpace(s)
	if t, ok := strings.CutSuffix(s, "MVA"); ok {
		s = t
	}
	return s, hadPrefix, nil
}

// digitsOf keeps the digits of s, passing over the separators people type; hyphenAt is the number of digits
// before the last hyphen (-1 without one), to read the old FI form NNNNNN-N.
func digitsOf(s string) (string, int, error) {
	var digits strings.Builder
	hyphenAt := -1
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteByte(byte(r))
		case r == '-' || r == '‐' || r == '‑' || r == '–' || r == '—':
			hyphenAt = digits.Len()
		case r == '.' || r == '/' || unicode.IsSpace(r):
		default:
			return "", 0, invalid("it contains %q, which an organisation number never holds", r)
		}
	}
	return digits.String(), hyphenAt, nil
}

// longForms reads the longer forms a country's numbers are written in: for Sweden the 12-digit forms
// "16NNNNNNNNNN" and VAT "SE NNNNNNNNNN 01"; for Finland a Business ID issued before 1991 written without
// its leading zero (NNNNNN-N).
func longForms(c Country, d string, hadPrefix bool, hyphenAt int) string {
	switch {
	case c == SE && len(d) == 12 && strings.HasPrefix(d, "16") && checkSE(d[2:]) == nil:
		return d[2:]
	case c == SE && len(d) == 12 && hadPrefix && strings.HasSuffix(d, "01"):
		return d[:10]
	case c == FI && len(d) == 7 && hyphenAt == 6:
		return "0" + d
	}
	return d
}

// check verifies the check digit of a number of the country's length.
func (c Country) check(d string) error {
	switch c {
	case NO:
		return checkNO(d)
	case SE:
		return checkSE(d)
	case DK:
		return checkDK(d)
	case FI:
		return checkFI(d)
	}
	return nil
}

// Valid reports whether canonical is already a valid canonical number of c.
func Valid(c Country, canonical string) bool {
	n, err := Normalize(c, canonical)
	return err == nil && n == canonical
}

// label matches a leading "Org.nr."/"Organisasjonsnummer"/"Organisationsnummer"/"Org. no." (NO, SE), "CVR"/
// "CVR-nr." (DK) or "Y-tunnus"/"FO-nummer"/"Business ID" (FI), with a following colon; s is upper case.
var label = regexp.MustCompile(`^(?:ORG(?:ANISASJONS|ANISATIONS|ANISATION|ANIZATION)?\s*\.?\s*-?\s*(?:NR|NUMMER|NO|NUMBER)\.?` +
	`|CVR(?:\s*-?\s*NR\.?)?|Y\s*-?\s*TUNNUS|FO\s*-?\s*NUMMER|BUSINESS\s+ID)\s*[:#]?\s*`)

func isLetter(b byte) bool { return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }

func plural(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

var errCheck = invalid("check digit does not match")

// checkNO: weights 3,2,7,6,5,4,3,2 over the first 8 digits, mod 11; check = 11 − r, r = 0 → 0, r = 1 → none.
func checkNO(d string) error {
	r := weighted(d[:8], []int{3, 2, 7, 6, 5, 4, 3, 2}) % 11
	want := (11 - r) % 11
	if r == 1 {
		return invalid("no valid check digit exists for its first 8 digits")
	}
	if int(d[8]-'0') != want {
		return errCheck
	}
	return nil
}

// checkSE: Luhn over all 10 digits; the third digit is at least 2 for an organisation (lower: a personal
// identity number, which is not sent to Proff).
func checkSE(d string) error {
	if len(d) != 10 {
		return invalid("has %d digits, a Swedish organisation number has 10", len(d))
	}
	sum := 0
	for i := 0; i < 10; i++ {
		v := int(d[i] - '0')
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	if sum%10 != 0 {
		return errCheck
	}
	if d[2] < '2' {
		return invalid("its third digit is below 2: it is a personal identity number, not an organisation number")
	}
	return nil
}

// checkDK: weights 2,7,6,5,4,3,2,1 over all 8 digits, sum ≡ 0 mod 11; never a leading zero.
func checkDK(d string) error {
	if d[0] == '0' {
		return invalid("starts with 0, which a Danish CVR number never does")
	}
	if weighted(d, []int{2, 7, 6, 5, 4, 3, 2, 1})%11 != 0 {
		return errCheck
	}
	return nil
}

// checkFI: weights 7,9,10,5,8,4,2 over the first 7 digits, mod 11; check = 11 − r, r = 0 → 0, r = 1 → none.
func checkFI(d string) error {
	r := weighted(d[:7], []int{7, 9, 10, 5, 8, 4, 2}) % 11
	if r == 1 {
		return invalid("no valid check digit exists for its first 7 digits")
	}
	if int(d[7]-'0') != (11-r)%11 {
		return errCheck
	}
	return nil
}

func weighted(d string, w []int) int {
	sum := 0
	for i, x := range w {
		sum += int(d[i]-'0') * x
	}
	return sum
}

// Display formats a canonical number the way people write it: SE NNNNNN-NNNN, FI NNNNNNN-N, the others as
// digits. A value that is not canonical comes back unchanged.
func Display(c Country, canonical string) string {
	if len(canonical) != c.length() || strings.Trim(canonical, "0123456789") != "" {
		return canonical
	}
	switch c {
	case SE:
		return canonical[:6] + "-" + canonical[6:]
	case FI:
		return canonical[:7] + "-" + canonical[7:]
	}
	return canonical
}

// Pack packs a canonical (country, number) pair into one uint64: the country in the top bits, then the
// digit count (so leading zeros still tell numbers apart), then the number. A run's company index and the
// incremental sync's budget key companies this way. ok is false for anything that is not a canonical number
// of the four countries (at most twelve digits, below 2^44).
func Pack(country, org string) (key uint64, ok bool) {
	if len(org) == 0 || len(org) > 12 {
		return 0, false
	}
	var ci uint64
	switch Country(country) {
	case NO:
		ci = 1
	case SE:
		ci = 2
	case DK:
		ci = 3
	case FI:
		ci = 4
	default:
		return 0, false
	}
	n, err := strconv.ParseUint(org, 10, 64)
	if err != nil || n >= 1<<44 {
		return 0, false
	}
	return ci<<60 | uint64(len(org))<<52 | n, true
}
