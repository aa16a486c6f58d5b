package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

var _ proff.FormMemory = (*store.Store)(nil)

// The number forms are remembered per country, in the order they were learnt, each once; nothing but the
// four countries and the two forms is stored.
func TestNumberForms(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	ck := clocktest.New()
	s := storetest.NewWith(t, store.Options{Clock: ck})
	if got, err := s.NumberForms(ctx, "SE"); err != nil || len(got) != 0 {
		t.Fatalf("nothing learnt: %v, %v", got, err)
	}
	for _, f := range []string{proff.FormHyphenated, proff.FormHyphenated, proff.FormDigits, proff.FormHyphenated} {
		ck.Advance(time.Second) // each form learnt a second after the one before
		if err := s.SetNumberForm(ctx, "SE", f); err != nil {
			t.Fatalf("SetNumberForm(SE, %s): %v", f, err)
		}
	}
	if got, err := s.NumberForms(ctx, "SE"); err != nil || !slices.Equal(got, []string{proff.FormHyphenated, proff.FormDigits}) {
		t.Errorf("SE: %v, %v; want hyphenated, digits", got, err)
	}
	if got, err := s.NumberForms(ctx, "FI"); err != nil || len(got) != 0 {
		t.Errorf("FI: %v, %v; want nothing", got, err)
	}
	for _, bad := range [][2]string{{"SE", "556012-5790"}, {"DE", proff.FormDigits}} {
		if err := s.SetNumberForm(ctx, bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), "remember number form") {
			t.Errorf("SetNumberForm(%q, %q) = %v, want refused", bad[0], bad[1], err)
		}
	}
}

// With the store as its memory, a client learns in one run that Proff answers SE numbers hyphenated, and
// the next run's client asks in that form at once: one call per company.
func TestNumberFormsAcrossRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.New(t)
	emu := proffemu.New(proffemu.Options{})
	t.Cleanup(emu.Close)
	emu.NumberForms("SE", false, true)
	nr := proffemu.ValidNumber(orgnr.SE, "556999000")
	lookupCalls := func() int {
		n := 0
		for _, r := range emu.Requests() {
			if strings.HasPrefix(r.Path, "/api/companies/register/") {
				n++
			}
		}
		return n
	}
	for run, want := range []int{2, 1} {
		c, err := proff.New(proff.Options{BaseURL: emu.URL(), Token: emu.Token(), RatePerSecond: 1000, Forms: s})
		if err != nil {
			t.Fatal(err)
		}
		emu.ResetRequests()
		if _, err := c.Lookup(ctx, "SE", nr); err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if n := lookupCalls(); n != want {
			t.Errorf("run %d: %d calls, want %d", run+1, n, want)
		}
	}
}
