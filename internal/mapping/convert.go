package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// family groups the Salesforce field types by how a value is written into them.
type family int

const (
	famUnsupported family = iota // reference, id, address, location, base64, time, …: never written
	famText                      // string, textarea, url, phone, email, encryptedstring, combobox
	famPicklist                  // picklist, multipicklist: text, with the restricted values checked
	famInt                       // int (32-bit whole numbers)
	famDecimal                   // double, currency, percent (precision and scale)
	famDate                      // date
	famDateTime                  // datetime
	famBoolean                   // boolean (checkbox)
)

func familyOf(sfType string) family {
	switch strings.ToLower(sfType) {
	case "string", "textarea", "url", "phone", "email", "encryptedstring", "combobox":
		return famText
	case "picklist", "multipicklist":
		return famPicklist
	case "int":
		return famInt
	case "double", "currency", "percent", "long":
		return famDecimal
	case "date":
		return famDate
	case "datetime":
		return famDateTime
	case "boolean":
		return famBoolean
	}
	return famUnsupported
}

// fit says whether a value of a kind can ever go into a field family.
type fit int

const (
	never   fit = iota
	always      // every value of the kind converts (length, picklist and range limits aside)
	runTime     // only some values convert; the rest fail per record with a reason
)

// compat is the type matrix Check enforces. Rows are Proff kinds, columns Salesforce field families:
//
//	            text     picklist  int       double    date      datetime  boolean
//	text        always   always*   run time  run time  run time  run time  run time
//	number      always   always*   run time  always    never     never     never
//	integer     always   always*   always    always    never     never     never
//	date        always   always*   never     never     always    always    never
//	boolean     always   always*   never     never     never     never     always
//
// "always" still fails at run time on a string longer than the field, a number beyond the field's precision
// or (*) a value a restricted picklist does not hold. Text converts when it reads as the target: a plain
// number ("1234.5" or "1234,5"), a date (YYYY-MM-DD, DD.MM.YYYY or RFC 3339), true or false. A date into a
// datetime is midnight UTC. Numbers, dates and booleans into text are written as 1234.5, YYYY-MM-DD and
// true/false.
var compat = map[Kind]map[family]fit{
	Text:    {famText: always, famPicklist: always, famInt: runTime, famDecimal: runTime, famDate: runTime, famDateTime: runTime, famBoolean: runTime},
	Number:  {famText: always, famPicklist: always, famInt: runTime, famDecimal: always},
	Integer: {famText: always, famPicklist: always, famInt: always, famDecimal: always},
	Date:    {famText: always, famPicklist: always, famDate: always, famDateTime: always},
	Boolean: {famText: always, famPicklist: always, famBoolean: always},
}

// CanHold reports whether a field of Salesforce type sfType can ever hold a value of kind k.
func CanHold(k Kind, sfType string) bool { return compat[k][familyOf(sfType)] != never }

// CheckError lists every problem Check found; nothing may be written while there is one.
type CheckError struct{ Problems []string }

func (e *CheckError) Error() string {
	return "the mapping does not fit the Salesforce object: " + strings.Join(e.Problems, "; ")
}

