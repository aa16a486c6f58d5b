package proff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
)

// DataPoint is one value of the register document an admin can map, with the type the Salesforce side
// checks compatibility against.
type DataPoint struct {
	Name        string       `json:"name"` // canonical spelling: a JSON path of the document or a derived name
	Kind        mapping.Kind `json:"kind"`
	Unit        string       `json:"unit"` // what a value counts: UnitAmount, UnitPercent, UnitCount, …
	Description string       `json:"description"`
	// Unknown marks a top-level key the catalogue does not know (Proff adds fields): mappable, but `check`
	// warns about it, as it is as likely a typo as a new field.
	Unknown bool `json:"unknown,omitempty"`
}

// ErrPersonalData is wrapped by ResolvePoint for a path into data about persons: only business data may
// leave Proff for Salesforce.
var ErrPersonalData = errors.New("personal data is not mappable")

// ErrUnknownPoint is wrapped by ResolvePoint for a name that is neither a path nor a derived point.
var ErrUnknownPoint = errors.New("not a Proff data point")

// Derived points: computed from the document rather than read at one path.
const (
	pointNaceCode  = "nace.code"        // the code of naceCategories[0] ("62.020")
	pointNaceText  = "nace.text"        // the text of naceCategories[0] ("Konsulentvirksomhet …")
	pointEmployees = "employees"        // numberOfEmployees as a number; a range gives its lower bound
	pointYears     = "yearsInOperation" // whole years since establishedDate (Proff stopped sending it)
)

// Units, as `check --catalogue` prints them.
const (
	UnitText     = "text"
	UnitAmount   = "NOK/SEK/DKK/EUR, full units" // the company's reporting currency (accounts.currency)
	UnitPercent  = "percent"
	UnitRatio    = "ratio"
	UnitCount    = "count"
	UnitDate     = "date"
	UnitYear     = "year"
	UnitYears    = "years"
	UnitBoolean  = "true/false"
	UnitDegrees  = "degrees (EPSG:4326)"
	UnitCurrency = "currency code (ISO 4217)"
)

