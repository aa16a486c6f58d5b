package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/web"
)

// BenchmarkPages times the handler over six nightly 100,000-record runs (each 50,000 problem records, 30,000
// of them failed every night, and 50,000 field changes): the run list, and the newest run's first and last
// pages, unfiltered and filtered by field. Every page must stay well under 100 ms.
//
//	go test -run '^$' -bench Pages -benchtime 20x ./internal/web/
func BenchmarkPages(b *testing.B) {
	s := storetest.New(b)
	var last string
	for night := range 6 {
		last = bigRun(b, s, t0.Add(time.Duration(night)*24*time.Hour)).ID
	}
	// What autovacuum does to freshly written tables soon after a run: statistics and the visibility map
	// the index-only scans need.
	if _, err := s.Pool().Exec(context.Background(), "VACUUM ANALYZE run_records, field_changes, runs"); err != nil {
		b.Fatal(err)
	}
	h := web.New(web.Options{Store: s, Loopback: true, Clock: pagesClock})
	for _, c := range []struct{ name, target string }{
		{"index", "/"},
		{"run-first-page", "/runs/" + last},
		{"run-last-page", "/runs/" + last + "?rpage=500&cpage=500"},
		{"run-field-last-page", "/runs/" + last + "?cpage=500&field=Name"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.target, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", c.target, rec.Code)
				}
			}
		})
	}
}