// Check verifies the mapping against describe before any write: every rule names a known data point, a field
// that exists, is updateable and can ever hold the point's kind (see compat), a valid mode, and no field is
// the target of two rules. It reports every problem at once, as a *CheckError.
func Check(rules []Rule, kinds map[string]Kind, fields map[string]Field) error {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if len(rules) == 0 {
		add("no data point is mapped")
	}
	seen := map[string]string{} // lower-case field name → the point first mapped onto it
	for _, r := range rules {
		switch r.Mode {
		case "", Overwrite, FillBlank:
		default:
			add("%s → %s: mode %q is neither %q nor %q", r.Point, r.Field, r.Mode, Overwrite, FillBlank)
		}
		k, known := kinds[r.Point]
		if !known {
			add("%s: no such Proff data point", r.Point)
		}
		switch r.Format {
		case AsSent:
		case Title:
			if known && k != Text {
				add("%s → %s: format %q applies to text only, and the point is %s", r.Point, r.Field, r.Format, k)
			}
		default:
			add("%s → %s: format %q is not one proffsync knows (%q)", r.Point, r.Field, r.Format, Title)
		}
		if r.Field == "" {
			add("%s: no Salesforce field named", r.Point)
			continue
		}
		if first, dup := seen[strings.ToLower(r.Field)]; dup {
			add("%s: mapped twice (from %s and %s)", r.Field, first, r.Point)
			continue
		}
		seen[strings.ToLower(r.Field)] = r.Point
		f, ok := fields[r.Field]
		if !ok {
			if alt := findFold(fields, r.Field); alt != "" {
				add("%s: no such field (did you mean %s?)", r.Field, alt)
			} else {
				add("%s: no such field, or the integration user cannot see it", r.Field)
			}
			continue
		}
		if !f.Updateable {
			add("%s: not updateable by the integration user", r.Field)
		}
		if known && !CanHold(k, f.Type) {
			add("%s → %s: a %s field can never hold a %s value", r.Point, r.Field, f.Type, k)
		}
	}
	if len(problems) > 0 {
		return &CheckError{Problems: problems}
	}
	return nil
}

func findFold(fields map[string]Field, name string) string {
	for n := range fields {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return ""
}

// HasValue reports whether a Proff value is a value at all: nil, an empty or blank string, an empty array or
// object and NaN have no value, and never change a Salesforce field.
func HasValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return strings.TrimSpace(x) != ""
	case float64:
		return !math.IsNaN(x)
	case bool, time.Time, int, int64, json.Number:
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return rv.Len() > 0
	case reflect.Pointer, reflect.Interface:
		return !rv.IsNil()
	}
	return true
}

// IsEmpty reports whether a Salesforce field's current value is empty for fill_blank: null or blank.
func IsEmpty(cur any) bool {
	switch x := cur.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	}
	return false
}

// Convert turns a Proff value of kind k (string, float64, bool, or time.Time for a date) into the JSON value
// Salesforce takes for field f: a string, a float64, a bool, "YYYY-MM-DD" for a date or
// "YYYY-MM-DDT00:00:00.000Z" for a datetime. A value that does not fit returns an error whose message is the
// reason, fit for the record's outcome; it never repeats the value (it may be long).
func Convert(v any, k Kind, f Field) (any, error) {
	if !HasValue(v) {
		return nil, errors.New("Proff has no value")
	}
	fam := familyOf(f.Type)
	if compat[k][fam] == never {
		return nil, fmt.Errorf("a %s field cannot hold a %s value", f.Type, k)
	}
	switch fam {
	case famText:
		s, err := textOf(v)
		if err != nil {
			return nil, err
		}
		if err := checkLength(s, f); err != nil {
			return nil, err
		}
		if strings.EqualFold(f.Type, "email") && !plausibleEmail(s) {
			// Salesforce refuses the whole record (INVALID_EMAIL_ADDRESS); leaving the field out keeps the rest.
			return nil, errors.New("the value is not an e-mail address Salesforce accepts")
		}
		return s, nil
	case famPicklist:
		s, err := textOf(v)
		if err != nil {
			return nil, err
		}
		return picklistValue(s, f)
	case famInt, famDecimal:
		n, err := numberOf(v)
		if err != nil {
			return nil, err
		}
		return fitNumber(n, fam, f)
	case famDate:
		d, err := dateOf(v)
		if err != nil {
			return nil, err
		}
		return d.Format("2006-01-02"), nil
	case famDateTime:
		t, err := instantOf(v)
		if err != nil {
			return nil, err
		}
		return t.UTC().Format("2006-01-02T15:04:05.000Z"), nil
	case famBoolean:
		return boolOf(v)
	}
	return nil, fmt.Errorf("a %s field cannot hold a %s value", f.Type, k)
}

// textOf writes a value as Salesforce text: strings trimmed, numbers without exponent or trailing zeros,
// dates as YYYY-MM-DD, booleans as true/false.
func textOf(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "", errors.New("the number is not finite")
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case time.Time:
		return dateOnly(x).Format("2006-01-02"), nil
	}
	return "", fmt.Errorf("a %T value cannot be written as text", v)
}

