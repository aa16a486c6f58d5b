// Package sandbox is the demo's built-in world: a Salesforce emulator and a Proff emulator on loopback
// ports, seeded with fictional companies and accounts in all four countries that between them meet every
// outcome a run can have, and the config that points proffsync at them.
//
// Everything here is fictional and local. What must never happen here: a real endpoint, a real company's
// data, or a credential that works anywhere else.
package sandbox

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

// Options size the sandbox.
type Options struct {
	// Companies is how many fictional companies Proff knows (default 240).
	Companies int
	// Seed makes the data reproducible (default 2026).
	Seed uint64
	// ClientSecret and ProffToken replace the demo's credentials (tests that hunt for leaked secrets).
	ClientSecret, ProffToken string
	// ProffCallsPerMinute is the token's limit that Proff reports (default: high enough never to slow a run).
	ProffCallsPerMinute int
	// Shares are the countries' shares of the companies, in percent (ParseShares reads "NO=40,SE=20,…");
	// empty: NO, SE, DK and FI in turn, a quarter each. The benchmarks ask for the mix of a real CRM, where
	// the country with a change feed is a large part.
	Shares map[string]int
}

// Sandbox is a running pair of emulators with their seed data.
type Sandbox struct {
	SF    *sfemu.Server
	Proff *proffemu.Server
	// Expect counts what a run over the seeded accounts must end with.
	Expect Expect
	// Large is the company whose document is about 450 KB (28 years of accounts), as a big real one is:
	// an ordinary, updated account in every other respect, so the counts are those of a sandbox without it.
	Large proffemu.Company

	clientID, clientSecret, proffToken string
	control                            *httptest.Server // the day endpoint (control.go)
	seeded                             int              // how many companies were seeded
	seededBy                           map[string]int   // and per country

	// mu guards the simulated days: ChangeDay is called from the control endpoint's handlers too.
	mu sync.Mutex
	// companies are the seeded companies that accounts hold and that a run updates cleanly (neither
	// malformed nor rejected): the ones ChangeDay may change, in seed order.
	companies []proffemu.Company
	changed   int // how many of companies ChangeDay took so far
}

// Expect is what the seed was built to produce.
type Expect struct {
	Selected, MissingOrgNumber, InvalidOrgNumber, NotFound, Unchanged, Updated, Failed int
	OptedOut                                                                           int
}

// The demo's credentials: they open nothing but the sandbox's own emulators.
const (
	demoClientID     = "sandbox-connected-app"
	demoClientSecret = "sandbox-client-secret-not-real"
	demoProffToken   = "sandbox-proff-token-not-real"
)

// Start launches both emulators and seeds them.
func Start(o Options) *Sandbox {
	if o.Companies <= 0 {
		o.Companies = 240
	}
	if o.Seed == 0 {
		o.Seed = 2026
	}
	if o.ClientSecret == "" {
		o.ClientSecret = demoClientSecret
	}
	if o.ProffToken == "" {
		o.ProffToken = demoProffToken
	}
	if o.ProffCallsPerMinute == 0 {
		o.ProffCallsPerMinute = 6_000_000
	}
	s := &Sandbox{
		SF:       sfemu.New(sfemu.Options{ClientID: demoClientID, ClientSecret: o.ClientSecret, APIMax: 100000}),
		Proff:    proffemu.New(proffemu.Options{Token: o.ProffToken, Empty: true, CallLimitPerMinute: o.ProffCallsPerMinute}),
		clientID: demoClientID, clientSecret: o.ClientSecret, proffToken: o.ProffToken,
		seededBy: map[string]int{},
	}
	s.seed(o)
	s.seeded = o.Companies
	s.control = httptest.NewServer(http.HandlerFunc(s.serveControl))
	return s
}

// Close stops both emulators and the control endpoint.
func (s *Sandbox) Close() {
	s.control.Close()
	s.SF.Close()
	s.Proff.Close()
}

// Env is the environment that points proffsync at the sandbox (what `run` would be given), and, for a
// script that simulates days between runs, ControlEnv. proffsync reads nothing from ControlEnv.
func (s *Sandbox) Env(databaseURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL": databaseURL, "PROFF_API_URL": s.Proff.URL(), "PROFF_API_TOKEN": s.proffToken,
		"SF_LOGIN_URL": s.SF.URL(), "SF_CLIENT_ID": s.clientID, "SF_CLIENT_SECRET": s.clientSecret,
		ControlEnv: s.control.URL,
	}
}

