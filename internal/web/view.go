package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
)

// The views are what the templates see: every value from Salesforce, Proff or the database already made
// visible (control characters spelt out) and every number formatted, so the templates only lay out.

var funcs = template.FuncMap{"num": num}

// maxValue is how many characters of one field value a page shows: a 32,000-character text field in each
// of a hundred changes would make a page of megabytes.
const maxValue = 300

// outcomeOrder is the order of the chart's stack, bottom first, and of the counts table.
var outcomeOrder = []massupdate.Outcome{massupdate.Updated, massupdate.Unchanged, massupdate.Failed,
	massupdate.NotFound, massupdate.MissingOrgNumber, massupdate.InvalidOrgNumber}

func outcomeLabel(o massupdate.Outcome) string {
	switch o {
	case massupdate.NotFound:
		return "not found"
	case massupdate.MissingOrgNumber:
		return "missing org number"
	case massupdate.InvalidOrgNumber:
		return "invalid org number"
	}
	return string(o)
}

func countOf(c massupdate.Counts, o massupdate.Outcome) int64 {
	switch o {
	case massupdate.Updated:
		return c.Updated
	case massupdate.Unchanged:
		return c.Unchanged
	case massupdate.Failed:
		return c.Failed
	case massupdate.NotFound:
		return c.NotFound
	case massupdate.MissingOrgNumber:
		return c.MissingOrgNumber
	case massupdate.InvalidOrgNumber:
		return c.InvalidOrgNumber
	}
	return 0
}

// runRow is one run as a line of the run list or the head of its page.
type runRow struct {
	ID, Href     string
	Status       string
	Trigger      string
	TriggerTitle string // what the trigger means, for a tooltip
	Reverts      string // the run a revert undid; "" when none
	DryRun       bool
	Started      string
	Finished     string
	Duration     string
	Counts       massupdate.Counts
	Proff, SF    int64
	Error        string
	ResumedFrom  string // href-ready ids; "" when none
	ResumedBy    string
	Limit        int
	ScheduledFor string
	Running      bool // the counts are a running total, the duration so far
}

func newRunRow(r massupdate.Run, now time.Time) runRow {
	row := runRow{
		ID: r.ID, Href: runHref(r.ID), Status: string(r.Status), Trigger: string(r.Trigger),
		TriggerTitle: triggerTitle(r.Trigger), Reverts: r.Reverts, DryRun: r.DryRun,
		Started: stamp(r.StartedAt), Counts: r.Counts, Proff: r.APICalls.Proff, SF: r.APICalls.Salesforce,
		Error: visible(r.Error), ResumedFrom: r.ResumedFrom, ResumedBy: r.ResumedBy, Limit: r.Limit,
		Running: r.Status == massupdate.Running,
	}
	end := now
	if r.FinishedAt != nil {
		end = *r.FinishedAt
		row.Finished = stamp(end)
	}
	row.Duration = duration(end.Sub(r.StartedAt))
	if r.ScheduledFor != nil {
		row.ScheduledFor = stamp(*r.ScheduledFor)
	}
	return row
}

// triggerTitle says what started a run, for the trigger's tooltip.
func triggerTitle(t massupdate.Trigger) string {
	switch t {
	case massupdate.Manual:
		return "started by hand (proffsync run)"
	case massupdate.Schedule:
		return "started by serve's schedule"
	case massupdate.Demo:
		return "the built-in demo"
	case massupdate.Retry:
		return "a run over only the records that failed in an earlier run (run --retry)"
	case massupdate.Revert:
		return "undoes an earlier run: puts back the values it wrote (proffsync revert)"
	}
	return ""
}

func runHref(id string) string { return "/runs/" + url.PathEscape(id) }