// checkLength counts as Salesforce does, in UTF-16 code units: a character outside the Basic Multilingual
// Plane (an emoji, a rare CJK character) takes two places.
func checkLength(s string, f Field) error {
	if f.Length > 0 {
		n := 0
		for _, r := range s {
			n++
			if r > 0xFFFF {
				n++
			}
		}
		if n > f.Length {
			return fmt.Errorf("the value has %d characters, the field holds at most %d", n, f.Length)
		}
	}
	return nil
}

// plausibleEmail is the shape Salesforce's e-mail fields insist on: one @, a local part, a domain with a
// dot, no spaces.
func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || strings.ContainsAny(s, " \t,;<>()[]\"") {
		return false
	}
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-1
}

// picklistValue accepts any value into an unrestricted picklist, and into a restricted one only a value it
// holds (matched case-insensitively, written in the picklist's own spelling). A multipicklist value is
// checked item by item (items separated by ";").
func picklistValue(s string, f Field) (any, error) {
	if err := checkLength(s, f); err != nil {
		return nil, err
	}
	if !f.RestrictedPicklist {
		return s, nil
	}
	items := []string{s}
	if strings.EqualFold(f.Type, "multipicklist") {
		items = strings.Split(s, ";")
	}
	for i, it := range items {
		it = strings.TrimSpace(it)
		canon, ok := "", false
		for _, p := range f.PicklistValues {
			if p == it {
				canon, ok = p, true
				break
			}
			if !ok && strings.EqualFold(p, it) {
				canon, ok = p, true
			}
		}
		if !ok {
			return nil, errors.New("the value is not one of the restricted picklist's values")
		}
		items[i] = canon
	}
	return strings.Join(items, ";"), nil
}

