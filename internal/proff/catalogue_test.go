package proff_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/proff"
)

func TestCatalogueEntriesResolveToThemselves(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, p := range proff.Catalogue() {
		if seen[strings.ToLower(p.Name)] {
			t.Errorf("%s listed twice", p.Name)
		}
		seen[strings.ToLower(p.Name)] = true
		got, err := proff.ResolvePoint(strings.ToUpper(p.Name))
		if err != nil || got != p {
			t.Errorf("ResolvePoint(%q) = %+v, %v; want %+v", strings.ToUpper(p.Name), got, err, p)
		}
		if p.Description == "" || p.Kind == "" {
			t.Errorf("%s lacks a kind or description", p.Name)
		}
	}
}

func TestResolvePoint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		name string
		kind mapping.Kind
	}{
		{"homepage", "homePage", mapping.Text},
		{"visitoraddress.ZIPCODE", "visitorAddress.zipCode", mapping.Text},
		{"location.coordinates[1].xcoordinate", "location.coordinates[1].xcoordinate", mapping.Number},
		{"naceCategories[1]", "naceCategories[1]", mapping.Text},
		{"naceCategories[1].code", "naceCategories[1].code", mapping.Text},
		{"annualAccounts[3].year", "annualAccounts[3].year", mapping.Integer},
		{"employees", "employees", mapping.Integer},
		{"yearsInOperation", "yearsInOperation", mapping.Integer},
		{"foundationDate", "foundationDate", mapping.Date},
		{"mortgages.overview", "mortgages.overview", mapping.Text}, // unlisted: text
		{"shareholders[0].name", "shareholders[0].name", mapping.Text},
		{"companyRoles[0].name", "companyRoles[0].name", mapping.Text},
	}
	for _, tc := range cases {
		p, err := proff.ResolvePoint(tc.in)
		if err != nil || p.Name != tc.name || p.Kind != tc.kind {
			t.Errorf("ResolvePoint(%q) = %+v, %v; want %s %s", tc.in, p, err, tc.name, tc.kind)
		}
	}
}

func TestPersonalDataIsNotMappable(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"personRoles", "personRoles[0].name", "PERSONROLES[0].postalAddress.zipCode",
		"contactPerson.name", "contactperson.email", "procuration[0]", "procurationRoles[0].name", "signatories[0]",
		"signatoryRoles", "shareholders", "shareholders[0]", "shareholders[0].firstName", "shareholders[1].LASTNAME",
		"procurationRoles[0].birthDate", "companyRoles[0].personId"} {
		_, err := proff.ResolvePoint(in)
		if !errors.Is(err, proff.ErrPersonalData) || !strings.Contains(err.Error(), "personal data is not mappable") {
			t.Errorf("ResolvePoint(%q) = %v; want the personal-data refusal", in, err)
		}
	}
	for _, in := range []string{"", "name..x", "name[x]", "a b", "$.name", "name[-1]"} {
		if _, err := proff.ResolvePoint(in); !errors.Is(err, proff.ErrUnknownPoint) {
			t.Errorf("ResolvePoint(%q) = %v; want ErrUnknownPoint", in, err)
		}
	}
}

// quirky has what real answers do: numbers as strings, ranges, mixed dates, nulls, unknown fields and
// keys whose case differs from the spec.
const quirky = `{
  "name": "  KVIST & SØNN AS ",
  "Homepage": "https://kvist.example",
  "revenue": "12 345,5",
  "profit": -120,
  "shareCapital": "30000",
  "numberOfEmployees": "10-19",
  "registrationDate": "23.02.2000",
  "establishedDate": "2000-02-04",
  "foundationDate": "04022000",
  "liquidationDate": null,
  "registeredForVat": "true",
  "hasSecurity": null,
  "email": "   ",
  "naceCategories": ["62.020 Konsulentvirksomhet tilknyttet informasjonsteknologi", "70.220 Bedriftsrådgivning"],
  "location": {"coordinates": [{"xcoordinate": "10.5", "YCOORDINATE": 59.27}]},
  "postalAddress": null,
  "previousNames": [],
  "creditRating": {"rating": "A", "score": 77},
  "someNewField": {"x": [1, 2, 3]},
  "corporateStructure": {"numberOfCompanies": "2"},
  "shareholders": [
    {"name": "HOLDING AS", "firstName": null, "lastName": null, "share": "43.3"},
    {"name": "Ola Nordmann", "firstName": "Ola", "lastName": "Nordmann", "share": "10"}
  ]
}`

