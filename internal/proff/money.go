package proff

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/orgnr"
)

// Money. Proff's `revenue`, `profit` and every account amount (annualAccounts[].accounts[].amount) are in
// thousands of the accounts' currency: a real document has shareCapital 735000 and account AK "735". An
// admin maps them onto fields that hold full units (AnnualRevenue), so proffsync multiplies by 1000. The
// ratios among the account codes (EKA, the equity ratio in percent, …) are no amounts and are written as
// they are.

// pointAccounts is the prefix of the account-code points: accounts.<CODE>, accounts.currency, accounts.year.
const pointAccounts = "accounts."

// ratioCodes are the account codes that are ratios (percent, or a plain ratio), not amounts in thousands.
// They are the codes of the real documents whose values are key figures: the ones that are neither summed
// in the balance nor scale with the company (the example has EKA "25.0" beside SEK "11754").
// Any code not listed here is an amount: nearly every code of the accounts is one, and a new ratio code
// would show as a figure 1000 times too large, which an admin sees at once, where a new amount code taken
// for a ratio would be 1000 times too small and look plausible. OPAV (revenue per man-labour year) is an
// amount in thousands like the others.
var ratioCodes = map[string]string{
	"EKA":   UnitPercent, // equity ratio
	"EKAVO": UnitPercent, // equity ratio incl. untaxed reserves
	"TR":    UnitPercent, // return on total assets
	"RG":    UnitPercent, // operating margin
	"ER":    UnitPercent, // return on equity
	"ERE":   UnitPercent, // return on equity after tax
	"GG":    UnitPercent, // gross margin
	"LT":    UnitPercent, // interest coverage
	"RDG":   UnitPercent, // operating margin before depreciation
	"KGA":   UnitPercent, // short-term debt share
	"LGA":   UnitPercent, // long-term debt share
	"BF":    UnitPercent, // degree of self-financing
	"OG":    UnitPercent, // profit margin
	"LGR":   UnitRatio,   // current ratio
	"LGR2":  UnitRatio,   // quick ratio
	"LGR3":  UnitRatio,   // cash ratio
	"KOH":   UnitRatio,   // asset turnover
	"FG1":   UnitRatio,   // debt ratio
	"OPLK":  UnitRatio,   // revenue per unit of payroll cost
}

// IsRatioCode reports whether an account code is a ratio (written as sent) rather than an amount in
// thousands (written in full units).
func IsRatioCode(code string) bool {
	_, ok := ratioCodes[strings.ToUpper(code)]
	return ok
}

var accountCodeRe = regexp.MustCompile(`^[\p{Lu}\p{Ll}\p{N}_]{1,20}$`)

// resolveAccount resolves accounts.<CODE>, accounts.currency and accounts.year; ok is false for any other
// name.
func resolveAccount(name string) (DataPoint, bool, error) {
	n := strings.TrimSpace(name)
	if len(n) <= len(pointAccounts) || !strings.EqualFold(n[:len(pointAccounts)], pointAccounts) {
		return DataPoint{}, false, nil
	}
	code := n[len(pointAccounts):]
	if !accountCodeRe.MatchString(code) {
		return DataPoint{}, false, fmt.Errorf("%w: %q: an account code is letters and digits, e.g. accounts.SDI", ErrUnknownPoint, name)
	}
	for _, p := range catalogue {
		if strings.EqualFold(p.Name, pointAccounts+code) {
			return p, true, nil
		}
	}
	code = strings.ToUpper(code)
	if unit, ok := ratioCodes[code]; ok {
		return DataPoint{Name: pointAccounts + code, Kind: mapping.Number, Unit: unit,
			Description: "ratio " + code + " of the newest annual accounts that have it (written as sent)"}, true, nil
	}
	return DataPoint{Name: pointAccounts + code, Kind: mapping.Number, Unit: UnitAmount,
		Description: "account " + code + " of the newest annual accounts that have it, in full units"}, true, nil
}

// inThousands reports whether a point's value is an amount Proff sends in thousands.
func inThousands(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "revenue", "profit":
		return true
	case "accounts.currency", "accounts.year":
		return false
	}
	if strings.HasPrefix(n, pointAccounts) {
		return !IsRatioCode(n[len(pointAccounts):])
	}
	return false
}

// fullUnits multiplies thousands by 1000 through the decimal text, so 0.1 thousand is exactly 100.
func fullUnits(f float64) (float64, bool) {
	g, err := strconv.ParseFloat(strconv.FormatFloat(f, 'f', -1, 64)+"e3", 64)
	if err != nil || math.IsInf(g, 0) || math.IsNaN(g) {
		return 0, false
	}
	return g, true
}

