package cli

import (
	"math"
	"runtime/debug"
	"testing"
)

// Not parallel: the memory limit is the process's.
func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })

	debug.SetMemoryLimit(math.MaxInt64)
	SetMemoryLimit(func(string) string { return "" })
	if got := debug.SetMemoryLimit(-1); got != DefaultMemoryLimit {
		t.Errorf("without GOMEMLIMIT the limit is %d, want %d", got, DefaultMemoryLimit)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	SetMemoryLimit(func(k string) string {
		if k == "GOMEMLIMIT" {
			return "200MiB"
		}
		return ""
	})
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set the limit was changed to %d", got)
	}
}