// Config is the demo's configuration: the file a demo admin would write, and an environment pointing at
// the emulators. databaseURL is the real PostgreSQL the demo records in.
func (s *Sandbox) Config(databaseURL string) (*config.Config, error) {
	cfg, err := config.Parse("(built-in demo config)", []byte(DemoConfig))
	if err != nil {
		return nil, err
	}
	vars := s.Env(databaseURL)
	env, err := config.LoadEnv(func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	cfg.Env = env
	return cfg, nil
}

// DemoConfig is the config file of the demo.
const DemoConfig = `
salesforce:
  object: Account
  org_number_field: Org_Number__c
  country_field: Country_Code__c
  default_country: NO
  opt_in_field: Proff_Mass_Update__c
  last_synced_field: Proff_Last_Synced__c
mapping:
  - proff: name
    field: Name
    format: title
  - proff: visitorAddress.addressLine
    field: BillingStreet
  - proff: visitorAddress.zipCode
    field: BillingPostalCode
  - proff: visitorAddress.postPlace
    field: BillingCity
  - proff: homePage
    field: Website
    mode: fill_blank
  - proff: phoneNumbers.telephoneNumber
    field: Phone
    mode: fill_blank
  - proff: employees
    field: NumberOfEmployees
  - proff: nace.code
    field: Sic
proff:
  rate_limit_per_second: 100
  concurrency: 8
`

var (
	prefixes = map[string][]string{
		"NO": {"Fjord", "Nord", "Vest", "Fjell", "Havb", "Skog", "Lys", "Bre", "Elv", "Vik", "Stein", "Sol"},
		"SE": {"Skärgårds", "Fjäll", "Sjö", "Björk", "Gran", "Älv", "Ljus", "Berg", "Dal", "Ek", "Sten", "Vind"},
		"DK": {"Havne", "Klit", "Strand", "Bølge", "Eng", "Lyng", "Fyr", "Bøge", "Mose", "Sand", "Skov", "Vig"},
		"FI": {"Revontuli", "Järvi", "Kuusi", "Koivu", "Saari", "Tunturi", "Lumi", "Metsä", "Kallio", "Ranta", "Virta", "Tähti"},
	}
	trades = map[string][]string{
		"NO": {"Teknologi", "Bakeri", "Rådgivning", "Bygg", "Transport", "Data", "Fisk", "Eiendom"},
		"SE": {"data", "glass", "bygg", "konsult", "logistik", "design", "trä", "energi"},
		"DK": {"lys", "cykler", "rådgivning", "byg", "transport", "design", "fisk", "energi"},
		"FI": {"Ohjelmistot", "Rakennus", "Kuljetus", "Konsultointi", "Energia", "Design", "Puu", "Kala"},
	}
	forms  = map[string]string{"NO": "AS", "SE": "AB", "DK": "ApS", "FI": "Oy"}
	cities = map[string][]string{
		"NO": {"Oslo", "Bergen", "Trondheim", "Tromsø", "Stavanger", "Bodø"},
		"SE": {"Stockholm", "Göteborg", "Malmö", "Uppsala", "Östersund", "Umeå"},
		"DK": {"København K", "Aarhus C", "Odense C", "Aalborg", "Esbjerg", "Roskilde"},
		"FI": {"Helsinki", "Tampere", "Turku", "Oulu", "Espoo", "Rovaniemi"},
	}
	streets = map[string]string{"NO": "gata", "SE": "gatan", "DK": "gade", "FI": "katu"}
	// The same eight industries in each register's own words (the codes line up: a draw picks an index).
	naces = map[string][]string{
		"NO": {"62.010 Programmering", "62.020 Konsulentvirksomhet tilknyttet informasjonsteknologi",
			"10.710 Produksjon av brød", "41.200 Oppføring av bygninger", "49.410 Godstransport på vei",
			"70.220 Bedriftsrådgivning", "03.110 Hav- og kystfiske", "68.209 Utleie av eiendom"},
		"SE": {"62.010 Dataprogrammering", "62.020 Datakonsultverksamhet",
			"10.710 Tillverkning av mjukt matbröd och färska bakverk", "41.200 Byggande av hus",
			"49.410 Vägtransport, godstrafik", "70.220 Konsultverksamhet avseende företags organisation",
			"03.110 Havs- och kustfiske", "68.209 Förvaltning av och handel med egna fastigheter"},
		"DK": {"62.010 Computerprogrammering", "62.020 Konsulentbistand vedrørende informationsteknologi",
			"10.710 Fremstilling af brød og friske bageriprodukter", "41.200 Opførelse af bygninger",
			"49.410 Vejgodstransport", "70.220 Virksomhedsrådgivning", "03.110 Havfiskeri",
			"68.209 Udlejning af anden fast ejendom"},
		"FI": {"62.010 Ohjelmistojen suunnittelu ja valmistus", "62.020 Atk-laitteisto- ja ohjelmistokonsultointi",
			"10.710 Leivän ja tuoreiden leivonnaisten valmistus", "41.200 Asuin- ja muiden rakennusten rakentaminen",
			"49.410 Tieliikenteen tavarankuljetus", "70.220 Muu liikkeenjohdon konsultointi", "03.110 Merikalastus",
			"68.209 Muiden kiinteistöjen vuokraus ja hallinta"},
	}
	// How the country of a record is written in Salesforce: codes in any case, English and native names.
	countryWritten = map[string][]string{
		"NO": {"NO", "", "Norway", "norge"}, "SE": {"SE", "Sweden", "sverige", "se"},
		"DK": {"DK", "Denmark", "Danmark", "dk"}, "FI": {"FI", "Finland", "Suomi", "fi"},
	}
	countries = []string{"NO", "SE", "DK", "FI"}
)

func digits(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(byte('0' + r.IntN(10)))
	}
	return b.String()
}

