package incremental_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
)

func TestBudgetTakesStalestFirst(t *testing.T) {
	t.Parallel()
	never := time.Time{}
	offers := []struct {
		k  incremental.CompanyKey
		at time.Time
	}{
		{key("NO", "923609016"), t0.Add(-2 * day)},
		{key("SE", "5560125790"), never},
		{key("NO", "984851006"), t0.Add(-5 * day)},
		{key("NO", "971274808"), never},
		{key("DK", "24256790"), t0.Add(-5 * day)},  // ties with 984851006: the key decides
		{key("NO", "923609016"), t0.Add(-2 * day)}, // offered twice (two pages): one company
	}
	b := incremental.NewBudget(3)
	for _, o := range offers {
		b.Add(o.k, o.at)
	}
	bud := b.Build()
	if bud.Due() != 5 {
		t.Errorf("Due = %d, want 5 distinct companies", bud.Due())
	}
	// Never looked up first (both), then the oldest lookup, ties in key order (NO before DK: the packed
	// key orders countries NO, SE, DK, FI).
	want := map[incremental.CompanyKey]bool{key("SE", "5560125790"): true, key("NO", "971274808"): true,
		key("NO", "984851006"): true}
	// The second pass meets them in another order (record Id order): the answer does not depend on it.
	for i := len(offers) - 1; i >= 0; i-- {
		o := offers[i]
		if i == 0 {
			continue // each company is asked once per run
		}
		if got := bud.Take(o.k, o.at); got != want[o.k] {
			t.Errorf("Take(%v, %v) = %v, want %v", o.k, o.at, got, want[o.k])
		}
	}
	// A company the first pass did not see is never taken beyond the cap, even the stalest.
	if bud.Take(key("FI", "01120389"), never) {
		t.Error("a fourth company was taken with a cap of 3")
	}
}

func TestBudgetWithRoomTakesEveryDueCompanyButNoMore(t *testing.T) {
	t.Parallel()
	b := incremental.NewBudget(3)
	b.Add(kNO, t0)
	b.Add(kSE, time.Time{})
	bud := b.Build()
	if !bud.Take(kNO, t0) || !bud.Take(kSE, time.Time{}) {
		t.Fatal("a due company refused with room in the budget")
	}
	// Companies the first pass missed are taken while the cap allows.
	if !bud.Take(key("DK", "24256790"), t0) {
		t.Error("third company refused with a cap of 3")
	}
	if bud.Take(key("DK", "61056416"), time.Time{}) {
		t.Error("fourth company taken with a cap of 3")
	}
}

func TestNoCapTakesEverything(t *testing.T) {
	t.Parallel()
	for _, bud := range []*incremental.Budget{nil, incremental.NewBudget(0).Build()} {
		for i := range 1000 {
			if !bud.Take(key("NO", fmt.Sprint(i)), t0) {
				t.Fatalf("budget %v refused company %d without a cap", bud, i)
			}
		}
	}
}

// BenchmarkBudget100k builds a budget over 100,000 due companies and asks for each: the allocations are
// the builder's 16 bytes an offer (grown by append), and none per Take.
func BenchmarkBudget100k(b *testing.B) {
	keys := make([]incremental.CompanyKey, 100_000)
	for i := range keys {
		keys[i] = key("NO", fmt.Sprintf("%09d", 800_000_000+i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bb := incremental.NewBudget(10_000)
		for i, k := range keys {
			bb.Add(k, t0.Add(-time.Duration(i%97)*day))
		}
		bud := bb.Build()
		n := 0
		for i, k := range keys {
			if bud.Take(k, t0.Add(-time.Duration(i%97)*day)) {
				n++
			}
		}
		if n != 10_000 {
			b.Fatalf("took %d, want 10000", n)
		}
	}
}
