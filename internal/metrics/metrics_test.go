package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/metrics"
	"github.com/proffconnect/proffsync/internal/transport"
)

// scrape fetches /metrics over real HTTP and parses the text exposition, as Prometheus would.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels include want; ok false when absent.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(fams, name, labels)
	if !ok {
		t.Errorf("%s%v: series missing", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func TestExposesSeriesWithValues(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	ctx := context.Background()

	m.RecordCall(ctx, transport.Call{Service: transport.Proff, Status: 200, Attempt: 1})
	m.RecordCall(ctx, transport.Call{Service: transport.Proff, Status: 429, Attempt: 1})
	m.RecordCall(ctx, transport.Call{Service: transport.Proff, Status: 200, Attempt: 2})
	m.RecordCall(ctx, transport.Call{Service: transport.Proff, Status: 0, Attempt: 3, ErrorClass: transport.ClassTimeout})
	m.RecordCall(ctx, transport.Call{Service: transport.Salesforce, Status: 200, Attempt: 1, APIUsed: 120, APIMax: 15000})
	m.RecordCall(ctx, transport.Call{Service: transport.Salesforce, Status: 503, Attempt: 1, APIUsed: 125, APIMax: 15000})
	// A call without the limit header must not reset the usage gauges to zero.
	m.RecordCall(ctx, transport.Call{Service: transport.Salesforce, Status: 200, Attempt: 1})
	m.AddRateLimitWait(1500 * time.Millisecond)
	m.AddRateLimitWait(500 * time.Millisecond)
	m.ScheduleSkipped(metrics.SkipLocked)
	m.ScheduleSkipped(metrics.SkipLocked)
	m.ScheduleSkipped(metrics.SkipAlreadyServed)

	start := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	end1 := start.Add(190 * time.Second)
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Succeeded, StartedAt: start,
		FinishedAt: &end1, Counts: massupdate.Counts{Selected: 10, Updated: 4, Unchanged: 3, NotFound: 1,
			MissingOrgNumber: 1, InvalidOrgNumber: 1}})
	start2 := end1.Add(time.Hour)
	end2 := start2.Add(42 * time.Second)
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Partial, StartedAt: start2,
		FinishedAt: &end2, Counts: massupdate.Counts{Selected: 5, Updated: 2, Failed: 3}})
	// A running run has no final counts: ignored.
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Running, StartedAt: end2,
		Counts: massupdate.Counts{Selected: 100, Updated: 100}})
	m.ObserveRun(nil)

	fams := scrape(t, m.Handler())

	expect(t, fams, "proffsync_api_calls_total", map[string]string{"service": "proff", "class": "2xx"}, 2)
	expect(t, fams, "proffsync_api_calls_total", map[string]string{"service": "proff", "class": "4xx"}, 1)
	expect(t, fams, "proffsync_api_calls_total", map[string]string{"service": "proff", "class": "error"}, 1)
	expect(t, fams, "proffsync_api_calls_total", map[string]string{"service": "salesforce", "class": "2xx"}, 2)
	expect(t, fams, "proffsync_api_calls_total", map[string]string{"service": "salesforce", "class": "5xx"}, 1)
	expect(t, fams, "proffsync_api_retries_total", map[string]string{"service": "proff"}, 2)
	if _, ok := value(fams, "proffsync_api_retries_total", map[string]string{"service": "salesforce"}); ok {
		t.Error("salesforce retries counted without any retry")
	}
	expect(t, fams, "proffsync_salesforce_api_requests_used", nil, 125)
	expect(t, fams, "proffsync_salesforce_api_requests_max", nil, 15000)
	expect(t, fams, "proffsync_rate_limit_wait_seconds_total", nil, 2)
	expect(t, fams, "proffsync_schedule_skipped_total", map[string]string{"reason": "locked"}, 2)
	expect(t, fams, "proffsync_schedule_skipped_total", map[string]string{"reason": "already_served"}, 1)

	expect(t, fams, "proffsync_runs_total", map[string]string{"trigger": "schedule", "status": "succeeded"}, 1)
	expect(t, fams, "proffsync_runs_total", map[string]string{"trigger": "manual", "status": "partial"}, 1)
	if _, ok := value(fams, "proffsync_runs_total", map[string]string{"status": "running"}); ok {
		t.Error("a running run was counted")
	}
	for outcome, want := range map[string]float64{"updated": 6, "unchanged": 3, "not_found": 1,
		"missing_org_number": 1, "invalid_org_number": 1, "failed": 3} {
		expect(t, fams, "proffsync_records_total", map[string]string{"outcome": outcome}, want)
	}
	// The partial run is the last run, but not a success.
	expect(t, fams, "proffsync_last_success_timestamp_seconds", nil, float64(end1.Unix()))
	expect(t, fams, "proffsync_last_run_duration_seconds", nil, 42)
	expect(t, fams, "proffsync_last_run_timestamp_seconds", nil, float64(end2.Unix()))

	for name := range fams {
		if !strings.HasPrefix(name, "proffsync_") && !strings.HasPrefix(name, "go_") &&
			!strings.HasPrefix(name, "process_") && !strings.HasPrefix(name, "promhttp_") {
			t.Errorf("unexpected series family %q", name)
		}
	}
}

