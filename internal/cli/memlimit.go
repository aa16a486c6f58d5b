package cli

import (
	"runtime/debug"
)

// DefaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT does not set one. A run's live
// heap grows with the distinct companies it meets (about 45 MB at 100,000 records when it serves stored
// values); what the process holds beyond that is the garbage collector's headroom, which by default doubles
// the heap and took a 100,000-record run to 112 MiB. The limit makes the collector work before the headroom
// grows past it, so peak RSS stays under 100 MiB there. It is soft: a larger CRM's heap grows past it (the
// runtime then caps the collector's CPU), and the run is bound by Proff's rate limit long before the
// collector's time matters. Set GOMEMLIMIT (e.g. to 80 % of a container's memory limit) to choose another.
const DefaultMemoryLimit = 80 << 20

// SetMemoryLimit applies DefaultMemoryLimit unless the environment sets GOMEMLIMIT, which the runtime has
// applied already. main calls it once; it changes the whole process.
func SetMemoryLimit(getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(DefaultMemoryLimit)
}
