package proff_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

// Issue 13, "what is written": identity, shape, money, meaning, forward compatibility and the number forms
// of SE and FI, each against real-shaped documents (the emulator's template is the public example).

var (
	skargard  = proffemu.ValidNumber(orgnr.SE, "556999000") // seeded SE company, 556999-0004
	fjallglas = proffemu.ValidNumber(orgnr.SE, "559111222") // seeded SE company
	revontuli = proffemu.ValidNumber(orgnr.FI, "3123456")   // seeded FI company, 3123456-3
	havnelys  = proffemu.ValidNumber(orgnr.DK, "3999990")   // seeded DK company
)

func template(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../proffemu/template.json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func encode(t *testing.T, d any) []byte {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A document that names another company ends the lookup with an IdentityError, whatever the form of its
// number; the company's own number in the register's form (556999-0004, 3123456-3) is the company.
func TestLookupRefusesAnotherCompanysDocument(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, nil)
	ctx := context.Background()
	for _, tc := range []struct{ cc, nr string }{{"SE", skargard}, {"FI", revontuli}, {"NO", fjordlys}, {"DK", havnelys}} {
		if _, err := f.c.Lookup(ctx, tc.cc, tc.nr); err != nil {
			t.Errorf("%s %s, its own document: %v", tc.cc, tc.nr, err)
		}
	}
	// A misrouted answer: the document of Skärgårdsdata for Fjällglass.
	d := template(t)
	d["organisationNumber"] = "556999-0004"
	f.emu.SetDocument("SE", fjallglas, encode(t, d))
	vals, err := f.c.Lookup(ctx, "SE", fjallglas)
	var ie *proff.IdentityError
	if !errors.Is(err, proff.ErrWrongCompany) || !errors.As(err, &ie) || vals != nil {
		t.Fatalf("Lookup of another company's document = %v, %v; want an IdentityError and no values", vals, err)
	}
	if ie.Got != "556999-0004" || ie.Asked != fjallglas || errors.Is(err, massupdate.ErrNotFound) {
		t.Errorf("IdentityError %+v", ie)
	}
	want := "Proff answered with the document of organisation number 556999-0004, not " + orgnr.Display(orgnr.SE, fjallglas)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("reason %q, want it to say %q", err, want)
	}
	// The Norwegian example's number in an FI lookup, as a number and unreadable: never the company.
	for _, other := range []any{"912345688", 31234564, "\x1b[2Jnot a number"} {
		d["organisationNumber"] = other
		f.emu.SetDocument("FI", revontuli, encode(t, d))
		if _, err := f.c.Lookup(ctx, "FI", revontuli); !errors.As(err, &ie) || strings.ContainsRune(err.Error(), '\x1b') {
			t.Errorf("FI lookup answered with organisationNumber %q: %v", other, err)
		}
	}
	// The company's own number as a JSON number, and a document without a number: accepted (see
	// checkIdentity for why).
	for _, own := range []any{json.Number(revontuli), nil} {
		d["organisationNumber"] = own
		f.emu.SetDocument("FI", revontuli, encode(t, d))
		if _, err := f.c.Lookup(ctx, "FI", revontuli); err != nil {
			t.Errorf("FI lookup answered with organisationNumber %v: %v", own, err)
		}
	}
}