var catalogue = []DataPoint{
	{"name", mapping.Text, UnitText, "registered company name (upper case as the register writes it; `format: title` writes it as people do)", false},
	{"organisationNumber", mapping.Text, UnitText, "organisation number as Proff writes it", false},
	{"companyId", mapping.Text, UnitText, "Proff's company id (the organisation number for NO)", false},
	{"companyType", mapping.Text, UnitText, "company form code, e.g. AS, ASA, ENK, AB", false},
	{"companyTypeName", mapping.Text, UnitText, "company form in words", false},
	{"status.statusFlag", mapping.Text, UnitText, "register status, e.g. ACTIVE", false},
	{"status.description", mapping.Text, UnitText, "register status in words", false},
	{"status.statusDate", mapping.Date, UnitDate, "date the register status took effect", false},
	{"email", mapping.Text, UnitText, "company e-mail address", false},
	{"homePage", mapping.Text, UnitText, "company web site", false},
	{"phoneNumbers.telephoneNumber", mapping.Text, UnitText, "main telephone number", false},
	{"phoneNumbers.telephoneNumber2", mapping.Text, UnitText, "second telephone number", false},
	{"phoneNumbers.mobilePhone", mapping.Text, UnitText, "mobile telephone number", false},
	{"phoneNumbers.faxNumber", mapping.Text, UnitText, "fax number", false},
	{"postalAddress.addressLine", mapping.Text, UnitText, "postal address: street", false},
	{"postalAddress.boxAddressLine", mapping.Text, UnitText, "postal address: box", false},
	{"postalAddress.zipCode", mapping.Text, UnitText, "postal address: postal code", false},
	{"postalAddress.postPlace", mapping.Text, UnitText, "postal address: town", false},
	{"visitorAddress.addressLine", mapping.Text, UnitText, "visiting address: street", false},
	{"visitorAddress.boxAddressLine", mapping.Text, UnitText, "visiting address: box", false},
	{"visitorAddress.zipCode", mapping.Text, UnitText, "visiting address: postal code", false},
	{"visitorAddress.postPlace", mapping.Text, UnitText, "visiting address: town", false},
	{"location.countryPart", mapping.Text, UnitText, "part of the country", false},
	{"location.countryCode", mapping.Text, UnitText, "country code of the register (NO, SE, DK, FI)", false},
	{"location.county", mapping.Text, UnitText, "county", false},
	{"location.municipality", mapping.Text, UnitText, "municipality", false},
	{"location.coordinates[0].XCoordinate", mapping.Number, UnitDegrees, "longitude", false},
	{"location.coordinates[0].YCoordinate", mapping.Number, UnitDegrees, "latitude", false},
	{"naceCategories[0]", mapping.Text, UnitText, "main industry: NACE code and text in one string", false},
	{pointNaceCode, mapping.Text, UnitText, "main industry: NACE code alone (derived from naceCategories[0]; naceCategories[i].code for others)", false},
	{pointNaceText, mapping.Text, UnitText, "main industry: NACE text alone (derived from naceCategories[0]; naceCategories[i].text for others)", false},
	{"sectorCode", mapping.Text, UnitText, "institutional sector code", false},
	{"companyPurpose", mapping.Text, UnitText, "registered purpose", false},
	{"numberOfEmployees", mapping.Text, UnitText, "employees as Proff sends it: a number, a range (10-19) or text", false},
	{pointEmployees, mapping.Integer, UnitCount, "employees as a number (derived: a range gives its lower bound, text its first number; empMin when numberOfEmployees has none)", false},
	{"empMin", mapping.Integer, UnitCount, "fewest employees (the range's lower bound; equals empMax when the number is known)", false},
	{"empMax", mapping.Integer, UnitCount, "most employees (the range's upper bound; equals empMin when the number is known)", false},
	{"revenue", mapping.Number, UnitAmount, "revenue of the newest accounts (account SDI); Proff sends thousands, proffsync writes full units", false},
	{"profit", mapping.Number, UnitAmount, "operating result of the newest accounts (account DR; not the result before tax, which is accounts.ORS); Proff sends thousands, proffsync writes full units", false},
	{"accounts.SDI", mapping.Number, UnitAmount, "revenue (sum operating income) of the newest annual accounts that have it", false},
	{"accounts.DR", mapping.Number, UnitAmount, "operating result of the newest annual accounts that have it", false},
	{"accounts.ORS", mapping.Number, UnitAmount, "ordinary result before tax of the newest annual accounts that have it", false},
	{"accounts.AARS", mapping.Number, UnitAmount, "net result for the year of the newest annual accounts that have it", false},
	{"accounts.SEK", mapping.Number, UnitAmount, "total equity of the newest annual accounts that have it", false},
	{"accounts.SGE", mapping.Number, UnitAmount, "total assets (sum of equity and liabilities) of the newest annual accounts that have it", false},
	{"accounts.EBITDA", mapping.Number, UnitAmount, "EBITDA of the newest annual accounts that have it", false},
	{"accounts.EKA", mapping.Number, UnitPercent, "equity ratio of the newest annual accounts that have it (a ratio: written as sent)", false},
	{"accounts.currency", mapping.Text, UnitCurrency, "currency of the newest annual accounts (NOK, SEK, DKK or EUR): the currency of every amount", false},
	{"accounts.year", mapping.Integer, UnitYear, "year of the newest annual accounts", false},
	{"shareCapital", mapping.Number, UnitAmount, "share capital (Proff sends it in full units)", false},
	{"estimatedTurnover", mapping.Text, UnitText, "estimated turnover, as Proff sends it", false},
	{"establishedDate", mapping.Date, UnitDate, "date established", false},
	{"registrationDate", mapping.Date, UnitDate, "date registered", false},
	{"foundationDate", mapping.Date, UnitDate, "date founded", false},
	{"liquidationDate", mapping.Date, UnitDate, "date of liquidation", false},
	{"foundationYear", mapping.Integer, UnitYear, "year founded", false},
	{pointYears, mapping.Integer, UnitYears, "whole years since establishedDate (derived; foundationDate or registrationDate when it is missing)", false},
	{"registeredForVat", mapping.Boolean, UnitBoolean, "registered for VAT", false},
	{"registeredForNav", mapping.Boolean, UnitBoolean, "registered with NAV (employer; Norway only)", false},
	{"registeredForPayrollTax", mapping.Boolean, UnitBoolean, "registered for payroll tax", false},
	{"registeredAsEnterprise", mapping.Boolean, UnitBoolean, "registered as an enterprise", false},
	{"registeredForVoluntary", mapping.Boolean, UnitBoolean, "registered in the register of non-profit organisations (Norway only)", false},
	{"hasSecurity", mapping.Boolean, UnitBoolean, "has registered security interests", false},
	{"marketingProtection", mapping.Boolean, UnitBoolean, "Denmark only: has opted out of marketing (reklamebeskyttet); no value for companies of other countries", false},
	{"corporateStructure.parentCompanyName", mapping.Text, UnitText, "parent company name", false},
	{"corporateStructure.parentCompanyOrganisationNumber", mapping.Text, UnitText, "parent company organisation number", false},
	{"corporateStructure.numberOfCompanies", mapping.Integer, UnitCount, "companies in the group", false},
	{"corporateStructure.numberOfSubsidiaries", mapping.Integer, UnitCount, "subsidiaries", false},
	{"annualAccounts[0].year", mapping.Integer, UnitYear, "year of the first annual accounts in the list (accounts.year picks the newest by year)", false},
	{"annualAccounts[0].currency", mapping.Text, UnitCurrency, "currency of the first annual accounts in the list (accounts.currency picks the newest by year)", false},
	{"annualAccounts[0].periodEnd", mapping.Date, UnitDate, "end of the period of the first annual accounts in the list (a date, not the spec's object)", false},
	{"companyMain[0].manLabourYear", mapping.Number, UnitCount, "man-labour years in the newest accounts", false},
	{"companyMain[0].auditorName", mapping.Text, UnitText, "auditor (a company)", false},
	{"creditRating", mapping.Text, UnitText, "credit rating, kept raw (compact JSON when it is an object)", false},
}