func TestLastSuccessIgnoresDryAndOlderRuns(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	t0 := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
	newer, older, dry := t0.Add(2*time.Hour), t0.Add(time.Hour), t0.Add(3*time.Hour)
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Succeeded, StartedAt: t0, FinishedAt: &newer})
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Succeeded, StartedAt: t0, FinishedAt: &older})
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Succeeded, DryRun: true, StartedAt: t0, FinishedAt: &dry})

	fams := scrape(t, m.Handler())
	expect(t, fams, "proffsync_last_success_timestamp_seconds", nil, float64(newer.Unix()))
	expect(t, fams, "proffsync_runs_total", map[string]string{"trigger": "manual", "status": "succeeded"}, 2)
	// Records start at zero so dashboards see every outcome before the first run.
	expect(t, fams, "proffsync_records_total", map[string]string{"outcome": "failed"}, 0)
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	fams := scrape(t, m.Handler())
	expect(t, fams, "proffsync_schedule_enabled", nil, 0)
	next := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	m.SetSchedule(true, next)
	fams = scrape(t, m.Handler())
	expect(t, fams, "proffsync_schedule_enabled", nil, 1)
	expect(t, fams, "proffsync_schedule_next_run_timestamp_seconds", nil, float64(next.Unix()))
	m.SetSchedule(false, time.Time{})
	fams = scrape(t, m.Handler())
	expect(t, fams, "proffsync_schedule_enabled", nil, 0)
	expect(t, fams, "proffsync_schedule_next_run_timestamp_seconds", nil, 0)
}

func TestSeparateRegistries(t *testing.T) {
	t.Parallel()
	a, b := metrics.New(), metrics.New()
	a.ScheduleSkipped(metrics.SkipLocked)
	if _, ok := value(scrape(t, b.Handler()), "proffsync_schedule_skipped_total", map[string]string{"reason": "locked"}); ok {
		t.Error("a series of one Metrics showed up in another")
	}
}

func TestStatusClass(t *testing.T) {
	t.Parallel()
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 302: "3xx", 404: "4xx", 429: "4xx", 500: "5xx", 503: "5xx", 42: "error"} {
		if got := metrics.StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

// A normal night has a few failed records: a partial run must count as completed, or the "no completed run
// for 25 h" alert of deploy/monitoring fires for ever.
func TestPartialRunIsCompleted(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	fams := scrape(t, m.Handler())
	expect(t, fams, "proffsync_last_completed_run_timestamp_seconds", nil, 0)

	t0 := time.Date(2026, 6, 1, 2, 0, 0, 0, time.UTC)
	partial := t0.Add(3 * time.Minute)
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Partial, StartedAt: t0,
		FinishedAt: &partial, Counts: massupdate.Counts{Selected: 100, Updated: 97, Failed: 3}})
	fams = scrape(t, m.Handler())
	expect(t, fams, "proffsync_last_completed_run_timestamp_seconds", nil, float64(partial.Unix()))
	expect(t, fams, "proffsync_last_success_timestamp_seconds", nil, 0) // unchanged meaning: succeeded only

	// Failed, interrupted and dry runs complete nothing; an older completed run observed late moves nothing.
	failed, interrupted, dry, older := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour), t0.Add(time.Minute)
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.StatusFail, StartedAt: t0, FinishedAt: &failed})
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Interrupted, StartedAt: t0, FinishedAt: &interrupted})
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Succeeded, DryRun: true, StartedAt: t0, FinishedAt: &dry})
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Succeeded, StartedAt: t0, FinishedAt: &older})
	fams = scrape(t, m.Handler())
	expect(t, fams, "proffsync_last_completed_run_timestamp_seconds", nil, float64(partial.Unix()))

	succeeded := t0.Add(4 * time.Hour)
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Succeeded, StartedAt: t0, FinishedAt: &succeeded})
	fams = scrape(t, m.Handler())
	expect(t, fams, "proffsync_last_completed_run_timestamp_seconds", nil, float64(succeeded.Unix()))
}

