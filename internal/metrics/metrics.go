// Package metrics holds proffsync's Prometheus series: runs by trigger and status, records by outcome, API
// calls by service and status class, retries, rate-limit waiting, Salesforce API usage, and the time and
// duration of the last runs. It keeps its own registry, so two Metrics (two tests, two servers in one
// process) never share or collide.
//
// What must never happen here: a label whose value comes from record data, a URL, a header or an error text.
// Label values are drawn from small fixed sets (service, status class, trigger, status, outcome, skip
// reason), so the series count stays bounded and nothing a customer owns leaves through /metrics.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/transport"
)

// Metrics is the set of proffsync series on its own registry. It is a transport.Recorder, so it can sit in
// a transport.Multi next to the technical log. Safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	runs          *prometheus.CounterVec
	records       *prometheus.CounterVec
	lookups       *prometheus.CounterVec
	numberForms   *prometheus.CounterVec
	apiCalls      *prometheus.CounterVec
	retries       *prometheus.CounterVec
	rateWait      prometheus.Counter
	sfUsed        prometheus.Gauge
	sfMax         prometheus.Gauge
	lastSuccess   prometheus.Gauge
	lastCompleted prometheus.Gauge
	lastStatus    *prometheus.GaugeVec
	lastDuration  prometheus.Gauge
	lastFinished  prometheus.Gauge
	schedSkipped  *prometheus.CounterVec
	schedEnabled  prometheus.Gauge
	schedNext     prometheus.Gauge
	mu            sync.Mutex
	lastSuccessAt time.Time // the newest success seen, so an older run observed late cannot move the gauge back
	lastDoneAt    time.Time // the newest completed (succeeded or partial) run seen, for the same reason
	lastRunAt     time.Time
}

// runStatuses are the values of proffsync_last_run_status's label: every status a run can end with, and
// running, so that an alert on one of them always finds its series (at 0) rather than no data.
var runStatuses = []massupdate.Status{massupdate.Running, massupdate.Succeeded, massupdate.Partial,
	massupdate.StatusFail, massupdate.Interrupted}

// lookupSources are the values of proffsync_lookups_total's label, the keys of the run summary's lookups.
var lookupSources = []string{"fresh", "cached", "deferred"}

