package incremental

import (
	"hash/fnv"
	"slices"
	"time"

	"github.com/proffconnect/proffsync/internal/orgnr"
)

// The cap (sync.max_lookups) takes the due companies stalest first: never looked up first, then the oldest
// lookup, ties by key. Records stream in Id order, so a global choice needs the whole due set first: the
// engine makes a first pass over its records (with Plan) and offers each due company to a BudgetBuilder,
// then builds a Budget and asks Take during the second pass.
//
// The builder keeps 16 bytes per offer (a time and a packed key) and the Budget keeps only the cut-off,
// so Take is O(1) and a Budget weighs nothing: 100,000 companies cost 1.6 MB while building.

// BudgetBuilder collects the due companies of a run's first pass.
type BudgetBuilder struct {
	max     int
	entries []budgetEntry
}

type budgetEntry struct {
	at  int64 // last lookup, Unix nanoseconds; math.MinInt64 for never
	key uint64
}

func (a budgetEntry) compare(b budgetEntry) int {
	switch {
	case a.at < b.at:
		return -1
	case a.at > b.at:
		return 1
	case a.key < b.key:
		return -1
	case a.key > b.key:
		return 1
	}
	return 0
}

// NewBudget starts a budget of at most max lookups; max <= 0 means no cap.
func NewBudget(max int) *BudgetBuilder { return &BudgetBuilder{max: max} }

// Add offers a due company with its last lookup (zero: never). Offering a company twice is harmless.
func (b *BudgetBuilder) Add(k CompanyKey, lastLookup time.Time) {
	if b.max <= 0 {
		return
	}
	b.entries = append(b.entries, entryOf(k, lastLookup))
}

// Build returns the Budget and releases the collected offers.
func (b *BudgetBuilder) Build() *Budget {
	if b.max <= 0 {
		return &Budget{}
	}
	slices.SortFunc(b.entries, budgetEntry.compare)
	e := slices.CompactFunc(b.entries, func(x, y budgetEntry) bool { return x.compare(y) == 0 })
	bud := &Budget{max: b.max, due: len(e)}
	if len(e) > b.max {
		bud.cut, bud.capped = e[b.max-1], true
	}
	b.entries = nil
	return bud
}

// Budget answers, during a run's second pass, whether a due company is looked up now or deferred.
type Budget struct {
	max    int // 0: no cap
	due    int // distinct due companies offered to the builder
	capped bool
	cut    budgetEntry // the stalest-first order's last company taken
	taken  int
}

// Take reports whether the due company k, last looked up at lastLookup (zero: never), is looked up in this
// run; false means deferred to a later run. Call it once per company and run (the engine's company index
// does that): a company due in the second pass that the first pass did not see, is admitted only if it
// sorts before the cut-off, and never beyond the cap.
func (b *Budget) Take(k CompanyKey, lastLookup time.Time) bool {
	if b == nil || b.max <= 0 {
		return true
	}
	if b.taken >= b.max || b.capped && entryOf(k, lastLookup).compare(b.cut) > 0 {
		return false
	}
	b.taken++
	return true
}

// Due is the number of distinct due companies the first pass offered; Due minus the companies taken are
// the run's deferred ones, when the second pass meets the same companies.
func (b *Budget) Due() int {
	if b == nil {
		return 0
	}
	return b.due
}

func entryOf(k CompanyKey, lastLookup time.Time) budgetEntry {
	e := budgetEntry{key: packKey(k)}
	if lastLookup.IsZero() {
		e.at = -1 << 63
	} else {
		e.at = lastLookup.UnixNano()
	}
	return e
}

// packKey packs a canonical key into a uint64 (as massupdate's company index does: country, digit count,
// number), which orders keys deterministically. A key that does not pack (not a canonical number) falls
// back to a hash in the country-0 range: it then only shares a tie-break with another such key.
func packKey(k CompanyKey) uint64 {
	if key, ok := orgnr.Pack(k.Country, k.Org); ok {
		return key
	}
	h := fnv.New64a()
	h.Write([]byte(k.Country + "\x00" + k.Org))
	return h.Sum64() >> 4
}
