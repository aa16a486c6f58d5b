package proffemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/proffconnect/proffsync/internal/orgnr"
)

// Company holds the values of a fictional company that a demo would map. Empty strings become JSON null,
// as Proff sends them.
type Company struct {
	Country   string // NO, SE, DK, FI
	OrgNumber string // canonical digits (FI without hyphen), as the lookup path carries it
	Name      string

	CompanyType, CompanyTypeName string
	AddressLine, ZipCode         string // postal and visiting address
	PostPlace                    string
	Municipality, County         string
	HomePage, Phone, Email       string
	NumberOfEmployees            string // as Proff sends it: "69", "10-19", …
	NaceCategories               []string
	Revenue, Profit              string // thousands, as strings like Proff
	EstablishedDate              string // yyyy-MM-dd
	RegistrationDate             string // dd.MM.yyyy
	FoundationDate               string // dd.MM.yyyy
	Status                       string // status.statusFlag, e.g. ACTIVE
	// AccountYears, when more than the example's two, gives the document that many years of accounts
	// (newest first, ending with the example's newest year), so that a real document's size is exercised:
	// 28 years make about 450 KB.
	AccountYears int
	// Extra sets (or, with a nil value, removes) top-level keys after everything else.
	Extra map[string]any
}

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Document builds the register document of c in the shape of the real API: the example document with c's
// values in place. yearsInOperation is left out, as Proff stopped sending it.
func Document(c Company) []byte {
	// A shallow copy is enough: only top-level keys are replaced, and location is copied before it changes.
	d := maps.Clone(templateDoc())
	cc := strings.ToUpper(c.Country)
	d["name"] = orNull(c.Name)
	// Each register writes its numbers its own way: 556999-0004 in Sweden, 3123456-3 in Finland.
	d["organisationNumber"] = orNull(orgnr.Display(orgnr.Country(cc), c.OrgNumber))
	d["companyId"] = orNull(c.OrgNumber)
	d["companyType"] = orNull(c.CompanyType)
	d["companyTypeName"] = orNull(c.CompanyTypeName)
	d["homePage"] = orNull(c.HomePage)
	d["email"] = orNull(c.Email)
	d["numberOfEmployees"] = orNull(c.NumberOfEmployees)
	d["revenue"] = orNull(c.Revenue)
	d["profit"] = orNull(c.Profit)
	d["establishedDate"] = orNull(c.EstablishedDate)
	d["registrationDate"] = orNull(c.RegistrationDate)
	d["foundationDate"] = orNull(c.FoundationDate)
	if len(c.FoundationDate) == 10 {
		d["foundationYear"] = c.FoundationDate[6:]
	} else {
		d["foundationYear"] = nil
	}
	delete(d, "yearsInOperation")
	nace := []any{}
	for _, n := range c.NaceCategories {
		nace = append(nace, n)
	}
	d["naceCategories"] = nace
	addr := map[string]any{"addressLine": orNull(c.AddressLine), "boxAddressLine": nil,
		"zipCode": orNull(c.ZipCode), "postPlace": orNull(c.PostPlace)}
	d["postalAddress"] = addr
	d["visitorAddress"] = addr
	d["phoneNumbers"] = map[string]any{"telephoneNumber": orNull(c.Phone), "telephoneNumber2": nil,
		"mobilePhone": nil, "mobilePhone2": nil, "faxNumber": nil}
	d["status"] = map[string]any{"statusFlag": orNull(c.Status), "description": nil}
	if loc, ok := d["location"].(map[string]any); ok {
		loc = maps.Clone(loc)
		d["location"] = loc
		loc["municipality"] = orNull(c.Municipality)
		loc["county"] = orNull(c.County)
		loc["countryCode"] = cc
	}
	d["link"] = map[string]any{"href": fmt.Sprintf("https://api.proff.no/companies/register/%s/%s", cc, c.OrgNumber),
		"rel": "related"}
	localise(d, cc, c)
	accounts(d, c)
	for k, v := range c.Extra {
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic("proffemu: document: " + err.Error())
	}
	if cc != "NO" {
		// The example's links to related companies and persons are Norwegian.
		b = bytes.ReplaceAll(b, []byte("/register/NO/"), []byte("/register/"+cc+"/"))
		b = bytes.ReplaceAll(b, []byte("/business/NO/"), []byte("/business/"+cc+"/"))
	}
	return b
}