// New returns a Metrics with every series registered (and the Go and process collectors) on a fresh
// registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proffsync_runs_total",
			Help: "Mass Update runs that ended, by trigger (manual, schedule, demo) and final status.",
		}, []string{"trigger", "status"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proffsync_records_total",
			Help: "Records finished by the runs that ended, by outcome.",
		}, []string{"outcome"}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proffsync_lookups_total",
			Help: "Companies of the runs that ended, by where their data came from: fresh (looked up in Proff), cached (the values stored at their last lookup), deferred (left for a later run by sync.max_lookups).",
		}, []string{"source"}),
		numberForms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proffsync_proff_number_form_calls_total",
			Help: "Proff lookup calls by country and form of the organisation number (digits or hyphenated): what the SE/FI hyphen fallback costs.",
		}, []string{"country", "form"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proffsync_api_calls_total",
			Help: "HTTP requests sent, retries and logins included, by service and status class (2xx, 4xx, 5xx, error when no response came).",
		}, []string{"service", "class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proffsync_api_retries_total",
			Help: "HTTP requests that were a retry (attempt > 1), by service.",
		}, []string{"service"}),
		rateWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "proffsync_rate_limit_wait_seconds_total",
			Help: "Time spent waiting for the Proff rate limiter.",
		}),
		sfUsed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_salesforce_api_requests_used",
			Help: "The org's API requests used in the last 24 hours, from the last Sforce-Limit-Info seen.",
		}),
		sfMax: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_salesforce_api_requests_max",
			Help: "The org's daily API request allocation, from the last Sforce-Limit-Info seen.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_last_success_timestamp_seconds",
			Help: "Unix time the last successful (status succeeded, not dry) run finished; 0 before the first.",
		}),
		// The two series below are read by deploy/monitoring's alert rules by name: renaming them silences
		// those alerts.
		lastCompleted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_last_completed_run_timestamp_seconds",
			Help: "Unix time the newest completed run (status succeeded or partial, not dry) finished; 0 before the first.",
		}),
		lastStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "proffsync_last_run_status",
			Help: "1 for the status of the newest run that ended, 0 for the other statuses.",
		}, []string{"status"}),
		lastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_last_run_duration_seconds",
			Help: "Duration of the last run that ended, whatever its status.",
		}),
		lastFinished: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_last_run_timestamp_seconds",
			Help: "Unix time the last run ended, whatever its status.",
		}),
		schedSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "proffsync_schedule_skipped_total",
			Help: "Scheduled due times that were not run, by reason (locked: another run held the lock; already_served: another replica ran it).",
		}, []string{"reason"}),
		schedEnabled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_schedule_enabled",
			Help: "1 when an admin has enabled the scheduled Mass Update (schedule.enabled), else 0.",
		}),
		schedNext: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "proffsync_schedule_next_run_timestamp_seconds",
			Help: "Unix time of the next scheduled due time; 0 when nothing is scheduled.",
		}),
	}
	m.reg.MustRegister(m.runs, m.records, m.lookups, m.numberForms, m.apiCalls, m.retries, m.rateWait, m.sfUsed, m.sfMax,
		m.lastSuccess, m.lastCompleted, m.lastStatus, m.lastDuration, m.lastFinished, m.schedSkipped, m.schedEnabled, m.schedNext,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series with a known, small label set start at zero, so a dashboard sees them before the first event.
	for _, o := range massupdate.Outcomes {
		m.records.WithLabelValues(string(o))
	}
	for _, st := range runStatuses {
		m.lastStatus.WithLabelValues(string(st)).Set(0)
	}
	for _, src := range lookupSources {
		m.lookups.WithLabelValues(src)
	}
	return m
}

// Registry returns the registry the series live on (for tests and for adding collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the series in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// RecordCall counts one HTTP request (transport.Recorder). It only touches counters, so it never blocks the
// request path.
func (m *Metrics) RecordCall(_ context.Context, c transport.Call) {
	service := c.Service
	if service != transport.Proff && service != transport.Salesforce {
		service = "other" // keep the label set fixed whatever a caller passes
	}
	m.apiCalls.WithLabelValues(service, StatusClass(c.Status)).Inc()
	if c.Attempt > 1 {
		m.retries.WithLabelValues(service).Inc()
	}
	if c.APIMax > 0 {
		m.sfUsed.Set(float64(c.APIUsed))
		m.sfMax.Set(float64(c.APIMax))
	}
}

// StatusClass is the status class label of an HTTP status: "2xx", "4xx", …, or "error" when no response
// came (status 0).
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}

// ObserveRun counts a run that ended: by trigger and status, its records by outcome, its duration, its
// status as the last run's, and the time of the last success and of the last completed run. Call it once per ended run; a run still running is ignored, since its counts
// are not final.
func (m *Metrics) ObserveRun(r *massupdate.Run) {
	if r == nil || r.Status == massupdate.Running || r.Status == "" {
		return
	}
	m.runs.WithLabelValues(string(r.Trigger), string(r.Status)).Inc()
	c := r.Counts
	for o, n := range map[massupdate.Outcome]int64{
		massupdate.MissingOrgNumber: c.MissingOrgNumber, massupdate.InvalidOrgNumber: c.InvalidOrgNumber,
		massupdate.NotFound: c.NotFound, massupdate.Unchanged: c.Unchanged, massupdate.Updated: c.Updated,
		massupdate.Failed: c.Failed,
	} {
		if n > 0 {
			m.records.WithLabelValues(string(o)).Add(float64(n))
		}
	}
	for i, n := range []int64{r.Lookups.Fresh, r.Lookups.Cached, r.Lookups.Deferred} {
		if n > 0 {
			m.lookups.WithLabelValues(lookupSources[i]).Add(float64(n))
		}
	}
	m.observeLast(r)
}