// validNumber draws a fictional number that passes the country's check.
func validNumber(r *rand.Rand, cc string, used map[string]bool) string {
	for {
		var prefix string
		switch cc {
		case "NO":
			prefix = strconv.Itoa(8+r.IntN(2)) + digits(r, 7)
		case "SE":
			prefix = "55" + strconv.Itoa(6+r.IntN(4)) + digits(r, 6)
		case "DK":
			prefix = strconv.Itoa(1+r.IntN(9)) + digits(r, 6)
		case "FI":
			prefix = digits(r, 7)
		}
		n, ok := tryComplete(orgnr.Country(cc), prefix)
		if ok && !used[cc+n] {
			used[cc+n] = true
			return n
		}
	}
}

func tryComplete(c orgnr.Country, prefix string) (string, bool) {
	for d := '0'; d <= '9'; d++ {
		if n := prefix + string(d); orgnr.Valid(c, n) {
			return n, true
		}
	}
	return "", false
}

// written shows a canonical number the way people type it into a CRM.
func written(r *rand.Rand, cc, n string) string {
	switch r.IntN(4) {
	case 0:
		return n
	case 1:
		return orgnr.Display(orgnr.Country(cc), n)
	case 2:
		if cc == "NO" {
			return "NO " + n[:3] + " " + n[3:6] + " " + n[6:] + " MVA"
		}
		return cc + orgnr.Display(orgnr.Country(cc), n)
	default:
		d := orgnr.Display(orgnr.Country(cc), n)
		return " " + d + " "
	}
}

func (s *Sandbox) company(r *rand.Rand, cc string, i int, used map[string]bool) proffemu.Company {
	p := prefixes[cc][r.IntN(len(prefixes[cc]))]
	t := trades[cc][r.IntN(len(trades[cc]))]
	name := fmt.Sprintf("%s%s %d %s", p, t, i, forms[cc])
	if cc == "NO" {
		name = strings.ToUpper(name) // the Norwegian register writes names in upper case
	}
	city := cities[cc][r.IntN(len(cities[cc]))]
	zip := digits(r, 4)
	switch cc {
	case "SE":
		zip = digits(r, 3) + " " + digits(r, 2)
	case "FI":
		zip = digits(r, 5)
	}
	host := strings.ToLower(strings.NewReplacer("ø", "o", "å", "a", "æ", "ae", "ä", "a", "ö", "o", " ", "").Replace(p + t))
	c := proffemu.Company{
		Country: cc, OrgNumber: validNumber(r, cc, used), Name: name,
		CompanyType: strings.ToUpper(forms[cc]), AddressLine: fmt.Sprintf("%s%s %d", p, streets[cc], 1+r.IntN(120)),
		ZipCode: zip, PostPlace: city, Municipality: city,
		HomePage: fmt.Sprintf("https://www.%s%d.example", host, i), Phone: digits(r, 8),
		NumberOfEmployees: strconv.Itoa(1 + r.IntN(400)), NaceCategories: []string{naces[cc][r.IntN(len(naces[cc]))]},
		Revenue: strconv.Itoa(1000 + r.IntN(500000)), Profit: strconv.Itoa(r.IntN(40000) - 5000),
		EstablishedDate: fmt.Sprintf("%d-%02d-%02d", 1960+r.IntN(64), 1+r.IntN(12), 1+r.IntN(28)), Status: "ACTIVE",
	}
	if r.IntN(5) == 0 {
		c.HomePage = "" // Proff has no value: never clears the field
	}
	return c
}

