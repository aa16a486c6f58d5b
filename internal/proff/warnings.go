package proff

import (
	"fmt"
	"strings"
)

// Warnings for `check`: mappings that are accepted but will probably never have a value, or not the value
// the admin expects.

// specSpelling is a path the published OpenAPI description spells differently from real answers: the
// keys (lower case) of the spec's spelling, and the real spelling that replaces them.
type specSpelling struct {
	root, key string // e.g. centralApproval, approvalStatus
	real      string // e.g. centralApproval.status
	note      string
}

var specSpellings = []specSpelling{
	{"centralapproval", "approvalstatus", "centralApproval.status", ""},
	{"mortgages", "mortgagesoverview", "mortgages.overview", ""},
	{"mortgages", "mortgages", "mortgages.list", ""},
	// The spec gives the period's dates as .NET DateOnly objects (year, month, day, dayOfWeek, …); real
	// answers send a date string.
	{"annualaccounts", "periodend", "annualAccounts[i].periodEnd", "a date string, not an object: map annualAccounts[0].periodEnd as a date"},
	{"annualaccounts", "periodstart", "annualAccounts[i].periodStart", "a date string, not an object: map annualAccounts[0].periodStart as a date"},
	{"companyaccounts", "periodend", "companyAccounts[i].periodEnd", "a date string, not an object"},
	{"companyaccounts", "periodstart", "companyAccounts[i].periodStart", "a date string, not an object"},
	{"corporateaccounts", "periodend", "corporateAccounts[i].periodEnd", "a date string, not an object"},
	{"corporateaccounts", "periodstart", "corporateAccounts[i].periodStart", "a date string, not an object"},
}

// PathWarnings returns check's warnings for one mapped data point name (as the mapping writes it): a
// top-level key the catalogue does not know (a new field, or a typo), and a path the published
// specification spells differently from real answers, naming the real spelling. A name ResolvePoint
// refuses has no warnings: its error says it all.
func PathWarnings(name string) []string {
	p, err := ResolvePoint(name)
	if err != nil {
		return nil
	}
	var out []string
	if p.Unknown {
		w := fmt.Sprintf("%s: the catalogue does not know this top-level key; it is mapped as %s in case Proff added it, but if it is a typo it will never have a value", p.Name, p.Kind)
		if near := nearestRoot(p.Name); near != "" {
			w += fmt.Sprintf(" (did you mean %s?)", near)
		}
		out = append(out, w)
	}
	segs, err := parsePath(p.Name)
	if err != nil || len(segs) < 2 {
		return out
	}
	for _, s := range specSpellings {
		// Whole keys, so that mortgages.mortgages (the spec's list) is not mortgages.mortgagesOverview.
		if strings.ToLower(segs[0].key) != s.root || strings.ToLower(segs[1].key) != s.key {
			continue
		}
		if s.note != "" {
			if len(segs) < 3 {
				continue // periodEnd itself is the real spelling
			}
			out = append(out, fmt.Sprintf("%s: the published specification has this path, but real answers send %s as %s: it will never have a value",
				p.Name, s.real, s.note))
		} else {
			out = append(out, fmt.Sprintf("%s: the published specification has this path, but real answers spell it %s: it will never have a value",
				p.Name, s.real))
		}
	}
	return out
}

// nearestRoot is the known top-level key closest to an unknown one (at most two edits away), if any.
func nearestRoot(name string) string {
	key := strings.ToLower(name)
	if i := strings.IndexAny(key, ".["); i >= 0 {
		key = key[:i]
	}
	best, bestD := "", 3
	for _, k := range knownRoots {
		if d := editDistance(key, strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// knownRoots are the document roots in their real spelling, for suggestions.
var knownRoots = []string{"analyses", "announcements", "annualAccounts", "annualReports", "businessUnitId",
	"centralApproval", "companyAccounts", "companyId", "companyMain", "companyPurpose", "companyType",
	"companyTypeName", "corporateStructure", "creditRating", "email", "empMax", "empMin", "establishedDate",
	"estimatedTurnover", "foundationDate", "foundationYear", "hasSecurity", "homePage", "liquidationDate",
	"location", "marketingProtection", "mortgages", "naceCategories", "name", "numberOfEmployees",
	"organisationNumber", "phoneNumbers", "postalAddress", "previousNames", "profit", "registeredAsEnterprise",
	"registeredForNav", "registeredForPayrollTax", "registeredForVat", "registeredForVoluntary",
	"registrationDate", "revenue", "sectorCode", "shareCapital", "status", "visitorAddress"}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