func TestExtractToleratesQuirks(t *testing.T) {
	t.Parallel()
	names := []string{"name", "homePage", "revenue", "profit", "shareCapital", "numberOfEmployees", "employees",
		"registrationDate", "establishedDate", "foundationDate", "liquidationDate", "registeredForVat", "hasSecurity",
		"email", "nace.code", "nace.text", "naceCategories[1].code", "naceCategories[0]", "naceCategories[5]",
		"location.coordinates[0].XCoordinate", "location.coordinates[0].YCoordinate", "postalAddress.zipCode",
		"previousNames", "creditRating", "yearsInOperation", "corporateStructure.numberOfCompanies",
		"shareholders[0].name", "shareholders[1].name", "shareholders[0].share", "location.missingPath"}
	got, err := proff.ExtractAt([]byte(quirky), points(t, names...), time.Date(2026, 2, 3, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name":                                 "  KVIST & SØNN AS ",
		"homePage":                             "https://kvist.example",
		"revenue":                              12345500.0, // thousands in, full units out
		"profit":                               -120000.0,
		"shareCapital":                         30000.0,
		"numberOfEmployees":                    "10-19",
		"employees":                            10.0,
		"registrationDate":                     mapping.DateValue(2000, 2, 23),
		"establishedDate":                      mapping.DateValue(2000, 2, 4),
		"foundationDate":                       mapping.DateValue(2000, 2, 4),
		"registeredForVat":                     true,
		"nace.code":                            "62.020",
		"nace.text":                            "Konsulentvirksomhet tilknyttet informasjonsteknologi",
		"naceCategories[1].code":               "70.220",
		"naceCategories[0]":                    "62.020 Konsulentvirksomhet tilknyttet informasjonsteknologi",
		"location.coordinates[0].XCoordinate":  10.5,
		"location.coordinates[0].YCoordinate":  59.27,
		"creditRating":                         `{"rating":"A","score":77}`,
		"yearsInOperation":                     25.0, // 2000-02-04 to 2026-02-03: not yet 26
		"corporateStructure.numberOfCompanies": 2.0,
		"shareholders[0].name":                 "HOLDING AS",
		"shareholders[0].share":                "43.3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s = %#v; want no value", k, got[k])
		}
	}
}

func TestEmployees(t *testing.T) {
	t.Parallel()
	cases := map[string]any{
		`69`: 69.0, `"69"`: 69.0, `"10-19"`: 10.0, `"10 - 19"`: 10.0, `"ca. 50"`: 50.0, `"1 200"`: 1200.0,
		`"ingen"`: nil, `null`: nil, `""`: nil, `-3`: nil,
		`0`: 0.0, // no employees is a figure, not "no value"
	}
	ps := points(t, "employees")
	for raw, want := range cases {
		got, err := proff.ExtractAt([]byte(`{"numberOfEmployees":`+raw+`}`), ps, clocktest.Start)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := got["employees"]; (want == nil && ok) || (want != nil && v != want) {
			t.Errorf("numberOfEmployees %s → %#v (present %v), want %#v", raw, v, ok, want)
		}
	}
}

// TestEmployeesFromTheRange: the OpenAPI description carries empMin and empMax (integers) beside the
// free-text numberOfEmployees; both are mappable as numbers, and employees falls back to empMin.
func TestEmployeesFromTheRange(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"empMin", "empMax", "EMPMAX"} {
		if p, err := proff.ResolvePoint(name); err != nil || p.Kind != mapping.Integer {
			t.Errorf("ResolvePoint(%q) = %+v, %v; want an Integer point", name, p, err)
		}
	}
	cases := map[string]any{
		`{"numberOfEmployees":"ukjent","empMin":5,"empMax":9}`: 5.0,
		`{"empMin":"20","empMax":"49"}`:                        20.0,
		`{"numberOfEmployees":"10-19","empMin":12}`:            10.0, // numberOfEmployees goes first
		`{"numberOfEmployees":null,"empMin":null}`:             nil,
	}
	ps := points(t, "employees", "empMax")
	for doc, want := range cases {
		got, err := proff.ExtractAt([]byte(doc), ps, clocktest.Start)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := got["employees"]; (want == nil && ok) || (want != nil && v != want) {
			t.Errorf("%s → employees %#v (present %v), want %#v", doc, v, ok, want)
		}
	}
	got, _ := proff.ExtractAt([]byte(`{"empMax":"49"}`), ps, clocktest.Start)
	if got["empMax"] != 49.0 {
		t.Errorf("empMax %#v, want 49", got["empMax"])
	}
}