var plainNumber = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$`)

// numberOf reads a number. Text must be a plain number: digits with an optional sign, one decimal point or
// comma, an exponent, and space as a thousands separator. A range ("10-19") or words are not numbers.
func numberOf(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return 0, errors.New("the number is not finite")
		}
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case json.Number:
		return parseNumber(x.String())
	case string:
		return parseNumber(x)
	}
	return 0, fmt.Errorf("a %T value is not a number", v)
}

func parseNumber(s string) (float64, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\u00a0', '\u202f', '\u2009', '\t':
			return -1
		}
		return r
	}, s)
	if strings.Contains(s, ",") {
		if strings.Contains(s, ".") || strings.Count(s, ",") > 1 {
			return 0, errors.New("the text is not a plain number")
		}
		s = strings.Replace(s, ",", ".", 1)
	}
	if !plainNumber.MatchString(s) {
		return 0, errors.New("the text is not a number")
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(n, 0) {
		return 0, errors.New("the number is out of range")
	}
	return n, nil
}

// fitNumber checks a number against the field. Decimals beyond the field's scale are rounded (Salesforce
// rounds them the same way, and equality then compares what the field will hold); digits beyond its
// precision are an error, as is a fraction or a value beyond 32 bits in an int field.
func fitNumber(n float64, fam family, f Field) (any, error) {
	if fam == famInt {
		if n != math.Trunc(n) {
			return nil, errors.New("the field holds whole numbers only and the value has a fraction")
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			return nil, errors.New("the number is beyond the field's range")
		}
		if f.Precision > 0 && math.Abs(n) >= math.Pow10(f.Precision) {
			return nil, fmt.Errorf("the number has more than the %d digits the field holds", f.Precision)
		}
		return n, nil
	}
	if f.Precision <= 0 {
		return n, nil
	}
	scale := f.Scale
	if scale < 0 {
		scale = 0
	}
	r, ok := roundDecimal(n, scale)
	if !ok {
		return nil, errors.New("the number is out of range")
	}
	if intDigits := f.Precision - scale; math.Abs(r) >= math.Pow10(intDigits) {
		return nil, fmt.Errorf("the number needs more than the %d digits before the decimal point the field holds", intDigits)
	}
	if r == 0 {
		r = 0 // no negative zero on the wire
	}
	return r, nil
}

// roundDecimal rounds n to scale decimals half away from zero, as Salesforce rounds the decimal it receives.
// It rounds the shortest decimal text of n (what goes on the wire) exactly, once: rounding the float itself
// (0.285 is 0.28499999… in binary, and 0.285×100 is 28.499999…) would give 0.28 where Salesforce holds
// 0.29, and an equality check would then see a change on every run.
func roundDecimal(n float64, scale int) (float64, bool) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, false
	}
	text := strconv.FormatFloat(n, 'f', -1, 64)
	if _, frac, ok := strings.Cut(text, "."); !ok || len(frac) <= scale {
		return n, true // nothing beyond the scale: the number goes as it is
	}
	x, ok := new(big.Rat).SetString(text)
	if !ok {
		return 0, false
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	x.Mul(x, new(big.Rat).SetInt(p))
	q, m := new(big.Int).QuoRem(new(big.Int).Abs(x.Num()), x.Denom(), new(big.Int))
	if m.Lsh(m, 1).Cmp(x.Denom()) >= 0 { // the remainder is half or more: away from zero
		q.Add(q, big.NewInt(1))
	}
	if x.Sign() < 0 {
		q.Neg(q)
	}
	r, _ := new(big.Rat).SetFrac(q, p).Float64()
	return r, true
}

var dateLayouts = []string{"2006-01-02", "02.01.2006", "2.1.2006"}
var instantLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000Z0700"}

func dateOnly(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// dateOf reads a calendar date. A time.Time keeps its own calendar date (it is not moved to UTC first: a
// date is a date wherever it was made).
func dateOf(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return dateOnly(x), nil
	case string:
		s := strings.TrimSpace(x)
		for _, l := range dateLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, nil
			}
		}
		for _, l := range instantLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return dateOnly(t), nil
			}
		}
		return time.Time{}, errors.New("the text is not a date")
	}
	return time.Time{}, fmt.Errorf("a %T value is not a date", v)
}

// instantOf reads an instant; a date alone is midnight UTC of that date.
func instantOf(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return dateOnly(x), nil
		}
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		for _, l := range instantLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, nil
			}
		}
		if d, err := dateOf(s); err == nil {
			return d, nil
		}
		return time.Time{}, errors.New("the text is not a date or a date and time")
	}
	return time.Time{}, fmt.Errorf("a %T value is not a date", v)
}

func boolOf(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return false, errors.New("the text is neither true nor false")
	}
	return false, fmt.Errorf("a %T value is not true or false", v)
}

// Equal reports whether a field's current value cur (as Salesforce's JSON decodes: string, float64,
// json.Number, bool or nil) equals new (a value Convert returned) for field f: after trimming surrounding
// white space strings are identical, case included; numbers are numerically equal (a numeric string counts
// as its number); dates are the same date; datetimes the same instant; booleans the same. Two empty values
// are equal; an empty value never equals a non-empty one.
func Equal(cur, new any, f Field) bool {
	ce, ne := IsEmpty(cur), IsEmpty(new)
	if ce || ne {
		return ce && ne
	}
	switch familyOf(f.Type) {
	case famInt, famDecimal:
		a, err1 := numberOf(cur)
		b, err2 := numberOf(new)
		if err1 == nil && err2 == nil {
			return a == b || math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b))
		}
	case famDate:
		a, err1 := dateOf(cur)
		b, err2 := dateOf(new)
		if err1 == nil && err2 == nil {
			return a.Equal(b)
		}
	case famDateTime:
		a, err1 := instantOf(cur)
		b, err2 := instantOf(new)
		if err1 == nil && err2 == nil {
			return a.Equal(b)
		}
	case famBoolean:
		a, err1 := boolOf(cur)
		b, err2 := boolOf(new)
		if err1 == nil && err2 == nil {
			return a == b
		}
	}
	a, err1 := textOf(cur)
	b, err2 := textOf(new)
	return err1 == nil && err2 == nil && a == b
}

// Plain turns a value as Salesforce's JSON decodes into the plain JSON values a change record keeps:
// json.Number becomes float64 (or stays a string when it does not fit one).
func Plain(v any) any {
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return f
		}
		return n.String()
	}
	return v
}