// stamp is a time as the pages print it: UTC to the second (the footer says UTC).
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// num groups thousands with a thin space, which reads in any locale and never wraps.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// visible spells out what a browser would not show or would misuse: control characters (C0, DEL, C1),
// and the bidirectional controls that can make a value read backwards ("Trojan Source"). Escaping for
// HTML is html/template's job; this is about what the admin sees.
func visible(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	clean := true
	for _, c := range s {
		if hidden(c) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case hidden(c) && c < 0x100:
			fmt.Fprintf(&b, `\x%02x`, c)
		case hidden(c):
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func hidden(c rune) bool {
	return unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) || c == '\u2028' || c == '\u2029'
}

// value is one field value of a change: Salesforce's JSON string, number, boolean or null.
type value struct {
	Text string
	Null bool
	More int // characters not shown
}

func newValue(v any) value {
	var s string
	switch x := v.(type) {
	case nil:
		return value{Null: true, Text: "null"}
	case string:
		s = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	s = visible(s)
	if n := utf8.RuneCountInString(s); n > maxValue {
		cut := 0
		for i := range s {
			if cut == maxValue {
				s = s[:i]
				break
			}
			cut++
		}
		return value{Text: s, More: n - maxValue}
	}
	return value{Text: s}
}

// pager is the navigation of one paged list. Hrefs are "" where there is nowhere to go.
type pager struct {
	Page, Pages             int
	Total                   int64
	From, To                int64 // the 1-based positions shown; From > To when the list is empty
	First, Prev, Next, Last string
}

// newPager builds the links of a list whose page parameter is param, keeping the page's other
// parameters and jumping to anchor.
func newPager(base string, q url.Values, param, anchor string, page, pages, size int, total int64, shown int) pager {
	p := pager{Page: page, Pages: pages, Total: total}
	p.From = int64(page-1)*int64(size) + 1
	p.To = p.From + int64(shown) - 1
	link := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		if n == 1 {
			v.Del(param)
		} else {
			v.Set(param, strconv.Itoa(n))
		}
		u := base
		if e := v.Encode(); e != "" {
			u += "?" + e
		}
		return u + "#" + anchor
	}
	if page > 1 {
		p.First, p.Prev = link(1), link(page-1)
	}
	if page < pages {
		p.Next, p.Last = link(page+1), link(pages)
	}
	return p
}

type indexView struct {
	Title, Now string
	Runs       []runRow
	Nav        pager
	Chart      chartView
}

func newIndexView(p store.RunsPage, now time.Time, pageSize int) indexView {
	v := indexView{Title: "Runs", Now: stamp(now), Chart: newChart(p.Chart)}
	for _, r := range p.Runs {
		v.Runs = append(v.Runs, newRunRow(r, now))
	}
	v.Nav = newPager("/", url.Values{}, "page", "runs", p.Page, p.Pages, pageSize, p.Total, len(p.Runs))
	return v
}

type countRow struct {
	Label, Class string
	N            int64
}

type fieldRow struct {
	Field, Href string
	Count       int64
	Active      bool
}

type recordRow struct {
	RecordID, OrgNumber, Country, Reason string
	Outcome, OutcomeClass                string
	FailedRuns                           int
	Again                                bool // failed in more than one run in a row: it stands out
}

type changeRow struct {
	RecordID, Field string
	Old, New        value
}

type runView struct {
	Title, Now string
	Run        runRow
	Counts     []countRow
	Fields     []fieldRow
	AllFields  string // the link that clears the field filter; "" when not filtered
	Field      string
	Records    []recordRow
	RecordsNav pager
	Changes    []changeRow
	ChangesNav pager

	// Reverts is the run this revert undid, RevertedBy the newest revert of this run (not a dry one);
	// "" when none.
	Reverts    string
	RevertedBy string
}

func newRunView(p store.RunPage, now time.Time, pageSize int) runView {
	v := runView{Title: "Run " + p.Run.ID, Now: stamp(now), Run: newRunRow(p.Run, now), Field: visible(p.Field),
		Reverts: p.Run.Reverts}
	for _, o := range outcomeOrder {
		v.Counts = append(v.Counts, countRow{Label: outcomeLabel(o), Class: string(o), N: countOf(p.Run.Counts, o)})
	}
	base := runHref(p.Run.ID)
	q := url.Values{}
	if p.RecordsPage > 1 {
		q.Set("rpage", strconv.Itoa(p.RecordsPage))
	}
	for _, fc := range p.FieldCounts {
		fq := url.Values{"field": {fc.Field}}
		if p.RecordsPage > 1 {
			fq.Set("rpage", strconv.Itoa(p.RecordsPage))
		}
		v.Fields = append(v.Fields, fieldRow{Field: visible(fc.Field), Count: fc.Count, Active: fc.Field == p.Field,
			Href: base + "?" + fq.Encode() + "#changes"})
	}
	if p.Field != "" {
		v.AllFields = base + "#changes"
		if p.RecordsPage > 1 {
			v.AllFields = base + "?" + q.Encode() + "#changes"
		}
	}
	for _, r := range p.Records {
		v.Records = append(v.Records, recordRow{RecordID: visible(r.RecordID), OrgNumber: visible(r.OrgNumber),
			Country: visible(r.Country), Reason: visible(r.Reason), Outcome: outcomeLabel(r.Outcome),
			OutcomeClass: string(r.Outcome), FailedRuns: r.FailedRuns, Again: r.FailedRuns > 1})
	}
	for _, c := range p.Changes {
		v.Changes = append(v.Changes, changeRow{RecordID: visible(c.RecordID), Field: visible(c.Field),
			Old: newValue(c.Old), New: newValue(c.New)})
	}
	// Each list's links keep the other list's page and the field filter.
	rq := url.Values{}
	if p.ChangesPage > 1 {
		rq.Set("cpage", strconv.Itoa(p.ChangesPage))
	}
	cq := url.Values{}
	if p.RecordsPage > 1 {
		cq.Set("rpage", strconv.Itoa(p.RecordsPage))
	}
	if p.Field != "" {
		rq.Set("field", p.Field)
		cq.Set("field", p.Field)
	}
	v.RecordsNav = newPager(base, rq, "rpage", "records", p.RecordsPage, p.RecordsPages, pageSize, p.RecordsTotal, len(p.Records))
	v.ChangesNav = newPager(base, cq, "cpage", "changes", p.ChangesPage, p.ChangesPages, pageSize, p.ChangesTotal, len(p.Changes))
	return v
}