// expectStatus checks proffsync_last_run_status: 1 for want, 0 for each other status, all five present.
func expectStatus(t *testing.T, fams map[string]*dto.MetricFamily, want string) {
	t.Helper()
	for _, st := range []string{"running", "succeeded", "partial", "failed", "interrupted"} {
		v := 0.0
		if st == want {
			v = 1
		}
		expect(t, fams, "proffsync_last_run_status", map[string]string{"status": st}, v)
	}
}

func TestLastRunStatusFlips(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	expectStatus(t, scrape(t, m.Handler()), "") // all five at 0 before the first run

	t0 := time.Date(2026, 6, 2, 2, 0, 0, 0, time.UTC)
	end1, end2, end3 := t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Interrupted, StartedAt: t0, FinishedAt: &end1})
	expectStatus(t, scrape(t, m.Handler()), "interrupted")
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Succeeded, StartedAt: t0, FinishedAt: &end3})
	expectStatus(t, scrape(t, m.Handler()), "succeeded")
	// A run that ended before the newest one, observed late, is not the last run.
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.StatusFail, StartedAt: t0, FinishedAt: &end2})
	expectStatus(t, scrape(t, m.Handler()), "succeeded")
	// Nor is a run still running.
	m.ObserveRun(&massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Running, StartedAt: end3})
	expectStatus(t, scrape(t, m.Handler()), "succeeded")
}

// A restarted server takes the last runs from the store, without counting them as runs of its own.
func TestRestoreLast(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	t0 := time.Date(2026, 6, 3, 2, 0, 0, 0, time.UTC)
	end1, end2 := t0.Add(time.Minute), t0.Add(time.Hour)
	m.RestoreLast([]massupdate.Run{
		{Trigger: massupdate.Manual, Status: massupdate.Running, StartedAt: end2.Add(time.Minute)},
		{Trigger: massupdate.Schedule, Status: massupdate.StatusFail, StartedAt: t0.Add(50 * time.Minute), FinishedAt: &end2},
		{Trigger: massupdate.Schedule, Status: massupdate.Partial, StartedAt: t0, FinishedAt: &end1,
			Counts: massupdate.Counts{Selected: 2, Failed: 2}},
	})
	fams := scrape(t, m.Handler())
	expect(t, fams, "proffsync_last_completed_run_timestamp_seconds", nil, float64(end1.Unix()))
	expect(t, fams, "proffsync_last_run_timestamp_seconds", nil, float64(end2.Unix()))
	expect(t, fams, "proffsync_last_run_duration_seconds", nil, 600)
	expectStatus(t, fams, "failed")
	if _, ok := value(fams, "proffsync_runs_total", nil); ok {
		t.Error("restored runs were counted as runs")
	}
	expect(t, fams, "proffsync_records_total", map[string]string{"outcome": "failed"}, 0)
}

// Each ended run adds its companies by where their data came from; the series exist at 0 from the start.
func TestLookupsAndNumberForms(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	fams := scrape(t, m.Handler())
	for _, src := range []string{"fresh", "cached", "deferred"} {
		expect(t, fams, "proffsync_lookups_total", map[string]string{"source": src}, 0)
	}
	t0 := time.Date(2026, 6, 4, 2, 0, 0, 0, time.UTC)
	end := t0.Add(time.Minute)
	for i := 0; i < 2; i++ {
		m.ObserveRun(&massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Partial, StartedAt: t0, FinishedAt: &end,
			Lookups: massupdate.Lookups{Fresh: 10, Cached: 90, Deferred: 5}})
	}
	m.AddNumberFormCalls("SE", "digits", 7)
	m.AddNumberFormCalls("SE", "hyphenated", 3)
	m.AddNumberFormCalls("SE\x1b", "<script>", 1) // a label value outside the fixed sets never becomes a series
	fams = scrape(t, m.Handler())
	expect(t, fams, "proffsync_lookups_total", map[string]string{"source": "fresh"}, 20)
	expect(t, fams, "proffsync_lookups_total", map[string]string{"source": "cached"}, 180)
	expect(t, fams, "proffsync_lookups_total", map[string]string{"source": "deferred"}, 10)
	expect(t, fams, "proffsync_proff_number_form_calls_total", map[string]string{"country": "SE", "form": "digits"}, 7)
	expect(t, fams, "proffsync_proff_number_form_calls_total", map[string]string{"country": "SE", "form": "hyphenated"}, 3)
	expect(t, fams, "proffsync_proff_number_form_calls_total", map[string]string{"country": "other", "form": "other"}, 1)
	// After a partial run the completed timestamp is its end, and the last status partial.
	expect(t, fams, "proffsync_last_completed_run_timestamp_seconds", nil, float64(end.Unix()))
	expectStatus(t, fams, "partial")
}