// yearAccounts is one element of annualAccounts with the year it is for.
type yearAccounts struct {
	year int
	pos  int
	m    map[string]json.RawMessage
}

// annualAccountsByAge returns the annual accounts newest first: by year (or the year of periodEnd), and
// in list order among equal or unreadable years. Proff lists the newest first today; the order is not a
// promise, the year is.
func annualAccountsByAge(root map[string]json.RawMessage) []yearAccounts {
	raw, ok := getFold(root, "annualAccounts")
	if !ok {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	out := make([]yearAccounts, 0, len(list))
	for i, item := range list {
		var m map[string]json.RawMessage
		if json.Unmarshal(item, &m) != nil || m == nil {
			continue
		}
		y := 0
		if v, ok := getFold(m, "year"); ok {
			if f, ok := typed(v, mapping.Integer); ok {
				y = int(f.(float64))
			}
		}
		if y == 0 {
			if v, ok := getFold(m, "periodEnd"); ok {
				if d, ok := typed(v, mapping.Date); ok {
					y = d.(time.Time).Year()
				}
			}
		}
		out = append(out, yearAccounts{year: y, pos: i, m: m})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].year > out[j].year })
	return out
}

// accountValue finds the raw value of an account point: the amount of CODE in the newest annual accounts
// that hold it with a value (selected by code, never by position: the order differs between years), or the
// currency or year of the newest annual accounts.
func accountValue(root map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	what := name[len(pointAccounts):]
	years := annualAccountsByAge(root)
	switch strings.ToLower(what) {
	case "currency", "year":
		if len(years) == 0 {
			return nil, false
		}
		return getFold(years[0].m, what)
	}
	for _, y := range years {
		raw, ok := getFold(y.m, "accounts")
		if !ok {
			continue
		}
		var accs []map[string]json.RawMessage
		if json.Unmarshal(raw, &accs) != nil {
			continue
		}
		for _, a := range accs {
			c, ok := getFold(a, "code")
			if !ok {
				continue
			}
			var code string
			if json.Unmarshal(c, &code) != nil || !strings.EqualFold(strings.TrimSpace(code), what) {
				continue
			}
			if amt, ok := getFold(a, "amount"); ok && hasValue(amt) {
				return amt, true
			}
		}
	}
	return nil, false
}

// Currency is the reporting currency of a country's companies: the currency of their amounts.
func Currency(cc orgnr.Country) string {
	switch cc {
	case orgnr.NO:
		return "NOK"
	case orgnr.SE:
		return "SEK"
	case orgnr.DK:
		return "DKK"
	case orgnr.FI:
		return "EUR"
	}
	return ""
}

// IsAmount reports whether a point is an amount of money in the company's currency.
func IsAmount(p DataPoint) bool { return p.Unit == UnitAmount }

// AmountToCurrencyField reports whether a mapping puts an amount into a Salesforce currency field: such a
// field holds the org's currency (or the record's, in a multi-currency org), and proffsync converts
// nothing, so `check` warns when that currency differs from the companies' (see CurrencyWarnings).
func AmountToCurrencyField(p DataPoint, sfType string) bool {
	return IsAmount(p) && strings.EqualFold(sfType, "currency")
}

// CurrencyWarnings lists, for `check`, each amount mapped to a currency field whose currency (orgCurrency,
// the org's corporate currency as an ISO code) differs from the currency of the countries' companies. The
// points are the resolved mapping, fieldTypes the mapped fields' describe types by point name. proffsync
// converts no currency: a SEK amount in a NOK field is written as a NOK figure.
func CurrencyWarnings(points []DataPoint, fieldTypes map[string]string, orgCurrency string, countries []orgnr.Country) []string {
	var out []string
	for _, p := range points {
		if !AmountToCurrencyField(p, fieldTypes[p.Name]) {
			continue
		}
		var differ []string
		for _, cc := range countries {
			if cur := Currency(cc); cur != "" && !strings.EqualFold(cur, strings.TrimSpace(orgCurrency)) {
				differ = append(differ, fmt.Sprintf("%s companies report in %s", cc, cur))
			}
		}
		if len(differ) > 0 {
			out = append(out, fmt.Sprintf("%s goes to a currency field of an org in %s, but %s: amounts are written as they are, never converted",
				p.Name, orgCurrency, strings.Join(differ, ", ")))
		}
	}
	return out
}