// A document of the wrong shape fails: not an object at all, a number where text is, a string where an
// object or a list is on a mapped path. A path the catalogue does not list still arrives as text.
func TestWrongShapeDocumentsFail(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) {
		o.Points = points(t, "name", "visitorAddress.zipCode", "location.coordinates[0].XCoordinate", "revenue",
			"registeredForVat", "establishedDate", "accounts.SDI")
	})
	ctx := context.Background()
	for _, doc := range []string{`[]`, `"FJORDLYS TEKNOLOGI AS"`, `42`, `true`} {
		f.emu.SetDocument("NO", fjordlys, []byte(doc))
		if vals, err := f.c.Lookup(ctx, "NO", fjordlys); !errors.Is(err, proff.ErrMalformed) || vals != nil {
			t.Errorf("document %s: %v, %v; want ErrMalformed", doc, vals, err)
		}
	}
	for _, tc := range []struct{ doc, path string }{
		{`{"name":42}`, "name"},
		{`{"name":["FJORDLYS"]}`, "name"},
		{`{"name":{"value":"FJORDLYS"}}`, "name"},
		{`{"visitorAddress":"Storgata 1, 0155 Oslo"}`, "visitorAddress"},
		{`{"location":{"coordinates":{"XCoordinate":10.7}}}`, "location.coordinates"},
		{`{"revenue":true}`, "revenue"},
		{`{"revenue":{"amount":"112934"}}`, "revenue"},
		{`{"registeredForVat":{"value":true}}`, "registeredForVat"},
		{`{"establishedDate":20000204}`, "establishedDate"},
		{`{"annualAccounts":{"year":"2022"}}`, "annualAccounts"},
	} {
		f.emu.SetDocument("NO", fjordlys, []byte(tc.doc))
		vals, err := f.c.Lookup(ctx, "NO", fjordlys)
		var se *proff.ShapeError
		if !errors.Is(err, proff.ErrWrongShape) || !errors.Is(err, proff.ErrMalformed) || !errors.As(err, &se) || vals != nil {
			t.Errorf("document %s: %v, %v; want a ShapeError", tc.doc, vals, err)
			continue
		}
		if se.Path != tc.path {
			t.Errorf("document %s: the shape error names %q, want %q", tc.doc, se.Path, tc.path)
		}
	}
	// Numbers as strings are the quirk of the numeric points; null is no value; an unlisted path is text.
	other, _ := proff.ResolvePoint("keyFigures.someCount")
	got, err := proff.ExtractAt([]byte(`{"revenue":"112934","name":null,"visitorAddress":null,"keyFigures":{"someCount":42}}`),
		append(points(t, "revenue", "name", "visitorAddress.zipCode"), other), clocktest.Start)
	if err != nil || got["revenue"] != 112934000.0 || got["keyFigures.someCount"] != "42" || len(got) != 2 {
		t.Errorf("lenient values: %v, %v", got, err)
	}
}