// RestoreLast sets the series about the last runs (their times, duration and status) from runs that ended
// before this process started, without counting them again: without it a restarted server shows 0 as the
// last completed run, and "no completed run for 25 h" fires at every restart. Pass the newest runs from the
// store; the order does not matter, and a run still running is ignored.
func (m *Metrics) RestoreLast(runs []massupdate.Run) {
	for i := range runs {
		if r := &runs[i]; r.Status != massupdate.Running && r.Status != "" {
			m.observeLast(r)
		}
	}
}

// observeLast moves the last-run series forward to r when r ended no earlier than what they show.
func (m *Metrics) observeLast(r *massupdate.Run) {
	if r.FinishedAt == nil {
		return
	}
	end := *r.FinishedAt
	m.mu.Lock()
	defer m.mu.Unlock()
	if !end.Before(m.lastRunAt) {
		m.lastRunAt = end
		m.lastFinished.Set(unixSeconds(end))
		if d := end.Sub(r.StartedAt); !r.StartedAt.IsZero() && d >= 0 {
			m.lastDuration.Set(d.Seconds())
		}
		for _, st := range runStatuses {
			v := 0.0
			if st == r.Status {
				v = 1
			}
			m.lastStatus.WithLabelValues(string(st)).Set(v)
		}
	}
	// A dry run writes nothing, so it is no evidence that Salesforce is in sync.
	if r.DryRun {
		return
	}
	if r.Status == massupdate.Succeeded && end.After(m.lastSuccessAt) {
		m.lastSuccessAt = end
		m.lastSuccess.Set(unixSeconds(end))
	}
	// A partial run finished every record it selected; a few records failing (a validation rule, a locked
	// record) is a normal night, not a sync that stopped, so it counts as completed.
	if (r.Status == massupdate.Succeeded || r.Status == massupdate.Partial) && end.After(m.lastDoneAt) {
		m.lastDoneAt = end
		m.lastCompleted.Set(unixSeconds(end))
	}
}

// numberFormCountries and numberForms bound the labels of proffsync_proff_number_form_calls_total: the
// countries proffsync looks up and the forms of a number it tries. Anything else is counted as "other".
var (
	numberFormCountries = countryCodes()
	numberFormNames     = []string{"digits", "hyphenated"}
)

// AddNumberFormCalls adds n Proff lookup calls made with a form of the organisation number in a country
// (the proff client's NumberFormCalls, per run).
func (m *Metrics) AddNumberFormCalls(country, form string, n int64) {
	if n <= 0 {
		return
	}
	m.numberForms.WithLabelValues(oneOf(country, numberFormCountries), oneOf(form, numberFormNames)).Add(float64(n))
}

func oneOf(v string, known []string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return "other"
}

// AddRateLimitWait adds time spent waiting for the Proff rate limiter.
func (m *Metrics) AddRateLimitWait(d time.Duration) {
	if d > 0 {
		m.rateWait.Add(d.Seconds())
	}
}

// Skip reasons for ScheduleSkipped.
const (
	SkipLocked        = "locked"
	SkipAlreadyServed = "already_served"
)

// ScheduleSkipped counts a scheduled due time that was not run, by a short fixed reason (SkipLocked,
// SkipAlreadyServed).
func (m *Metrics) ScheduleSkipped(reason string) {
	m.schedSkipped.WithLabelValues(reason).Inc()
}

// SetSchedule shows whether the schedule is enabled and its next due time (zero: none).
func (m *Metrics) SetSchedule(enabled bool, next time.Time) {
	if enabled {
		m.schedEnabled.Set(1)
	} else {
		m.schedEnabled.Set(0)
	}
	if next.IsZero() {
		m.schedNext.Set(0)
	} else {
		m.schedNext.Set(unixSeconds(next))
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// countryCodes are orgnr's countries, the one list of them, as label values.
func countryCodes() []string {
	out := make([]string, 0, len(orgnr.Countries))
	for _, c := range orgnr.Countries {
		out = append(out, string(c))
	}
	return out
}
