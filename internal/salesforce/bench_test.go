package salesforce_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

// BenchmarkRecords reads every selected record against the emulator, 10k and 100k of them, in pages of
// 2000. Besides B/op and allocs/op (which include the emulator's side, as it runs in this process), it
// reports peak-live-KB: the most live heap seen above the seeded baseline, measured after a GC at every
// page. Streaming shows as the same peak for 10k and 100k records.
//
//	go test -run '^$' -bench Records -benchmem ./internal/salesforce/
func BenchmarkRecords(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret, APIMax: 1 << 40})
			defer emu.Close()
			for i := 0; i < n; i++ {
				emu.AddRecord("Account", optedIn(i))
			}
			c, err := salesforce.New(salesforce.Options{LoginURL: emu.URL(), ClientID: clientID, ClientSecret: clientSecret,
				APIVersion: "62.0", Object: "Account", OrgNumberField: "Org_Number__c", CountryField: "Country_Code__c",
				OptInField: "Proff_Mass_Update__c", Fields: []string{"Name", "BillingPostalCode", "NumberOfEmployees"}})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			d, err := c.Describe(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.ValidateFields(d); err != nil {
				b.Fatal(err)
			}
			var ms runtime.MemStats
			var peak uint64
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				emu.ResetRequests()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				b.StartTimer()
				got := 0
				err := c.Records(ctx, "", func(p []massupdate.Record) error {
					got += len(p)
					b.StopTimer()
					runtime.GC()
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
						peak = ms.HeapAlloc - base
					}
					b.StartTimer()
					return nil
				})
				if err != nil || got != n {
					b.Fatalf("read %d of %d: %v", got, n, err)
				}
			}
			b.ReportMetric(float64(peak)/1024, "peak-live-KB")
		})
	}
}
