package proffemu

import (
	"encoding/json"
	"fmt"
	"maps"
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
	d["organisationNumber"] = orNull(c.OrgNumber)
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
	}
	d["link"] = map[string]any{"href": fmt.Sprintf("https://api.proff.no/companies/register/%s/%s", cc, c.OrgNumber),
		"rel": "related"}
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
	return b
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
			NaceCategories: []string{"10.520 Glassproduksjon"}, Revenue: "6100", Profit: "410",
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
