package cli

import (
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector's target (GOGC) when the environment sets none. A run's live heap
// grows with the distinct companies it meets (about 45 MB at 100,000 records when it serves stored values);
// what the process holds beyond that is the collector's headroom, which at Go's default of 100 doubles the
// heap and took a 100,000-record run to 109 MiB of RSS. At 60 the same run peaks at 93 MiB for about 12 %
// more wall time, measured with .ci/bench incr100k. A soft memory limit of 80 MiB was measured too: it kept
// RSS at 93 MiB but, the live heap being close to it, more than doubled the wall time, and it would make a
// larger CRM's run collect without end. GOGC (and GOMEMLIMIT, which the runtime reads itself) choose
// otherwise.
const DefaultGCPercent = 60

// TuneGC applies DefaultGCPercent unless the environment sets GOGC, which the runtime has applied already.
// main calls it once; it changes the whole process.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(DefaultGCPercent)
}