// TestNaceCodeAndText: NO writes "62.020 Konsulent…"; Swedish SNI, Danish DB07 and Finnish TOL codes are
// commonly written without dots, and a code may come last in parentheses. A code is never cut in two.
func TestNaceCodeAndText(t *testing.T) {
	t.Parallel()
	cases := map[string][2]string{
		"62.020 Konsulentvirksomhet tilknyttet informasjonsteknologi": {"62.020", "Konsulentvirksomhet tilknyttet informasjonsteknologi"},
		"62010 Dataprogrammering":                                     {"62010", "Dataprogrammering"},
		"620100 Computerprogrammering":                                {"620100", "Computerprogrammering"},
		"62010 - Ohjelmistojen suunnittelu":                           {"62010", "Ohjelmistojen suunnittelu"},
		"Dataprogrammering (62010)":                                   {"62010", "Dataprogrammering"},
		" 70.220  Bedriftsrådgivning ":                                {"70.220", "Bedriftsrådgivning"},
		"62.020":                                                      {"62.020", ""},
		"Konsulentvirksomhet uten kode":                               {"", "Konsulentvirksomhet uten kode"},
	}
	ps := points(t, "nace.code", "nace.text")
	for in, want := range cases {
		doc, _ := json.Marshal(map[string]any{"naceCategories": []string{in}})
		got, err := proff.ExtractAt(doc, ps, clocktest.Start)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := got["nace.code"].(string)
		text, _ := got["nace.text"].(string)
		if code != want[0] || text != want[1] {
			t.Errorf("%q → code %q, text %q; want %q, %q", in, code, text, want[0], want[1])
		}
	}
}

func TestExtractMalformed(t *testing.T) {
	t.Parallel()
	ps := points(t, "name")
	for _, doc := range []string{`{"name": "X"`, `{"name": "X",}`, ``, `null`, `[]`, `"x"`, `{"name": "X"} trailing`} {
		_, err := proff.ExtractAt([]byte(doc), ps, clocktest.Start)
		if !errors.Is(err, proff.ErrMalformed) {
			t.Errorf("ExtractAt(%q) = %v; want ErrMalformed", doc, err)
		}
	}
}

// TestExampleDocument reads the example of a real answer: every listed point either has a value of its
// kind or none, and the ones a demo maps have values.
func TestExampleDocument(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../proffemu/template.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := proff.ExtractAt(doc, proff.Catalogue(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range proff.Catalogue() {
		v, ok := got[p.Name]
		if !ok {
			continue
		}
		var fits bool
		switch p.Kind {
		case mapping.Text:
			_, fits = v.(string)
		case mapping.Number, mapping.Integer:
			_, fits = v.(float64)
		case mapping.Boolean:
			_, fits = v.(bool)
		case mapping.Date:
			d, isTime := v.(time.Time)
			fits = isTime && d.Location() == time.UTC && d.Hour() == 0
		}
		if !fits {
			t.Errorf("%s (%s) = %#v", p.Name, p.Kind, v)
		}
	}
	for _, name := range []string{"name", "homePage", "revenue", "profit", "employees", "nace.code",
		"establishedDate", "registrationDate", "foundationDate", "yearsInOperation", "visitorAddress.zipCode",
		"location.coordinates[0].XCoordinate", "registeredForVat"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s has no value in the example document", name)
		}
	}
}

// FuzzExtract: any answer either fails as malformed or yields only values of each point's kind.
func FuzzExtract(f *testing.F) {
	f.Add([]byte(quirky))
	f.Add([]byte(`{"numberOfEmployees": "1-", "naceCategories": [null, 5], "establishedDate": "31.02.2020"}`))
	f.Add([]byte(`{"location": {"coordinates": {"x": 1}}, "revenue": "NaN", "profit": "1e400"}`))
	ps := proff.Catalogue()
	for _, n := range []string{"naceCategories[1].text", "shareholders[0].name", "location.coordinates[3].xcoordinate"} {
		p, _ := proff.ResolvePoint(n)
		ps = append(ps, p)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := proff.ExtractAt(doc, ps, clocktest.Start)
		if err != nil {
			if !errors.Is(err, proff.ErrMalformed) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		for _, p := range ps {
			v, ok := got[p.Name]
			if !ok {
				continue
			}
			switch p.Kind {
			case mapping.Text:
				if s, isStr := v.(string); !isStr || strings.TrimSpace(s) == "" {
					t.Fatalf("%s = %#v", p.Name, v)
				}
			case mapping.Number, mapping.Integer:
				if _, isNum := v.(float64); !isNum {
					t.Fatalf("%s = %#v", p.Name, v)
				}
			case mapping.Boolean:
				if _, isBool := v.(bool); !isBool {
					t.Fatalf("%s = %#v", p.Name, v)
				}
			case mapping.Date:
				if _, isTime := v.(time.Time); !isTime {
					t.Fatalf("%s = %#v", p.Name, v)
				}
			}
		}
	})
}

// A path under a key the register document does not have is a typo, not a data point: it would never have a
// value and the admin would never learn why. A top-level key alone is mappable (Proff adds fields), marked
// unknown so that check warns (TestUnknownTopLevelKeys).
func TestResolvePointRefusesUnknownRoots(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"visitorAdress.zipCode", "missing.path", "nmae.x", "favouriteColour[0].x"} {
		if _, err := proff.ResolvePoint(name); !errors.Is(err, proff.ErrUnknownPoint) {
			t.Errorf("ResolvePoint(%q) = %v, want ErrUnknownPoint", name, err)
		}
	}
	for _, name := range []string{"name", "NAME", "visitorAddress.zipCode", "location.somethingNew", "nace.code", "employees"} {
		if _, err := proff.ResolvePoint(name); err != nil {
			t.Errorf("ResolvePoint(%q) = %v", name, err)
		}
	}
}