// country is what differs between the registers of the four countries, as far as a document shows it.
type country struct {
	currency, countryPart, ceo string
	x, y                       float64 // a point in the capital (EPSG:4326)
}

var countries = map[string]country{
	"NO": {"NOK", "Østlandet", "Daglig leder", 10.75, 59.91},
	"SE": {"SEK", "Hela Sverige", "Verkställande direktör", 18.07, 59.33},
	"DK": {"DKK", "Hele Danmark", "Direktør", 12.57, 55.68},
	"FI": {"EUR", "Koko Suomi", "Toimitusjohtaja", 24.94, 60.17},
}

// localise makes the Norwegian example plausible for cc: currency, part of the country, coordinates, and no
// value for what only the Norwegian registers have (NAV, the register of non-profit organisations, the
// institutional sector code, Brønnøysund's announcements).
func localise(d map[string]any, cc string, c Company) {
	k, ok := countries[cc]
	if !ok {
		return
	}
	if loc, ok := d["location"].(map[string]any); ok {
		loc["countryPart"] = k.countryPart
		if cc != "NO" {
			loc["coordinates"] = []any{map[string]any{"XCoordinate": k.x, "YCoordinate": k.y, "coordinateSystem": "EPSG:4326"}}
		}
	}
	if cp, ok := d["contactPerson"].(map[string]any); ok {
		cp = maps.Clone(cp)
		cp["role"] = k.ceo
		d["contactPerson"] = cp
	}
	if cc != "NO" {
		for _, key := range []string{"registeredForNav", "registeredForVoluntary", "sectorCode"} {
			d[key] = nil
		}
		d["announcements"] = []any{}
	}
	for _, key := range []string{"annualAccounts", "companyAccounts", "companyCacheFlows", "corporateAccounts", "corporateCacheFlows"} {
		list, _ := d[key].([]any)
		out := make([]any, len(list))
		for i, y := range list {
			if m, ok := y.(map[string]any); ok {
				m = maps.Clone(m)
				m["currency"] = k.currency
				y = m
			}
			out[i] = y
		}
		d[key] = out
	}
}

// accounts gives the newest annual accounts the company's revenue and operating result (SDI and DR, in
// thousands, as revenue and profit are) and, for AccountYears, that many years.
func accounts(d map[string]any, c Company) {
	years := max(c.AccountYears, 0)
	for _, key := range []string{"annualAccounts", "companyAccounts", "companyMain", "companyCacheFlows"} {
		list, _ := d[key].([]any)
		if len(list) == 0 {
			continue
		}
		newest, _ := list[0].(map[string]any)
		if newest == nil {
			continue
		}
		if years > len(list) {
			list = make([]any, years)
			for i := range list {
				list[i] = accountYear(newest, i)
			}
			if group := groupKeys[key]; group != "" {
				// A group's accounts, as large companies have them: the size of a real big document.
				d[group] = list
			}
		}
		if key == "annualAccounts" || key == "companyAccounts" {
			first := maps.Clone(list[0].(map[string]any))
			first["accounts"] = setAccounts(first["accounts"], map[string]string{"SDI": c.Revenue, "DR": c.Profit})
			list = append([]any{first}, list[1:]...)
		}
		d[key] = list
	}
	if years > 2 {
		// Brønnøysund's announcements over the years, as a company with a long history has them.
		var ann []any
		if cur, ok := d["announcements"].([]any); ok && len(cur) > 0 {
			for y := 0; y < years; y++ {
				for i, a := range cur {
					m, ok := a.(map[string]any)
					if !ok {
						continue
					}
					m = maps.Clone(m)
					m["id"] = fmt.Sprintf("%04d%010d", 2023-y, i)
					if date, ok := m["date"].(string); ok && len(date) == 10 {
						m["date"] = date[:6] + strconv.Itoa(2023-y)
					}
					ann = append(ann, m)
				}
			}
			d["announcements"] = ann
		}
	}
}