// current is how Salesforce would hold the company's mapped values once synced: the name as DemoConfig's
// `format: title` writes it.
func current(c proffemu.Company) map[string]any {
	v := map[string]any{
		"Name": mapping.TitleCase(c.Name), "BillingStreet": c.AddressLine, "BillingPostalCode": c.ZipCode, "BillingCity": c.PostPlace,
		"Phone": c.Phone, "Sic": strings.SplitN(c.NaceCategories[0], " ", 2)[0],
	}
	if n, err := strconv.Atoi(c.NumberOfEmployees); err == nil {
		v["NumberOfEmployees"] = n
	}
	if c.HomePage != "" {
		v["Website"] = c.HomePage
	}
	return v
}

func (s *Sandbox) account(cc string, written string, country string, optIn bool, vals map[string]any) string {
	f := map[string]any{"Org_Number__c": written, "Country_Code__c": country, "Proff_Mass_Update__c": optIn,
		"Type": "Customer"}
	if written == "" {
		f["Org_Number__c"] = nil
	}
	for k, v := range vals {
		f[k] = v
	}
	if _, ok := f["Name"]; !ok {
		f["Name"] = "Unnamed " + cc + " account"
	}
	return s.SF.AddRecord("Account", f)
}

// largeDocument is the index of the company with the large document: the first Norwegian one from 12 on
// whose register name changed (i%6 <= 1), neither malformed nor rejected in seed (12 in the default mix).
func largeDocument(order []string, n int, malformed, rejected map[int]bool) int {
	for i := 12; i < n; i++ {
		if order[i%len(order)] == "NO" && i%6 <= 1 && !malformed[i] && !rejected[i] {
			return i
		}
	}
	return -1 // too few companies for one
}

func (s *Sandbox) seed(o Options) {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	used := map[string]bool{}
	var companies []proffemu.Company
	order := countryOrder(o.Shares)
	malformed := map[int]bool{30: true, 150: true} // never the large document
	rejected := map[int]bool{5: true, 61: true, 122: true}
	large := largeDocument(order, o.Companies, malformed, rejected)
	for i := 0; i < o.Companies; i++ {
		cc := order[i%len(order)]
		s.seededBy[cc]++
		c := s.company(r, cc, i+1, used)
		if i == large {
			c.AccountYears = 28
			s.Large = c
		}
		companies = append(companies, c)
		s.Proff.AddCompany(c)
	}
	e := &s.Expect
	for i, c := range companies {
		cc := c.Country
		country := countryWritten[cc][r.IntN(len(countryWritten[cc]))]
		if cc != "NO" && country == "" {
			country = cc
		}
		vals := current(c)
		outcome := "unchanged"
		switch {
		case i%6 <= 1 || rejected[i]: // the register changed: the name and the postal code differ
			vals["Name"] = strings.TrimSuffix(strings.ToLower(c.Name), " "+strings.ToLower(forms[cc])) + " (old name)"
			vals["BillingPostalCode"] = "0000"
			outcome = "updated"
		case i%6 == 2: // blanks that fill_blank fills, and a head count that overwrite sets
			delete(vals, "Phone")
			delete(vals, "Website")
			vals["NumberOfEmployees"] = nil
			outcome = "updated"
		case i%6 == 3 && c.HomePage != "": // a different website stays: fill_blank never overwrites
			vals["Website"] = "https://www.our-own-site.example"
		}
		id := s.account(cc, written(r, cc, c.OrgNumber), country, true, vals)
		if !rejected[i] && !malformed[i] {
			s.companies = append(s.companies, c)
		}
		switch {
		case rejected[i]: // a validation rule in the org rejects the write
			s.SF.FailValidation(id, "Billing address must be confirmed by the account owner")
			outcome = "failed"
		case malformed[i]: // Proff sends a broken document
			s.Proff.Malformed(cc, c.OrgNumber)
			outcome = "failed"
		}
		e.add(outcome)
	}
	// Duplicates: more accounts for companies already there (each company is looked up once per run).
	for i := 0; i < 12; i++ {
		k := r.IntN(len(companies))
		if malformed[k] || rejected[k] {
			continue
		}
		c := companies[k]
		s.account(c.Country, written(r, c.Country, c.OrgNumber), c.Country, true, current(c))
		e.add("unchanged")
	}
	// Missing org numbers.
	for i := 0; i < 8; i++ {
		cc := countries[i%4]
		s.account(cc, "", cc, true, map[string]any{"Name": fmt.Sprintf("Prospect without org number %d", i+1)})
		e.add("missing_org_number")
	}
	// Invalid: wrong check digit, wrong length, a country proffsync does not cover.
	for i := 0; i < 8; i++ {
		cc := countries[i%4]
		n := validNumber(r, cc, used)
		last := (int(n[len(n)-1]-'0') + 1 + r.IntN(8)) % 10
		bad := n[:len(n)-1] + strconv.Itoa(last)
		if orgnr.Valid(orgnr.Country(cc), bad) {
			bad = n[:len(n)-2]
		}
		s.account(cc, bad, cc, true, map[string]any{"Name": fmt.Sprintf("Typo Holding %d", i+1)})
		e.add("invalid_org_number")
	}
	s.account("DE", "HRB 86891", "Germany", true, map[string]any{"Name": "Beispiel GmbH"})
	e.add("invalid_org_number")
	// Valid numbers Proff does not know.
	for i := 0; i < 8; i++ {
		cc := countries[i%4]
		s.account(cc, validNumber(r, cc, used), cc, true, map[string]any{"Name": fmt.Sprintf("Dissolved Company %d", i+1)})
		e.add("not_found")
	}
	// Not opted in: never read, never written.
	for i := 0; i < 15; i++ {
		c := companies[r.IntN(len(companies))]
		s.account(c.Country, c.OrgNumber, c.Country, false, map[string]any{"Name": "Opted out " + strconv.Itoa(i+1)})
		e.OptedOut++
	}
}