// Every money point against the real-shaped example: thousands become full units, ratios stay as they are,
// currency and year are the newest accounts'.
func TestMoneyPointsOfTheExample(t *testing.T) {
	t.Parallel()
	names := []string{"revenue", "profit", "shareCapital", "accounts.SDI", "accounts.DR", "accounts.ORS",
		"accounts.AARS", "accounts.SEK", "accounts.SGE", "accounts.EBITDA", "accounts.EKA", "accounts.LGR",
		"accounts.OPAV", "accounts.currency", "accounts.year", "accounts.NOSUCHCODE"}
	want := map[string]any{
		"revenue": 112934000.0, "profit": 11070000.0, "shareCapital": 735000.0,
		"accounts.SDI": 112934000.0, "accounts.DR": 11070000.0, "accounts.ORS": 10881000.0,
		"accounts.AARS": 8428000.0, "accounts.SEK": 11754000.0, "accounts.SGE": 46965000.0,
		"accounts.EBITDA": 11182000.0, "accounts.EKA": 25.0, "accounts.LGR": 1.16, "accounts.OPAV": 2402900.0,
		"accounts.currency": "NOK", "accounts.year": 2022.0,
	}
	ps := points(t, names...)
	got, err := proff.ExtractAt(encode(t, template(t)), ps, clocktest.Start)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("got %d values, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}

	// Select by code and by year, never by position: the years listed oldest first, each year's codes in
	// reverse order, and EBITDA missing from the newest year (so the year before has it).
	d := template(t)
	years := d["annualAccounts"].([]any)
	slices.Reverse(years)
	for _, y := range years {
		m := y.(map[string]any)
		accs := m["accounts"].([]any)
		slices.Reverse(accs)
		if m["year"] == "2022" {
			m["accounts"] = slices.DeleteFunc(accs, func(a any) bool { return a.(map[string]any)["code"] == "EBITDA" })
		}
	}
	got, err = proff.ExtractAt(encode(t, d), ps, clocktest.Start)
	if err != nil {
		t.Fatal(err)
	}
	want["accounts.EBITDA"] = 8883000.0
	for k, v := range want {
		if got[k] != v {
			t.Errorf("reordered: %s = %#v, want %#v", k, got[k], v)
		}
	}
	// Fractions of a thousand are exact in full units.
	got, _ = proff.ExtractAt([]byte(`{"revenue":"0,1","profit":"-12.345"}`), ps, clocktest.Start)
	if got["revenue"] != 100.0 || got["profit"] != -12345.0 {
		t.Errorf("fractions: %v", got)
	}
}

// Every catalogue point states a unit; the amounts say they are full units; profit is the operating result.
func TestCatalogueUnitsAndMeanings(t *testing.T) {
	t.Parallel()
	for _, p := range proff.Catalogue() {
		if p.Unit == "" {
			t.Errorf("%s has no unit", p.Name)
		}
		if p.Unknown {
			t.Errorf("%s is listed, yet marked unknown", p.Name)
		}
	}
	for _, name := range []string{"revenue", "profit", "accounts.SDI", "accounts.SGE", "accounts.XYZ", "shareCapital"} {
		if p, err := proff.ResolvePoint(name); err != nil || p.Unit != proff.UnitAmount || !proff.IsAmount(p) {
			t.Errorf("%s: %+v, %v; want an amount in full units", name, p, err)
		}
	}
	for name, unit := range map[string]string{"accounts.EKA": proff.UnitPercent, "accounts.eka": proff.UnitPercent,
		"accounts.LGR": proff.UnitRatio, "accounts.currency": proff.UnitCurrency, "accounts.year": proff.UnitYear,
		"employees": proff.UnitCount, "status.statusDate": proff.UnitDate} {
		if p, err := proff.ResolvePoint(name); err != nil || p.Unit != unit || proff.IsAmount(p) {
			t.Errorf("%s: %+v, %v; want unit %s", name, p, err, unit)
		}
	}
	profit, _ := proff.ResolvePoint("profit")
	if strings.Contains(profit.Description, "profit before tax") || !strings.Contains(profit.Description, "operating result") {
		t.Errorf("profit says %q", profit.Description)
	}
	mp, _ := proff.ResolvePoint("marketingProtection")
	if !strings.Contains(mp.Description, "Denmark only") {
		t.Errorf("marketingProtection says %q", mp.Description)
	}
	if p, err := proff.ResolvePoint("status.statusDate"); err != nil || p.Kind != mapping.Date {
		t.Errorf("status.statusDate = %+v, %v", p, err)
	}
	for _, bad := range []string{"accounts.", "accounts.S D I", "accounts.SDI.x"} {
		if _, err := proff.ResolvePoint(bad); !errors.Is(err, proff.ErrUnknownPoint) {
			t.Errorf("ResolvePoint(%q) = %v", bad, err)
		}
	}
}

// check's currency warning: an amount into a currency field of an org whose currency differs from the
// companies'.
func TestCurrencyWarnings(t *testing.T) {
	t.Parallel()
	ps := points(t, "revenue", "accounts.EKA", "employees", "profit")
	types := map[string]string{"revenue": "currency", "accounts.EKA": "percent", "employees": "int", "profit": "double"}
	if w := proff.CurrencyWarnings(ps, types, "NOK", []orgnr.Country{orgnr.NO}); len(w) != 0 {
		t.Errorf("NOK org, NO companies: %v", w)
	}
	w := proff.CurrencyWarnings(ps, types, "NOK", []orgnr.Country{orgnr.NO, orgnr.SE, orgnr.FI})
	if len(w) != 1 || !strings.HasPrefix(w[0], "revenue") || !strings.Contains(w[0], "SE companies report in SEK") ||
		!strings.Contains(w[0], "FI companies report in EUR") || !strings.Contains(w[0], "never converted") {
		t.Errorf("NOK org, NO SE FI companies: %q", w)
	}
	if !proff.AmountToCurrencyField(ps[0], "Currency") || proff.AmountToCurrencyField(ps[0], "double") ||
		proff.AmountToCurrencyField(ps[1], "currency") {
		t.Error("AmountToCurrencyField")
	}
	for cc, cur := range map[orgnr.Country]string{orgnr.NO: "NOK", orgnr.SE: "SEK", orgnr.DK: "DKK", orgnr.FI: "EUR"} {
		if proff.Currency(cc) != cur {
			t.Errorf("Currency(%s) = %s", cc, proff.Currency(cc))
		}
	}
}

// marketingProtection means something for Danish companies only: elsewhere its false is "not applicable"
// and is no value.
func TestMarketingProtectionIsDanishOnly(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Points = points(t, "marketingProtection", "name") })
	ctx := context.Background()
	got, err := f.c.Lookup(ctx, "DK", havnelys)
	if err != nil || got["marketingProtection"] != false {
		t.Errorf("DK: %v, %v; want marketingProtection false", got, err)
	}
	for _, tc := range []struct{ cc, nr string }{{"NO", fjordlys}, {"SE", skargard}, {"FI", revontuli}} {
		got, err := f.c.Lookup(ctx, tc.cc, tc.nr)
		if _, has := got["marketingProtection"]; err != nil || has || got["name"] == nil {
			t.Errorf("%s: %v, %v; want no marketingProtection value", tc.cc, got, err)
		}
	}
}