// groupKeys name the group's (corporate) list that mirrors a company list.
var groupKeys = map[string]string{"annualAccounts": "corporateAccounts", "companyMain": "corporateMain",
	"companyCacheFlows": "corporateCacheFlows"}

// accountYear is the newest year's accounts moved back i years, amounts shrunk by 4 % a year.
func accountYear(newest map[string]any, i int) map[string]any {
	m := maps.Clone(newest)
	year := 2022 - i
	shift := func(k string) {
		if s, ok := m[k].(string); ok && len(s) >= 4 {
			m[k] = strconv.Itoa(year) + s[4:]
		}
	}
	for _, k := range []string{"year", "period", "periodStart", "periodEnd"} {
		shift(k)
	}
	factor := math.Pow(0.96, float64(i))
	if list, ok := m["accounts"].([]any); ok {
		out := make([]any, len(list))
		for j, a := range list {
			if am, ok := a.(map[string]any); ok {
				am = maps.Clone(am)
				if s, ok := am["amount"].(string); ok {
					if f, err := strconv.ParseFloat(s, 64); err == nil {
						am["amount"] = strconv.FormatInt(int64(math.Round(f*factor)), 10)
					}
				}
				a = am
			}
			out[j] = a
		}
		m["accounts"] = out
	}
	return m
}

// setAccounts returns the account list with the given codes' amounts replaced (empty values left alone).
func setAccounts(list any, amounts map[string]string) any {
	l, ok := list.([]any)
	if !ok {
		return list
	}
	out := make([]any, len(l))
	for i, a := range l {
		if am, ok := a.(map[string]any); ok {
			if v := amounts[fmt.Sprint(am["code"])]; v != "" {
				am = maps.Clone(am)
				am["amount"] = v
				a = am
			}
		}
		out[i] = a
	}
	return out
}

// ValidNumber completes a prefix (all digits but the last) with its check digit: fictional org numbers
// that pass validation. It panics when no check digit fits the prefix.
func ValidNumber(c orgnr.Country, prefix string) string {
	for d := '0'; d <= '9'; d++ {
		n := prefix + string(d)
		if orgnr.Valid(c, n) {
			return n
		}
	}
	panic(fmt.Sprintf("proffemu: no check digit completes %s %s", c, prefix))
}

