package massupdate_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/transport"
)

// benchRun runs one Mass Update over n records (every third one needing its Name written) against the
// emulators with the given latency and Proff rate, and reports wall time, records per second,
// Salesforce calls against the minimum, and the heap's peak.
func benchRun(b *testing.B, n int, latency time.Duration, rate float64) {
	sf := sfemu.New(sfemu.Options{ClientID: "bench", ClientSecret: "bench-secret-xxxx", APIMax: 10_000_000})
	defer sf.Close()
	pe := proffemu.New(proffemu.Options{Token: "bench-token-xxxxxxxx", Empty: true, CallLimitPerMinute: 1_000_000})
	defer pe.Close()
	next := 80000000
	for i := 0; i < n; i++ {
		var org string
		for org == "" { // some prefixes have no check digit (remainder 1): skip them
			for d := 0; d <= 9 && org == ""; d++ {
				if c := fmt.Sprintf("%08d%d", next, d); orgnr.Valid(orgnr.NO, c) {
					org = c
				}
			}
			next++
		}
		name := fmt.Sprintf("BENCH COMPANY %d AS", i)
		pe.AddCompany(proffemu.Company{Country: "NO", OrgNumber: org, Name: name, ZipCode: "0150"})
		cur := name
		if i%3 == 0 {
			cur = "Old name"
		}
		sf.AddRecord("Account", map[string]any{"Name": cur, "Org_Number__c": org, "Proff_Mass_Update__c": true,
			"BillingPostalCode": "0150"})
	}
	sf.SetLatency(latency)
	pe.SetLatency(latency)
	st := storetest.New(b)
	rules := []mapping.Rule{{Point: "name", Field: "Name"}, {Point: "visitorAddress.zipCode", Field: "BillingPostalCode"}}
	var points []proff.DataPoint
	kinds := map[string]mapping.Kind{}
	for _, r := range rules {
		dp, err := proff.ResolvePoint(r.Point)
		if err != nil {
			b.Fatal(err)
		}
		points = append(points, dp)
		kinds[dp.Name] = dp.Kind
	}
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		tally := &transport.Tally{Next: st.CallLog()}
		sfc, err := salesforce.New(salesforce.Options{LoginURL: sf.URL(), ClientID: "bench", ClientSecret: "bench-secret-xxxx",
			APIVersion: "62.0", Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c",
			Fields: []string{"Name", "BillingPostalCode"}, Recorder: tally, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		pc, err := proff.New(proff.Options{BaseURL: pe.URL(), Token: "bench-token-xxxxxxxx", RatePerSecond: rate,
			Concurrency: 8, Points: points, Recorder: tally, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		eng, err := massupdate.New(massupdate.Options{Source: sfc, Lookup: pc, Writer: sfc, Store: st, Rules: rules,
			Kinds: kinds, DefaultCountry: "NO", Concurrency: 8, RatePerSecond: rate,
			Calls: func() massupdate.APICalls {
				p, s := tally.Counts()
				return massupdate.APICalls{Proff: p, Salesforce: s}
			}})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		peak := sampleHeap()
		b.StartTimer()
		start := time.Now()
		run, err := eng.Run(context.Background(), massupdate.RunRequest{DryRun: it > 0})
		elapsed := time.Since(start)
		b.StopTimer()
		heap := peak()
		if err != nil || run.Counts.Selected != int64(n) {
			b.Fatalf("run %+v err %v", run, err)
		}
		written := run.Counts.Updated
		if it > 0 {
			written = 0 // dry runs after the first: nothing is written
		}
		min := 1 + 1 + int64((n+1999)/2000) + (written+199)/200 // login, describe, query pages, writes
		b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
		b.ReportMetric(float64(run.APICalls.Salesforce), "sf_calls")
		b.ReportMetric(float64(min), "sf_calls_min")
		// The emulators live in this process and hold every Proff document: the heap is theirs mostly, so
		// this is an upper bound of the engine's memory, not its measure.
		b.ReportMetric(float64(heap)/(1<<20), "peak_heap_MiB_with_emulators")
		if rate > 0 {
			b.ReportMetric(float64(run.APICalls.Proff)/rate, "bound_s")
		}
		b.ReportMetric(elapsed.Seconds(), "wall_s")
		b.StartTimer()
	}
}

// sampleHeap samples the heap in use every 20 ms until the returned func is called, which returns the peak.
func sampleHeap() func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		var m runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); return <-done }
}

// BenchmarkRun5000: issue 5's first figure, 30 ms latency and 200 lookups/s; the bound is N/rate = 25 s.
func BenchmarkRun5000(b *testing.B) { benchRun(b, 5000, 30*time.Millisecond, 200) }

// BenchmarkOverhead20000: no latency, no rate limit: the engine's and adapters' own cost per record (the
// emulators run in this process, so this understates what a separate process would allow).
func BenchmarkOverhead20000(b *testing.B) { benchRun(b, 20000, 0, 1e6) }
