// Package incremental decides which companies a run must look up in Proff and which it may serve from the
// values stored at their last lookup (issue 12): the planner (Plan), the nightly cap (Budget) and the
// change-feed read (ReadFeeds). It knows neither HTTP nor SQL: the store and the Proff client reach it
// through the small interfaces declared here, and it imports no other package of proffsync, so that the
// engine, the store and the CLI may all depend on it.
//
// What must never happen here: a company served from stored values when anything says it may have
// changed (a feed that could not be read, a gap in the feed's history, a changed mapping, a changed org
// number); a company that Proff's feed lists but no CRM record holds being stored; a whole register
// document stored (only the admin-selected points, README: Privacy P10).
package incremental

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// CompanyKey names a company: its country (NO, SE, DK, FI) and its canonical organisation number.
type CompanyKey struct {
	Country string
	Org     string
}

// Less orders keys by country, then number: the deterministic tie-break of the cap.
func (k CompanyKey) Less(o CompanyKey) bool {
	if k.Country != o.Country {
		return k.Country < o.Country
	}
	return k.Org < o.Org
}

// Status is how a company's last lookup ended.
type Status string

const (
	Found    Status = "found"
	NotFound Status = "not_found"
	Failed   Status = "failed"
)

// Valid reports whether s is one of the three statuses.
func (s Status) Valid() bool { return s == Found || s == NotFound || s == Failed }

// StoredCompany is what is kept of a company's last lookup.
type StoredCompany struct {
	// MappingKey says which mapping Vals belong to (see MappingKeyOf).
	MappingKey string
	// Vals are the mapped values in the engine's packed form, opaque here; empty unless Status is Found.
	Vals       []byte
	LookedUpAt time.Time
	Status     Status
	// FeedChangedAt is the newest change-feed entry seen for the company; zero when none.
	FeedChangedAt time.Time
}

// SavedCompany is one company looked up fresh, to be stored in the transaction of its batch.
type SavedCompany struct {
	Key        CompanyKey
	MappingKey string
	Vals       []byte
	Status     Status
	LookedUpAt time.Time
}

// RecordKey is the company a record pointed at when it was last processed.
type RecordKey struct {
	RecordID string
	Key      CompanyKey
}

// Save is what a batch adds to the stored state: the companies it looked up fresh and the company each of
// its records pointed at. A dry run saves nothing (see Plan).
type Save struct {
	Companies []SavedCompany
	Records   []RecordKey
}

// Empty reports whether s holds nothing to store.
func (s Save) Empty() bool { return len(s.Companies) == 0 && len(s.Records) == 0 }

// MappedPoint is one rule's data point and its kind, in rule order.
type MappedPoint struct {
	Point string
	Kind  string
}

// MappingKeyOf is the key of the mapping whose values a company's stored Vals hold. The engine packs values
// slot by slot in rule order, so the key covers the points, their kinds and their order; version covers
// what gives a point its value and its bytes: the caller passes the Proff catalogue's version
// (proff.CatalogueVersion: a point that changes meaning) and the engine's packed format's, e.g.
// "catalogue=2;packed=1". Any change to them makes every company due once ("new"). Field names and modes
// are not part of it: they decide how a value is written, not which value Proff gave, and stored values
// stay good across such a change.
func MappingKeyOf(version string, points []MappedPoint) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	write := func(s string) {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	write(version)
	for _, p := range points {
		write(p.Point)
		write(p.Kind)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