// Seed returns the fictional companies a new emulator holds: two or three per country, with the quirks of
// real answers (employees as a range, missing values).
func Seed() []Company {
	return []Company{
		{Country: "NO", OrgNumber: ValidNumber(orgnr.NO, "91234568"), Name: "FJORDLYS TEKNOLOGI AS", CompanyType: "AS",
			CompanyTypeName: "Aksjeselskap", AddressLine: "Storgata 1", ZipCode: "0155", PostPlace: "Oslo",
			Municipality: "Oslo", County: "Oslo", HomePage: "https://www.fjordlys.example", Phone: "22000000",
			Email: "post@fjordlys.example", NumberOfEmployees: "69",
			NaceCategories: []string{"62.020 Konsulentvirksomhet tilknyttet informasjonsteknologi"},
			Revenue:        "112934", Profit: "11070", EstablishedDate: "2000-02-04", RegistrationDate: "23.02.2000",
			FoundationDate: "04.02.2000", Status: "ACTIVE"},
		{Country: "NO", OrgNumber: ValidNumber(orgnr.NO, "92000001"), Name: "NORDLYS BAKERI AS", CompanyType: "AS",
			CompanyTypeName: "Aksjeselskap", AddressLine: "Bakkegata 7", ZipCode: "9008", PostPlace: "Tromsø",
			Municipality: "Tromsø", County: "Troms", NumberOfEmployees: "10-19",
			NaceCategories: []string{"10.710 Produksjon av brød og ferske konditorvarer"},
			Revenue:        "15400", Profit: "-220", EstablishedDate: "2012-05-14", RegistrationDate: "14.05.2012",
			FoundationDate: "02.05.2012", Status: "ACTIVE"},
		{Country: "NO", OrgNumber: ValidNumber(orgnr.NO, "93000002"), Name: "VESTKYST RÅD ENK", CompanyType: "ENK",
			CompanyTypeName: "Enkeltpersonforetak", PostPlace: "Bergen", Status: "ACTIVE",
			RegistrationDate: "01.03.2019"},
		{Country: "SE", OrgNumber: ValidNumber(orgnr.SE, "556999000"), Name: "Skärgårdsdata AB", CompanyType: "AB",
			CompanyTypeName: "Aktiebolag", AddressLine: "Hamngatan 3", ZipCode: "111 47", PostPlace: "Stockholm",
			Municipality: "Stockholm", County: "Stockholms län", HomePage: "https://skargardsdata.example",
			Phone: "08-123 456 00", NumberOfEmployees: "25",
			NaceCategories: []string{"62.010 Dataprogrammering"}, Revenue: "48210", Profit: "3120",
			EstablishedDate: "2005-09-01", RegistrationDate: "01.09.2005", Status: "ACTIVE"},
		{Country: "SE", OrgNumber: ValidNumber(orgnr.SE, "559111222"), Name: "Fjällglass AB", CompanyType: "AB",
			AddressLine: "Storgatan 12", ZipCode: "831 30", PostPlace: "Östersund", NumberOfEmployees: "5-9",
			NaceCategories: []string{"10.520 Tillverkning av glass"}, Revenue: "6100", Profit: "410",
			EstablishedDate: "2018-04-20", Status: "ACTIVE"},
		{Country: "DK", OrgNumber: ValidNumber(orgnr.DK, "3999990"), Name: "Havnelys ApS", CompanyType: "APS",
			CompanyTypeName: "Anpartsselskab", AddressLine: "Nyhavn 20", ZipCode: "1051", PostPlace: "København K",
			HomePage: "https://havnelys.example", Phone: "33 12 34 56", NumberOfEmployees: "42",
			NaceCategories: []string{"70.220 Virksomhedsrådgivning"}, Revenue: "39000", Profit: "2500",
			EstablishedDate: "2009-11-02", RegistrationDate: "02.11.2009", Status: "ACTIVE"},
		{Country: "DK", OrgNumber: ValidNumber(orgnr.DK, "4123456"), Name: "Klitgaard Cykler ApS", CompanyType: "APS",
			PostPlace: "Aarhus C", NumberOfEmployees: "ca. 3", NaceCategories: []string{"47.640 Detailhandel med sportsudstyr"},
			EstablishedDate: "2021-01-15", Status: "ACTIVE"},
		{Country: "FI", OrgNumber: ValidNumber(orgnr.FI, "3123456"), Name: "Revontuli Ohjelmistot Oy", CompanyType: "OY",
			CompanyTypeName: "Osakeyhtiö", AddressLine: "Mannerheimintie 5", ZipCode: "00100", PostPlace: "Helsinki",
			HomePage: "https://revontuli.example", NumberOfEmployees: "120", NaceCategories: []string{"62.010 Ohjelmistojen suunnittelu ja valmistus"},
			Revenue: "210500", Profit: "18800", EstablishedDate: "1998-06-30", RegistrationDate: "30.06.1998", Status: "ACTIVE"},
		{Country: "FI", OrgNumber: ValidNumber(orgnr.FI, "2987654"), Name: "Järvimaisema Oy", CompanyType: "OY",
			PostPlace: "Tampere", NumberOfEmployees: "1-4", NaceCategories: []string{"55.100 Hotellit"},
			EstablishedDate: "2016-02-29", Status: "ACTIVE"},
	}
}

// templateDoc is the example document, decoded once: decoding it per company made every emulator slow.
var templateDoc = sync.OnceValue(func() map[string]any {
	var d map[string]any
	if err := json.Unmarshal(template, &d); err != nil {
		panic("proffemu: template.json is not JSON: " + err.Error())
	}
	return d
})

type seedDoc struct {
	country, orgnr string
	doc            []byte
}

// seedDocs are the Seed companies' documents, built once per process.
var seedDocs = sync.OnceValue(func() []seedDoc {
	var out []seedDoc
	for _, c := range Seed() {
		out = append(out, seedDoc{c.Country, c.OrgNumber, Document(c)})
	}
	return out
})