// CatalogueVersion changes whenever a listed point changes meaning, so that values stored at an earlier
// lookup (incremental sync) are not served under the new meaning: 2 is issue 13 (revenue, profit and
// account amounts in full units instead of thousands, marketingProtection no value outside Denmark,
// documents of another company or of the wrong shape refused).
const CatalogueVersion = 2

// Catalogue returns the listed data points, in a stable order. Any other path of the register document is
// accepted as well (see ResolvePoint).
func Catalogue() []DataPoint {
	out := make([]DataPoint, len(catalogue))
	copy(out, catalogue)
	return out
}

// segment is one step of a path: a key and the array indexes that follow it (`coordinates[0]`).
type segment struct {
	key     string
	indexes []int
}

var segRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d{1,4}\])*)$`)

func parsePath(name string) ([]segment, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("%w: the name is empty", ErrUnknownPoint)
	}
	var segs []segment
	for _, part := range strings.Split(strings.TrimSpace(name), ".") {
		m := segRe.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("%w: %q is not a path (dots for objects, [i] for array items)", ErrUnknownPoint, name)
		}
		s := segment{key: m[1]}
		for _, ix := range strings.Split(strings.Trim(m[2], "[]"), "][") {
			if ix == "" {
				continue
			}
			n, _ := strconv.Atoi(ix)
			s.indexes = append(s.indexes, n)
		}
		segs = append(segs, s)
	}
	return segs, nil
}

func formatPath(segs []segment) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
		for _, ix := range s.indexes {
			fmt.Fprintf(&b, "[%d]", ix)
		}
	}
	return b.String()
}

// zeroIndexes is the path with every array index 0: the key under which the catalogue lists its kind.
func zeroIndexes(segs []segment) string {
	z := make([]segment, len(segs))
	for i, s := range segs {
		z[i] = segment{key: s.key, indexes: make([]int, len(s.indexes))}
	}
	return strings.ToLower(formatPath(z))
}

// Keys that lead into data about persons, anywhere in a path (compared case-insensitively).
var personKeys = map[string]bool{
	"personroles": true, "contactperson": true, "signatories": true, "signatoryroles": true,
	"firstname": true, "lastname": true, "birthdate": true, "personid": true,
}

func isPersonKey(k string) bool {
	k = strings.ToLower(k)
	return personKeys[k] || strings.HasPrefix(k, "procuration")
}

// ResolvePoint reads a data point name as the mapping writes it and returns the point with its canonical
// spelling and kind. A name is a listed point, a derived point, an account code (accounts.<CODE>), or any
// JSON path of the register document (dots for objects, [i] for array items, keys matched
// case-insensitively).
//
// Typing rule for a path the catalogue does not list: the kind of the listed path it equals once every
// index is 0 (naceCategories[2] is Text like naceCategories[0]); otherwise Text, and the value arrives as
// text (numbers in plain decimal, booleans as true/false, objects and arrays as compact JSON). A top-level
// key the document is not known to have is mappable too (Proff adds fields) and comes back with Unknown
// set; a deeper path under such a key is refused as the typo it almost surely is.
//
// Paths into data about persons (personRoles, contactPerson, procuration…, signatories, signatoryRoles,
// a shareholder's firstName/lastName, any birthDate or personId) and the shareholders list as a whole are
// refused with an error wrapping ErrPersonalData.
func ResolvePoint(name string) (DataPoint, error) {
	p, _, err := resolve(name)
	return p, err
}

// ResolvePointAs is ResolvePoint with the mapping's `type:` hint (text, number, integer, date, boolean) for a
// path the catalogue does not list, an unknown top-level key above all. A listed point keeps its own kind:
// a hint that differs from it is an error, as the catalogue knows what the value is.
func ResolvePointAs(name string, hint mapping.Kind) (DataPoint, error) {
	p, listed, err := resolve(name)
	if err != nil || hint == "" || hint == p.Kind {
		return p, err
	}
	if _, err := mapping.ParseKind(string(hint)); err != nil {
		return DataPoint{}, err
	}
	if listed {
		return DataPoint{}, fmt.Errorf("%q is listed as %s: type: %s applies only to paths the catalogue does not list", name, p.Kind, hint)
	}
	p.Kind, p.Unit = hint, unitOfKind(hint)
	return p, nil
}

func unitOfKind(k mapping.Kind) string {
	switch k {
	case mapping.Date:
		return UnitDate
	case mapping.Boolean:
		return UnitBoolean
	case mapping.Number, mapping.Integer:
		return "as sent"
	}
	return UnitText
}

// resolve is ResolvePoint, also saying whether the catalogue decides the point's kind (listed or derived
// from a listed point).
func resolve(name string) (DataPoint, bool, error) {
	if p, ok, err := resolveAccount(name); ok || err != nil {
		return p, ok, err
	}
	segs, err := parsePath(name)
	if err != nil {
		return DataPoint{}, false, err
	}
	for _, s := range segs {
		if isPersonKey(s.key) {
			return DataPoint{}, false, fmt.Errorf("%w: %q reads data about persons; only business data leaves Proff", ErrPersonalData, name)
		}
	}
	// A shareholder may be a person: only a field of one shareholder is mappable, and ExtractAt gives no value
	// when that shareholder is a person.
	if strings.EqualFold(segs[0].key, "shareholders") && (len(segs[0].indexes) == 0 || len(segs) < 2) {
		return DataPoint{}, false, fmt.Errorf("%w: %q may hold shareholders who are persons; map one field of one shareholder, e.g. shareholders[0].name", ErrPersonalData, name)
	}
	canon := formatPath(segs)
	for _, p := range catalogue {
		if strings.EqualFold(p.Name, canon) {
			return p, true, nil
		}
	}
	if nace, ok := naceSplit(segs); ok {
		return DataPoint{Name: canon, Kind: mapping.Text, Unit: UnitText, Description: "NACE " + nace.part + " of naceCategories[" + strconv.Itoa(nace.index) + "]"}, true, nil
	}
	if p, ok := listedAt(segs); ok {
		return DataPoint{Name: canon, Kind: p.Kind, Unit: p.Unit, Description: p.Description}, true, nil
	}
	if !documentRoots[strings.ToLower(segs[0].key)] {
		if len(segs) == 1 {
			// Proff adds top-level fields now and then (2025: an EHF acceptance status, status.statusDate):
			// mappable the day they appear, with a warning from check in case it is a typo.
			return DataPoint{Name: canon, Kind: mapping.Text, Unit: UnitText, Unknown: true,
				Description: "top-level key " + canon + " that the catalogue does not know (as text, or as its type: hint)"}, false, nil
		}
		// A path below a key the register document does not have is almost surely a typo of a known
		// object (visitorAdress.zipCode): it would never have a value, and the admin would never learn why.
		return DataPoint{}, false, fmt.Errorf("%w: %q (the register document has no %q; see proffsync check --catalogue)",
			ErrUnknownPoint, name, segs[0].key)
	}
	return DataPoint{Name: canon, Kind: mapping.Text, Unit: UnitText, Description: "register document path " + canon + " (as text)"}, false, nil
}

// listedAt returns the listed point a path equals once every index is 0.
func listedAt(segs []segment) (DataPoint, bool) {
	z := zeroIndexes(segs)
	for _, p := range catalogue {
		if strings.ToLower(p.Name) == z {
			return p, true
		}
	}
	return DataPoint{}, false
}

// documentRoots are the top-level keys of the register document (RegisterCompanyDetails in Proff's OpenAPI
// description, and the keys real answers carry), lower-cased.
var documentRoots = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range []string{"analyses", "announcements", "annualAccounts", "annualReports", "businessUnitId",
		"centralApproval", "companyAccounts", "companyCacheFlows", "companyId", "companyMain", "companyPurpose",
		"companyRoles", "companyType", "companyTypeName", "contactPerson", "corporateAccounts", "corporateCacheFlows",
		"corporateMain", "corporateStructure", "creditRating", "email", "empMax", "empMin", "establishedDate",
		"estimatedTurnover", "foundationDate", "foundationYear", "hasSecurity", "homePage", "keyFigures", "link",
		"liquidationDate", "location", "mainOffice", "marketingProtection", "mortgages", "naceCategories", "name",
		"numberOfEmployees", "organisationNumber", "personRoles", "phoneNumbers", "postalAddress", "previousNames",
		"procuration", "procurationRoles", "proffListingId", "profit", "publicListings", "registeredAsEnterprise",
		"registeredForNav", "registeredForPayrollTax", "registeredForVat", "registeredForVatDescription",
		"registeredForVoluntary", "registrationDate", "revenue", "sOrganisationNumber", "sectorCode", "shareCapital",
		"shareholders", "shareholdersLastUpdatedDate", "shortAnalyses", "signatories", "signatoryRoles", "status",
		"subsidiaries", "subsidiariesLastUpdatedDate", "trials", "visitorAddress", "yearsInOperation"} {
		m[strings.ToLower(k)] = true
	}
	return m
}()

type naceRef struct {
	index int
	part  string // "code" or "text"
}

// naceSplit recognises naceCategories[i].code and naceCategories[i].text.
func naceSplit(segs []segment) (naceRef, bool) {
	if len(segs) == 2 && strings.EqualFold(segs[0].key, "naceCategories") && len(segs[0].indexes) == 1 &&
		len(segs[1].indexes) == 0 {
		if p := strings.ToLower(segs[1].key); p == "code" || p == "text" {
			return naceRef{segs[0].indexes[0], p}, true
		}
	}
	return naceRef{}, false
}

// ErrMalformed is wrapped by ExtractAt when the document is not a JSON object.
var ErrMalformed = errors.New("Proff sent malformed JSON")

// ExtractAt decodes from a register document only the given points and returns their values by point name,
// typed by Kind (Text string, Number and Integer float64, Boolean bool, Date time.Time at 00:00 UTC). A point
// with no value (absent, null, blank string, empty array, or a value that does not read as its kind) is
// absent from the map. Derived dates count from now, which the caller reads from its clock (there is no
// variant on the wall clock: a derived value must not depend on when a test runs).
//
// A document whose values do not have the shape the catalogue gives them (a number where a listed text point
// is, a string where an object is on a mapped path) is refused with a *ShapeError, which wraps ErrMalformed:
// it is not the company's data as Proff means it, and writing "42" as a company name would be worse than
// writing nothing.
func ExtractAt(doc []byte, points []DataPoint, now time.Time) (map[string]any, error) {
	root, err := decodeRoot(doc)
	if err != nil {
		return nil, err
	}
	return extractRoot(root, points, now)
}

// decodeRoot splits a register document into its top-level members; anything but an object is malformed.
func decodeRoot(doc []byte) (map[string]json.RawMessage, error) {
	root, err := splitObject(doc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, err)
	}
	if root == nil {
		return nil, fmt.Errorf("%w: the answer is null, not a company", ErrMalformed)
	}
	return root, nil
}

func extractRoot(root map[string]json.RawMessage, points []DataPoint, now time.Time) (map[string]any, error) {
	out := make(map[string]any, len(points))
	for _, p := range points {
		if err := checkShape(root, p); err != nil {
			return nil, err
		}
		raw, ok := lookupPoint(root, p, now)
		if !ok {
			continue
		}
		v, ok := typed(raw, p.Kind)
		if !ok {
			continue
		}
		if f, isNum := v.(float64); isNum && inThousands(p.Name) {
			if v, ok = fullUnits(f); !ok {
				continue
			}
		}
		out[p.Name] = v
	}
	return out, nil
}

// lookupPoint finds the raw JSON value of p in the document.
func lookupPoint(root map[string]json.RawMessage, p DataPoint, now time.Time) (json.RawMessage, bool) {
	if strings.HasPrefix(strings.ToLower(p.Name), pointAccounts) {
		return accountValue(root, p.Name)
	}
	switch strings.ToLower(p.Name) {
	case pointNaceCode, pointNaceText:
		return naceValue(root, 0, strings.TrimPrefix(strings.ToLower(p.Name), "nace."))
	case strings.ToLower(pointEmployees):
		if raw, ok := walk(root, []segment{{key: "numberOfEmployees"}}); ok {
			if n, ok := employeesNumber(raw); ok {
				return json.RawMessage(strconv.FormatInt(n, 10)), true
			}
		}
		// Proff's OpenAPI description also gives the range as integers: its lower bound is the figure
		// that numberOfEmployees' free text ("ukjent") or absence does not give.
		return walk(root, []segment{{key: "empMin"}})
	case strings.ToLower(pointYears):
		for _, k := range []string{"establishedDate", "foundationDate", "registrationDate"} {
			raw, ok := walk(root, []segment{{key: k}})
			if !ok {
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) != nil {
				continue
			}
			if d, ok := parseDate(s); ok {
				return json.RawMessage(strconv.Itoa(fullYears(d, now))), true
			}
		}
		return walk(root, []segment{{key: pointYears}}) // an older answer may still carry it
	}
	segs, err := parsePath(p.Name)
	if err != nil {
		return nil, false
	}
	if nace, ok := naceSplit(segs); ok {
		return naceValue(root, nace.index, nace.part)
	}
	if strings.EqualFold(segs[0].key, "shareholders") && len(segs[0].indexes) > 0 {
		holder, ok := walk(root, segs[:1])
		if !ok || isPersonShareholder(holder) {
			return nil, false
		}
	}
	return walk(root, segs)
}

// isPersonShareholder reports whether a shareholder object names a person.
func isPersonShareholder(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return true // not an object: refuse rather than guess
	}
	for _, k := range []string{"firstName", "lastName"} {
		if v, ok := getFold(m, k); ok && hasValue(v) {
			return true
		}
	}
	return false
}

func naceValue(root map[string]json.RawMessage, index int, part string) (json.RawMessage, bool) {
	raw, ok := walk(root, []segment{{key: "naceCategories", indexes: []int{index}}})
	if !ok {
		return nil, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	code, text := splitNace(s)
	v := code
	if part == "text" {
		v = text
	}
	b, _ := json.Marshal(v)
	return b, true
}

// A code is two digits and then more digits, with or without dots: NACE "62.020" (NO), but the Swedish
// SNI, Danish DB07 and Finnish TOL codes are commonly written without dots ("62010", "620100").
var (
	naceCodeRe     = regexp.MustCompile(`^\s*(\d{2}(?:\.?\d+)*)(?:\s*[-–:]\s*|\s+|$)(.*?)\s*$`)
	naceCodeLastRe = regexp.MustCompile(`^\s*(.*?)\s*\((\d{2}(?:\.?\d+)*)\)\s*$`)
)

// splitNace splits "62.020 Konsulentvirksomhet …" (or "Dataprogrammering (62010)") into its code and text.
func splitNace(s string) (code, text string) {
	if m := naceCodeRe.FindStringSubmatch(s); m != nil {
		return m[1], m[2]
	}
	if m := naceCodeLastRe.FindStringSubmatch(s); m != nil {
		return m[2], m[1]
	}
	return "", strings.TrimSpace(s)
}

// walk follows segs from the root, matching keys exactly first and then case-insensitively.
func walk(root map[string]json.RawMessage, segs []segment) (json.RawMessage, bool) {
	var cur json.RawMessage
	obj := root
	for i, s := range segs {
		if i > 0 {
			obj = nil
			if json.Unmarshal(cur, &obj) != nil || obj == nil {
				return nil, false
			}
		}
		v, ok := getFold(obj, s.key)
		if !ok {
			return nil, false
		}
		for _, ix := range s.indexes {
			var arr []json.RawMessage
			if json.Unmarshal(v, &arr) != nil || ix >= len(arr) {
				return nil, false
			}
			v = arr[ix]
		}
		cur = v
	}
	return cur, true
}

func getFold(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	// Several keys may differ only in case; take the first in sorted order so the answer is stable.
	var keys []string
	for k := range m {
		if strings.EqualFold(k, key) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, false
	}
	sort.Strings(keys)
	return m[keys[0]], true
}

// hasValue: not null, not a blank string, not an empty array or object.
func hasValue(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0, bytes.Equal(t, []byte("null")), bytes.Equal(t, []byte("[]")), bytes.Equal(t, []byte("{}")):
		return false
	case t[0] == '"':
		var s string
		return json.Unmarshal(t, &s) == nil && strings.TrimSpace(s) != ""
	case t[0] == '[' || t[0] == '{':
		var x any
		if json.Unmarshal(t, &x) != nil {
			return false
		}
		switch v := x.(type) {
		case []any:
			return len(v) > 0
		case map[string]any:
			return len(v) > 0
		}
	}
	return true
}

// typed converts a raw JSON value to the Go value of kind k; false means "no value".
func typed(raw json.RawMessage, k mapping.Kind) (any, bool) {
	if !hasValue(raw) {
		return nil, false
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil, false
	}
	switch k {
	case mapping.Text:
		return typedText(raw, v)
	case mapping.Number, mapping.Integer:
		return typedNumber(v, k == mapping.Integer)
	case mapping.Boolean:
		return typedBoolean(v)
	case mapping.Date:
		return typedDate(v)
	}
	return nil, false
}

// typedText is any value as text: a string as it is, a number as written, an object or a list as compact
// JSON.
func typedText(raw json.RawMessage, v any) (any, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return nil, false
	}
	return b.String(), true
}

// typedNumber is a JSON number or a number sent as a string, rounded for an integer point.
func typedNumber(v any, integer bool) (any, bool) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		g, err := x.Float64()
		if err != nil {
			return nil, false
		}
		f = g
	case string:
		g, ok := parseNumber(x)
		if !ok {
			return nil, false
		}
		f = g
	default:
		return nil, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	if integer {
		f = math.Round(f)
	}
	return f, true
}

// typedBoolean is true or false, or the words and digits real answers write them as.
func typedBoolean(v any) (any, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes", "ja", "j":
			return true, true
		case "false", "0", "no", "nei", "n":
			return false, true
		}
	case json.Number:
		switch x.String() {
		case "1":
			return true, true
		case "0":
			return false, true
		}
	}
	return nil, false
}

// typedDate is a date in one of the forms real answers use, within what Salesforce holds (1700-01-01 to
// 4000-12-31): anything else would fail the record's whole write, not only this field.
func typedDate(v any) (any, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	d, ok := parseDate(s)
	if !ok || d.Year() < minSalesforceYear || d.Year() > maxSalesforceYear {
		return nil, false
	}
	return d, true
}

// parseNumber reads a number Proff sent as a string: "112934", "-1 234", "12,5", "1 234 567,89".
func parseNumber(s string) (float64, bool) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\u00a0', '\u202f', '\t':
			return -1
		}
		return r
	}, s)
	if strings.Contains(s, ",") && !strings.Contains(s, ".") && strings.Count(s, ",") == 1 {
		s = strings.Replace(s, ",", ".", 1)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

var firstIntRe = regexp.MustCompile(`\d[\d \x{00a0}]*`)

// employeesNumber reads numberOfEmployees: a number, a numeric string, a range ("10-19" gives 10, its lower
// bound: the only figure the range guarantees) or text whose first number is taken ("ca. 50").
func employeesNumber(raw json.RawMessage) (int64, bool) {
	if !hasValue(raw) {
		return 0, false
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return 0, false
	}
	switch x := v.(type) {
	case float64:
		if x < 0 {
			return 0, false
		}
		return int64(math.Round(x)), true
	case string:
		if f, ok := parseNumber(x); ok && f >= 0 {
			return int64(math.Round(f)), true
		}
		m := firstIntRe.FindString(x)
		if m == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, m), 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// The years of the dates Salesforce accepts.
const minSalesforceYear, maxSalesforceYear = 1700, 4000

// parseDate reads the date formats Proff uses: dd.MM.yyyy, yyyy-MM-dd (optionally with a time), ddMMyyyy.
// .NET's DateTime.MinValue and MaxValue (0001-01-01, 9999-12-31), which a .NET API writes for "no date",
// are no date.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	layouts := []string{"02.01.2006", "2.1.2006", "2006-01-02", "02012006"}
	if len(s) > 10 && s[4] == '-' && (s[10] == 'T' || s[10] == ' ') {
		s = s[:10]
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			if t.Year() <= 1 || t.Year() >= 9999 {
				return time.Time{}, false
			}
			return mapping.DateValue(t.Year(), t.Month(), t.Day()), true
		}
	}
	return time.Time{}, false
}

// fullYears is the number of whole years from d to now.
func fullYears(d, now time.Time) int {
	now = now.UTC()
	y := now.Year() - d.Year()
	if now.Month() < d.Month() || now.Month() == d.Month() && now.Day() < d.Day() {
		y--
	}
	if y < 0 {
		return 0
	}
	return y
}