// A top-level key the catalogue does not know is mappable, as text or by its type: hint, and marked
// unknown; a deeper path under it is still a typo; a listed point keeps its kind.
func TestUnknownTopLevelKeys(t *testing.T) {
	t.Parallel()
	p, err := proff.ResolvePoint("ehfAcceptanceStatus")
	if err != nil || !p.Unknown || p.Kind != mapping.Text || p.Name != "ehfAcceptanceStatus" {
		t.Fatalf("ResolvePoint(ehfAcceptanceStatus) = %+v, %v", p, err)
	}
	b, err := proff.ResolvePointAs("ehfAcceptanceStatus", mapping.Boolean)
	if err != nil || b.Kind != mapping.Boolean || !b.Unknown {
		t.Fatalf("ResolvePointAs(boolean) = %+v, %v", b, err)
	}
	n, _ := proff.ResolvePointAs("newCount", mapping.Integer)
	dt, _ := proff.ResolvePointAs("newDate", mapping.Date)
	doc := []byte(`{"ehfAcceptanceStatus":true,"newCount":"12","newDate":"01.02.2025","newObject":{"a":1}}`)
	obj, _ := proff.ResolvePoint("newObject")
	got, err := proff.ExtractAt(doc, []proff.DataPoint{b, n, dt, obj}, clocktest.Start)
	want := map[string]any{"ehfAcceptanceStatus": true, "newCount": 12.0, "newDate": mapping.DateValue(2025, 2, 1), "newObject": `{"a":1}`}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Extract = %v, %v; want %v", got, err, want)
	}
	if got, _ := proff.ExtractAt(doc, []proff.DataPoint{p}, clocktest.Start); got["ehfAcceptanceStatus"] != "true" {
		t.Errorf("as text: %v", got)
	}
	if _, err := proff.ResolvePoint("visitorAdress.zipCode"); !errors.Is(err, proff.ErrUnknownPoint) {
		t.Errorf("a path under an unknown key: %v", err)
	}
	if _, err := proff.ResolvePointAs("name", mapping.Number); err == nil {
		t.Error("a type: hint that contradicts a listed point was accepted")
	}
	if p, err := proff.ResolvePointAs("name", mapping.Text); err != nil || p.Kind != mapping.Text {
		t.Errorf("the listed kind as hint: %+v, %v", p, err)
	}
	if _, err := proff.ResolvePointAs("newCount", "money"); !errors.Is(err, mapping.ErrKind) {
		t.Errorf("an unknown type: %v", err)
	}
	if p, _ := proff.ResolvePoint("name"); p.Unknown {
		t.Error("name is unknown")
	}
	if w := proff.PathWarnings("ehfAcceptanceStatus"); len(w) != 1 || !strings.Contains(w[0], "does not know") {
		t.Errorf("warnings %q", w)
	}
	if w := proff.PathWarnings("nmae"); len(w) != 1 || !strings.Contains(w[0], "did you mean name?") {
		t.Errorf("warnings %q", w)
	}
	if w := proff.PathWarnings("name"); len(w) != 0 {
		t.Errorf("warnings for name: %q", w)
	}
}

