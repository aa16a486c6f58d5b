package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// The chart of `/`: one bar per run (oldest left), its outcomes stacked bottom to top in outcomeOrder and
// scaled to the largest run, a square under it in the colour of its status, and below that two thin bars
// for the Proff and Salesforce calls it cost, each scaled to its service's largest. It is plain SVG drawn from numbers computed here; every bar
// links to its run.
const (
	slot       = 20.0  // horizontal room per run
	barW       = 14.0  // width of a run's bar
	plotH      = 120.0 // height of the outcome bars
	minSeg     = 1.5   // a segment that is not zero is at least this tall, so one failure of 100,000 shows
	statusY    = plotH + 4
	statusH    = 6.0
	callsTop   = statusY + statusH + 10
	callsH     = 44.0
	chartSlots = chartRuns
)

type chartView struct {
	Width, Height string
	Bars          []barView
	Proff, SF     int64 // the calls the charted runs cost together
	Runs          int
	CallsTop      string // where the calls part begins, for its baseline
	Baseline      string
	Legend        []countRow
}

type barView struct {
	Href, Title     string
	X, W            string
	Segs            []segView
	StatusClass     string
	StatusY         string
	StatusH         string
	Proff, SF       segView
	ProffX, SFX, CW string
}

type segView struct {
	Y, H, Class string
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func newChart(runs []massupdate.Run) chartView {
	c := chartView{
		Width: f(slot * chartSlots), Height: f(callsTop + callsH + 2), Runs: len(runs),
		CallsTop: f(callsTop), Baseline: f(callsTop + callsH),
	}
	for _, o := range outcomeOrder {
		c.Legend = append(c.Legend, countRow{Label: outcomeLabel(o), Class: string(o)})
	}
	var maxTotal, maxProff, maxSF int64 = 1, 1, 1
	for _, r := range runs {
		var total int64
		for _, o := range outcomeOrder {
			total += countOf(r.Counts, o)
		}
		maxTotal = max(maxTotal, total)
		maxProff, maxSF = max(maxProff, r.APICalls.Proff), max(maxSF, r.APICalls.Salesforce)
		c.Proff += r.APICalls.Proff
		c.SF += r.APICalls.Salesforce
	}
	// Leave room for the minimum heights of all six segments, so the tallest bar stays inside the plot.
	scale := (plotH - minSeg*float64(len(outcomeOrder))) / float64(maxTotal)
	for i, r := range runs {
		x := float64(i)*slot + (slot-barW)/2
		b := barView{Href: runHref(r.ID), X: f(x), W: f(barW), StatusClass: "s-" + string(r.Status),
			StatusY: f(statusY), StatusH: f(statusH)}
		y := plotH
		var parts []string
		for _, o := range outcomeOrder {
			n := countOf(r.Counts, o)
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", outcomeLabel(o), num(n)))
			}
			if n == 0 {
				continue
			}
			h := max(float64(n)*scale, minSeg)
			y -= h
			b.Segs = append(b.Segs, segView{Y: f(y), H: f(h), Class: "o-" + string(o)})
		}
		// Each service on its own scale: a run costs a hundred times more Proff calls than Salesforce
		// calls, and on one scale the Salesforce bars would vanish.
		calls := func(n, most int64) segView {
			h := float64(n) / float64(most) * callsH
			if n > 0 {
				h = max(h, 1)
			}
			return segView{Y: f(callsTop + callsH - h), H: f(h)}
		}
		b.Proff, b.SF = calls(r.APICalls.Proff, maxProff), calls(r.APICalls.Salesforce, maxSF)
		b.ProffX, b.SFX, b.CW = f(x), f(x+barW/2), f(barW/2)
		if len(parts) == 0 {
			parts = append(parts, "no records")
		}
		dry := ""
		if r.DryRun {
			dry = " (dry run)"
		}
		b.Title = fmt.Sprintf("%s · %s%s · %s · %s · %s Proff, %s Salesforce calls", stamp(r.StartedAt), r.Status, dry,
			r.ID, strings.Join(parts, ", "), num(r.APICalls.Proff), num(r.APICalls.Salesforce))
		c.Bars = append(c.Bars, b)
	}
	return c
}
