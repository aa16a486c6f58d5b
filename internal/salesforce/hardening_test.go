package salesforce_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

// The API reserve reads Sforce-Limit-Info in every form Salesforce sends it. At 906 of 1000 calls used a 10 %
// reserve is reached: the read must stop before its first query, whatever the form. (Split on "," alone,
// the "; " forms were ignored and a run went on writing at 906/1000.)
func TestReserveHoldsForEveryLimitInfoForm(t *testing.T) {
	t.Parallel()
	for name, form := range map[string]sfemu.LimitInfoForm{
		"bursts": sfemu.LimitInfoBursts, "per-app": sfemu.LimitInfoPerApp, "plain": sfemu.LimitInfoPlain, "comma": sfemu.LimitInfoComma,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sfemu.Options{APIUsed: 905, APIMax: 1000, LimitInfo: form}, func(o *salesforce.Options) { o.ReservePercent = 10 })
			e.add(3, optedIn)
			d, err := e.c.Describe(context.Background()) // the 906th call
			if err != nil {
				t.Fatal(err)
			}
			if err := e.c.ValidateFields(d); err != nil {
				t.Fatal(err)
			}
			if u, m, ok := e.c.APIUsage(); !ok || u != 906 || m != 1000 {
				t.Fatalf("APIUsage = %d/%d %v, want 906/1000 from the header", u, m, ok)
			}
			pages := 0
			err = e.c.Records(context.Background(), "", func([]massupdate.Record) error { pages++; return nil })
			if !errors.Is(err, massupdate.ErrQuotaExhausted) || !strings.Contains(err.Error(), "reserve") || pages != 0 {
				t.Fatalf("Records at 906/1000: %v after %d pages, want the reserve to stop it before any page", err, pages)
			}
			if n := len(queries(e.emu.Requests())); n != 0 {
				t.Fatalf("%d queries sent below the reserve", n)
			}
		})
	}
}