// The paths the published specification spells differently are warned about, with the real spelling.
func TestSpecSpellingWarnings(t *testing.T) {
	t.Parallel()
	for name, real := range map[string]string{
		"centralApproval.approvalStatus":          "centralApproval.status",
		"centralApproval.approvalStatus.approved": "centralApproval.status",
		"mortgages.mortgagesOverview":             "mortgages.overview",
		"mortgages.mortgages":                     "mortgages.list",
		"mortgages.mortgages[0].amount":           "mortgages.list",
		"annualAccounts[0].periodEnd.year":        "annualAccounts[i].periodEnd",
		"annualAccounts[2].periodStart.month":     "annualAccounts[i].periodStart",
	} {
		w := proff.PathWarnings(name)
		if len(w) != 1 || !strings.Contains(w[0], real) || !strings.Contains(w[0], "published specification") {
			t.Errorf("PathWarnings(%q) = %q, want one naming %s", name, w, real)
		}
	}
	for _, name := range []string{"centralApproval.status", "mortgages.overview", "mortgages.list",
		"annualAccounts[0].periodEnd", "revenue", "personRoles"} {
		if w := proff.PathWarnings(name); len(w) != 0 {
			t.Errorf("PathWarnings(%q) = %q, want none", name, w)
		}
	}
	p, err := proff.ResolvePoint("annualAccounts[1].periodEnd")
	if err != nil || p.Kind != mapping.Date {
		t.Errorf("periodEnd = %+v, %v", p, err)
	}
}

// memForms is an in-memory FormMemory.
type memForms struct {
	mu   sync.Mutex
	m    map[string][]string
	sets int
}

func (m *memForms) NumberForms(_ context.Context, cc string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.m[cc]), nil
}

func (m *memForms) SetNumberForm(_ context.Context, cc, form string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string][]string{}
	}
	if !slices.Contains(m.m[cc], form) {
		m.m[cc] = append(m.m[cc], form)
	}
	m.sets++
	return nil
}

func lookups(f *fixture) int {
	n := 0
	for _, r := range f.emu.Requests() {
		if strings.HasPrefix(r.Path, "/api/companies/register/") {
			n++
		}
	}
	return n
}

func unknownSE(i int) string { return proffemu.ValidNumber(orgnr.SE, fmt.Sprintf("55688%04d", i)) }

// When the digits work, the fallback costs nothing more: ten not-found SE numbers take ten calls.
func TestNumberFormFallbackCostOnceDigitsWork(t *testing.T) {
	t.Parallel()
	mem := &memForms{}
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Forms = mem })
	ctx := context.Background()
	if _, err := f.c.Lookup(ctx, "SE", skargard); err != nil {
		t.Fatal(err)
	}
	if got := mem.m["SE"]; !slices.Equal(got, []string{proff.FormDigits}) || lookups(f) != 1 {
		t.Fatalf("after the first company: memory %v, %d calls", got, lookups(f))
	}
	for i := range 10 {
		if _, err := f.c.Lookup(ctx, "SE", unknownSE(i)); !errors.Is(err, massupdate.ErrNotFound) {
			t.Fatalf("unknown %d: %v", i, err)
		}
	}
	if n := lookups(f); n != 11 {
		t.Errorf("1 company and 10 not-found numbers took %d calls, want 11", n)
	}
	// Nothing known yet: each not-found tries both forms, until a company is found.
	fresh := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Forms = &memForms{} })
	for i := range 3 {
		fresh.c.Lookup(ctx, "FI", proffemu.ValidNumber(orgnr.FI, fmt.Sprintf("29%05d", i)))
	}
	if n := lookups(fresh); n != 6 {
		t.Errorf("3 FI not-founds with nothing known took %d calls, want 6", n)
	}
	var paths []string
	for _, r := range fresh.emu.Requests()[:2] {
		paths = append(paths, r.Path)
	}
	if want := []string{"/api/companies/register/FI/29000004", "/api/companies/register/FI/2900000-4"}; !slices.Equal(paths, want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
}