// TestDatesSalesforceCannotHold: .NET writes 0001-01-01 (DateTime.MinValue) or 9999-12-31 for "no date",
// and Salesforce holds only 1700-01-01 to 4000-12-31; such a date in a write fails the whole record. None
// of them is a value, and yearsInOperation falls back to the next date.
func TestDatesSalesforceCannotHold(t *testing.T) {
	t.Parallel()
	doc := `{"establishedDate":"0001-01-01T00:00:00","foundationDate":"01.01.0001","registrationDate":"23.02.2000",
		"liquidationDate":"31.12.9999","shareholdersLastUpdatedDate":"1650-01-01"}`
	ps := points(t, "establishedDate", "foundationDate", "registrationDate", "liquidationDate", "yearsInOperation")
	ps = append(ps, proff.DataPoint{Name: "shareholdersLastUpdatedDate", Kind: mapping.Date})
	got, err := proff.ExtractAt([]byte(doc), ps, time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"registrationDate": mapping.DateValue(2000, 2, 23), "yearsInOperation": 25.0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestExtractEdges pins the edges of "a value" and of the conversions that mutation testing found
// unguarded (issue 16): blank containers, one-element containers, integer rounding, Salesforce's date
// range and the date-with-time forms.
func TestExtractEdges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind mapping.Kind
		raw  string
		want any // nil: no value
	}{
		{mapping.Text, `[ ]`, nil},
		{mapping.Text, `{ }`, nil},
		{mapping.Text, `["X"]`, `["X"]`},
		{mapping.Text, `{"a":1}`, `{"a":1}`},
		{mapping.Integer, `12.6`, 13.0},
		{mapping.Integer, `"-12,4"`, -12.0},
		{mapping.Number, `12.6`, 12.6},
		{mapping.Date, `"1700-01-01"`, mapping.DateValue(1700, 1, 1)},
		{mapping.Date, `"4000-12-31"`, mapping.DateValue(4000, 12, 31)},
		{mapping.Date, `"1699-12-31"`, nil},
		{mapping.Date, `"4001-01-01"`, nil},
		{mapping.Date, `"2000-02-04T10:11:12"`, mapping.DateValue(2000, 2, 4)},
		{mapping.Date, `"2000-02-04 10:11:12"`, mapping.DateValue(2000, 2, 4)},
		{mapping.Date, `"2000-02-04X10:11:12"`, nil},
	}
	for _, tc := range cases {
		ps := []proff.DataPoint{{Name: "x", Kind: tc.kind}}
		got, err := proff.ExtractAt([]byte(`{"x":`+tc.raw+`}`), ps, clocktest.Start)
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if v, ok := got["x"]; (tc.want == nil && ok) || (tc.want != nil && v != tc.want) {
			t.Errorf("%s %s → %#v (present %v), want %#v", tc.kind, tc.raw, v, ok, tc.want)
		}
	}
}

// TestYearsInOperation counts whole years: not yet on the day before the anniversary in the same month,
// already in a later month whatever the day, and never below zero for a date in the future.
func TestYearsInOperation(t *testing.T) {
	t.Parallel()
	ps := points(t, "yearsInOperation")
	doc := []byte(`{"establishedDate":"04.02.2000"}`)
	for now, want := range map[time.Time]any{
		time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC): 25.0,
		time.Date(2026, 2, 4, 0, 0, 0, 0, time.UTC): 26.0,
		time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC): 26.0,
		time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC): 25.0,
		time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC): 0.0,
	} {
		got, err := proff.ExtractAt(doc, ps, now)
		if err != nil {
			t.Fatal(err)
		}
		if got["yearsInOperation"] != want {
			t.Errorf("at %s: yearsInOperation %#v, want %v", now.Format(time.DateOnly), got["yearsInOperation"], want)
		}
	}
}