func (e *Expect) add(outcome string) {
	e.Selected++
	switch outcome {
	case "updated":
		e.Updated++
	case "unchanged":
		e.Unchanged++
	case "failed":
		e.Failed++
	case "not_found":
		e.NotFound++
	case "missing_org_number":
		e.MissingOrgNumber++
	case "invalid_org_number":
		e.InvalidOrgNumber++
	}
}

// ChangeDay is a day of the register at at (within the feed's 30 days, not after the emulator's clock):
// the street of the next n companies the accounts hold moves (a later run updates their BillingStreet),
// and noise entries for companies no account holds join the Norwegian change feed, as the real feed lists
// every changed company of the country. Only the Norwegian changes are in the feed; the others are found
// by a lookup. It returns the companies that changed, with their new values.
func (s *Sandbox) ChangeDay(at time.Time, n, noise int) []proffemu.Company {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []proffemu.Company
	for ; n > 0 && s.changed < len(s.companies); n-- {
		c := &s.companies[s.changed]
		s.changed++
		c.AddressLine = fmt.Sprintf("%s %d", strings.TrimRight(c.AddressLine, "0123456789 "), 200+s.changed)
		street := c.AddressLine
		err := s.Proff.Mutate(c.Country, c.OrgNumber, at, func(doc map[string]any) {
			for _, k := range []string{"visitorAddress", "postalAddress"} {
				if a, ok := doc[k].(map[string]any); ok {
					a["addressLine"] = street
				}
			}
		})
		if err != nil {
			panic("sandbox: change day: " + err.Error()) // a seeded company is always there
		}
		out = append(out, *c)
	}
	s.Proff.Noise("NO", noise, at)
	return out
}

// countryOrder is the sequence of countries the seed deals companies from: each country as often as its
// share says, spread evenly (smooth weighted round robin), so that any stretch of companies has the mix.
// Without shares it is NO, SE, DK, FI: the order the default sandbox has always had.
func countryOrder(shares map[string]int) []string {
	if len(shares) == 0 {
		return countries
	}
	total := 0
	for _, cc := range countries {
		total += shares[cc]
	}
	current := map[string]int{}
	out := make([]string, 0, total)
	for range total {
		best := ""
		for _, cc := range countries {
			current[cc] += shares[cc]
			if shares[cc] > 0 && (best == "" || current[cc] > current[best]) {
				best = cc
			}
		}
		current[best] -= total
		out = append(out, best)
	}
	return out
}

// ParseShares reads countries' shares in percent, "NO=40,SE=20,DK=20,FI=20": each of NO, SE, DK and FI at
// most once, whole numbers that add up to 100. Countries left out have no companies.
func ParseShares(s string) (map[string]int, error) {
	out := map[string]int{}
	sum := 0
	for _, part := range strings.Split(s, ",") {
		cc, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		cc = strings.ToUpper(strings.TrimSpace(cc))
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || err != nil || n < 0 || !slices.Contains(countries, cc) {
			return nil, fmt.Errorf("country share %q: want CC=PERCENT with CC one of NO, SE, DK, FI", part)
		}
		if _, dup := out[cc]; dup {
			return nil, fmt.Errorf("country share %q: %s given twice", part, cc)
		}
		out[cc] = n
		sum += n
	}
	if sum != 100 {
		return nil, fmt.Errorf("country shares %q add up to %d, not 100", s, sum)
	}
	return out, nil
}
