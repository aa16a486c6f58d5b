package proffemu_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

type docShape struct {
	OrganisationNumber string `json:"organisationNumber"`
	RegisteredForNav   *bool  `json:"registeredForNav"`
	Location           struct {
		CountryPart, CountryCode string
		Coordinates              []struct{ XCoordinate, YCoordinate float64 }
	} `json:"location"`
	NaceCategories []string `json:"naceCategories"`
	AnnualAccounts []struct {
		Currency, Year string
		Accounts       []struct{ Code, Amount string }
	} `json:"annualAccounts"`
	CompanyAccounts []struct{ Currency string } `json:"companyAccounts"`
}

func decodeDoc(t *testing.T, b []byte) docShape {
	t.Helper()
	var d docShape
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func amount(d docShape, year int, code string) string {
	for _, a := range d.AnnualAccounts[year].Accounts {
		if a.Code == code {
			return a.Amount
		}
	}
	return ""
}

func TestDocumentsBelongToTheirCountry(t *testing.T) {
	t.Parallel()
	want := map[string]struct {
		currency, part, number string
		nav                    bool
	}{
		"NO": {"NOK", "Østlandet", "912345688", true},
		"SE": {"SEK", "Hela Sverige", "556999-0004", false},
		"DK": {"DKK", "Hele Danmark", "39999900", false},
		"FI": {"EUR", "Koko Suomi", "3123456-3", false},
	}
	seen := map[string]bool{}
	for _, c := range proffemu.Seed() {
		w := want[c.Country]
		raw := proffemu.Document(c)
		d := decodeDoc(t, raw)
		if d.Location.CountryCode != c.Country || d.Location.CountryPart != w.part {
			t.Errorf("%s %s: location %+v", c.Country, c.OrgNumber, d.Location)
		}
		cc, _ := orgnr.ParseCountry(c.Country)
		if n, err := orgnr.Normalize(cc, d.OrganisationNumber); err != nil || n != c.OrgNumber {
			t.Errorf("%s: organisationNumber %q does not normalise to %s", c.Country, d.OrganisationNumber, c.OrgNumber)
		}
		if !seen[c.Country] && d.OrganisationNumber != w.number {
			t.Errorf("%s: organisationNumber %q, want the country's form %q", c.Country, d.OrganisationNumber, w.number)
		}
		seen[c.Country] = true
		if (d.RegisteredForNav != nil) != w.nav {
			t.Errorf("%s: registeredForNav %v; only Norway has NAV", c.Country, d.RegisteredForNav)
		}
		for _, a := range d.AnnualAccounts {
			if a.Currency != w.currency {
				t.Errorf("%s: accounts in %s, want %s", c.Country, a.Currency, w.currency)
			}
		}
		for _, a := range d.CompanyAccounts {
			if a.Currency != w.currency {
				t.Errorf("%s: company accounts in %s, want %s", c.Country, a.Currency, w.currency)
			}
		}
		if c.Country != "NO" && (strings.Contains(string(raw), "/register/NO/") || strings.Contains(string(raw), "Brønnøysund")) {
			t.Errorf("%s: the document still links to Norwegian companies", c.Country)
		}
		if c.Country != "NO" && (len(d.Location.Coordinates) != 1 || d.Location.Coordinates[0].YCoordinate < 55) {
			t.Errorf("%s: coordinates %+v", c.Country, d.Location.Coordinates)
		}
		// The newest accounts hold the company's revenue and operating result, as Proff's do.
		if c.Revenue != "" && (amount(d, 0, "SDI") != c.Revenue || amount(d, 0, "DR") != c.Profit) {
			t.Errorf("%s %s: SDI %s DR %s, want %s %s", c.Country, c.OrgNumber, amount(d, 0, "SDI"), amount(d, 0, "DR"), c.Revenue, c.Profit)
		}
		if c.Country == "SE" && strings.Contains(strings.Join(d.NaceCategories, " "), "produksjon") {
			t.Errorf("SE: Norwegian NACE text %v", d.NaceCategories)
		}
	}
}

func TestLargeDocument(t *testing.T) {
	t.Parallel()
	c := proffemu.Seed()[0]
	c.AccountYears = 28
	raw := proffemu.Document(c)
	if n := len(raw); n < 420<<10 || n > 500<<10 {
		t.Errorf("a 28-year document is %d KB, want about 450", n>>10)
	}
	d := decodeDoc(t, raw)
	if len(d.AnnualAccounts) != 28 || d.AnnualAccounts[0].Year != "2022" || d.AnnualAccounts[27].Year != "1995" {
		t.Fatalf("%d years, %s to %s", len(d.AnnualAccounts), d.AnnualAccounts[0].Year, d.AnnualAccounts[len(d.AnnualAccounts)-1].Year)
	}
	if amount(d, 0, "SDI") != c.Revenue || amount(d, 1, "SDI") == c.Revenue || amount(d, 27, "SDI") == "" {
		t.Errorf("SDI per year: %s, %s, %s", amount(d, 0, "SDI"), amount(d, 1, "SDI"), amount(d, 27, "SDI"))
	}
}

func TestTokenInformationPeriod(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	s := proffemu.New(proffemu.Options{Token: "tok", Now: func() time.Time { return now }})
	defer s.Close()
	_, _, body := get(t, s.URL()+"/api/service/tokeninformation", "Token tok")
	var ti struct {
		CallsPerformed struct {
			Period struct {
				Start, End struct{ Year, Month, Day, DayOfWeek, DayOfYear, DayNumber int }
				Calls      int
			}
		}
	}
	if err := json.Unmarshal(body, &ti); err != nil {
		t.Fatal(err)
	}
	p := ti.CallsPerformed.Period
	// 2026-11-01 is a Sunday (.NET's DayOfWeek 0), the 305th day of the year, DayNumber 739920.
	if p.Start.Year != 2026 || p.Start.Month != 11 || p.Start.Day != 1 || p.Start.DayOfWeek != 0 || p.Start.DayOfYear != 305 ||
		p.Start.DayNumber != 739920 || p.End.Day != 30 || p.End.Month != 11 || p.Calls != 1 {
		t.Errorf("period %+v", p)
	}
}
