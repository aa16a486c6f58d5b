package proffemu_test

import (
	"testing"

	"github.com/proffconnect/proffsync/internal/proffemu"
)

func TestFeedQueryProblems(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{"/name": true}
	for _, tc := range []struct {
		query string
		bad   int
	}{
		{"since=2026-11-28&types=ADDED&types=MUTATED&fields=%2Fname", 0},
		{"scrollId=abc", 0},
		{"since=2026-11-28&fields=%2FphoneNumbers", 1},       // a field not mapped
		{"since=yesterday", 1},                               // not a date
		{"scrollId=abc&since=2026-11-28", 1},                 // a next page carries the scrollId alone
		{"since=2026-11-28&orgnr=923609016&name=Equinor", 2}, // record data
	} {
		if got := proffemu.FeedQueryProblems(tc.query, allowed); len(got) != tc.bad {
			t.Errorf("%s: problems %q, want %d", tc.query, got, tc.bad)
		}
	}
}
