package proff_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

// Every account code of the real-shaped example's newest accounts, one point each: an amount is its
// thousands in full units, a ratio is as sent. The example is the published one (the emulator's template).
func TestEveryAccountCodeOfTheExample(t *testing.T) {
	t.Parallel()
	d := template(t)
	newest := d["annualAccounts"].([]any)[0].(map[string]any)
	accs := newest["accounts"].([]any)
	if len(accs) < 50 {
		t.Fatalf("the example's newest accounts have %d codes", len(accs))
	}
	doc := encode(t, d)
	ratios := 0
	for _, a := range accs {
		code, amount := a.(map[string]any)["code"].(string), a.(map[string]any)["amount"].(string)
		sent, err := strconv.ParseFloat(amount, 64)
		if err != nil {
			t.Fatalf("%s: amount %q", code, amount)
		}
		want := sent * 1000
		if proff.IsRatioCode(code) {
			want, ratios = sent, ratios+1
		}
		got, err := proff.ExtractAt(doc, points(t, "accounts."+code), clocktest.Start)
		if err != nil || got["accounts."+code] != want {
			t.Errorf("accounts.%s = %#v, %v; want %v (sent %q)", code, got["accounts."+code], err, want, amount)
		}
	}
	if ratios == 0 {
		t.Error("no ratio code in the example: the ratio branch is not exercised")
	}
	// revenue and profit are SDI and DR of the newest year, in full units.
	got, err := proff.ExtractAt(doc, points(t, "revenue", "profit", "accounts.SDI", "accounts.DR"), clocktest.Start)
	if err != nil || got["revenue"] != got["accounts.SDI"] || got["profit"] != got["accounts.DR"] || got["revenue"] != 112934000.0 {
		t.Errorf("revenue/profit %v, %v", got, err)
	}
}

// status.statusDate (added by Proff in 2025) is a date, in either form real answers use.
func TestStatusDateIsADate(t *testing.T) {
	t.Parallel()
	for _, sent := range []string{"2025-02-14", "14.02.2025", "2025-02-14T00:00:00"} {
		got, err := proff.ExtractAt([]byte(`{"status":{"statusFlag":"ACTIVE","statusDate":"`+sent+`"}}`), points(t, "status.statusDate"), clocktest.Start)
		if err != nil || got["status.statusDate"] != time.Date(2025, 2, 14, 0, 0, 0, 0, time.UTC) {
			t.Errorf("statusDate %q = %#v, %v", sent, got["status.statusDate"], err)
		}
	}
}

// A wrong company's document or a document of the wrong shape is not retried and not a not-found: one
// call, and the lookup error the engine turns into a failed record with that reason.
func TestFidelityFailuresAreNotRetried(t *testing.T) {
	t.Parallel()
	f := setup(t, proffemu.Options{}, func(o *proff.Options) { o.Points = points(t, "name") })
	ctx := context.Background()
	for _, doc := range []string{`{"organisationNumber":"984851006","name":"ANOTHER AS"}`, `{"name":42}`, `[]`} {
		f.emu.ResetRequests()
		f.emu.SetDocument("NO", fjordlys, []byte(doc))
		vals, err := f.c.Lookup(ctx, "NO", fjordlys)
		if err == nil || vals != nil || errors.Is(err, massupdate.ErrNotFound) || errors.Is(err, massupdate.ErrUnauthorized) ||
			errors.Is(err, massupdate.ErrQuotaExhausted) {
			t.Errorf("%s: %v, %v", doc, vals, err)
		}
		if n := lookups(f); n != 1 {
			t.Errorf("%s: %d calls, want 1", doc, n)
		}
	}
}