// An API that answers only the hyphenated form costs two calls for the first company and one for each after,
// in this run and the next (the memory holds it); both forms are counted.
func TestNumberFormFallbackHyphenatedOnly(t *testing.T) {
	t.Parallel()
	mem := &memForms{}
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Forms = mem })
	f.emu.NumberForms("SE", false, true)
	third := proffemu.ValidNumber(orgnr.SE, "556777000")
	f.emu.AddCompany(proffemu.Company{Country: "SE", OrgNumber: third, Name: "TREDJE BOLAGET AB"})
	ctx := context.Background()
	for i, nr := range []string{skargard, fjallglas, third} {
		if _, err := f.c.Lookup(ctx, "SE", nr); err != nil {
			t.Fatalf("company %d: %v", i, err)
		}
		if n, want := lookups(f), 2+i; n != want {
			t.Errorf("after company %d: %d calls, want %d", i+1, n, want)
		}
	}
	if got := mem.m["SE"]; !slices.Equal(got, []string{proff.FormHyphenated}) || mem.sets != 1 {
		t.Errorf("memory %v after %d sets, want hyphenated once", got, mem.sets)
	}
	want := []proff.FormCount{{Country: "SE", Form: proff.FormDigits, Calls: 1}, {Country: "SE", Form: proff.FormHyphenated, Calls: 3}}
	if got := f.c.NumberFormCalls(); !slices.Equal(got, want) {
		t.Errorf("NumberFormCalls = %v, want %v", got, want)
	}
	// The next run's client reads the memory: one call from the first company on.
	next, err := proff.New(proff.Options{BaseURL: f.emu.URL(), Token: secret, RatePerSecond: 1000, Forms: mem,
		Points: points(t, "name"), Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	f.emu.ResetRequests()
	if _, err := next.Lookup(ctx, "SE", skargard); err != nil || lookups(f) != 1 {
		t.Errorf("next run: %v, %d calls, want 1", err, lookups(f))
	}
	if r := f.emu.Requests()[0]; r.Path != "/api/companies/register/SE/556999-0004" {
		t.Errorf("next run asked %s", r.Path)
	}
	// Norway and Denmark have one form: a not-found is one call.
	f.emu.ResetRequests()
	next.Lookup(ctx, "NO", "984851006")
	next.Lookup(ctx, "DK", proffemu.ValidNumber(orgnr.DK, "2000000"))
	if n := lookups(f); n != 2 {
		t.Errorf("NO and DK not-founds took %d calls, want 2", n)
	}
}

// In a known state, one not-found in fifty still tries the other form, so that a change of form on Proff's
// side is learnt within a run.
func TestNumberFormProbe(t *testing.T) {
	t.Parallel()
	mem := &memForms{m: map[string][]string{"SE": {proff.FormHyphenated}}}
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Forms = mem })
	ctx := context.Background()
	for i := range 49 {
		f.c.Lookup(ctx, "SE", unknownSE(i))
	}
	if n := lookups(f); n != 49 {
		t.Fatalf("49 not-founds took %d calls", n)
	}
	// The emulator answers digits only (its default): the 50th lookup the hyphenated form does not find
	// probes them, finds Skärgårdsdata, and the digits are remembered.
	if _, err := f.c.Lookup(ctx, "SE", skargard); err != nil {
		t.Fatalf("the probe: %v", err)
	}
	if n := lookups(f); n != 51 || !slices.Contains(mem.m["SE"], proff.FormDigits) {
		t.Errorf("%d calls, memory %v; want 51 and digits remembered", n, mem.m["SE"])
	}
	if _, err := f.c.Lookup(ctx, "SE", fjallglas); err != nil || lookups(f) != 52 {
		t.Errorf("with digits known: %v, %d calls, want 52", err, lookups(f))
	}
}
