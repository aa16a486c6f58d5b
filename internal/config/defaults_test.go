package config

import (
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// The lookups' concurrency and rate have one default, massupdate's, which the Proff client and the engine
// apply too: a config that leaves them out runs exactly as a client or engine built without them.
func TestProffDefaultsAreTheEnginesDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse("p.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Proff.Concurrency != massupdate.DefaultConcurrency || c.Proff.RateLimitPerSecond != massupdate.DefaultRatePerSecond {
		t.Errorf("proff defaults %+v, want concurrency %d and rate %g", c.Proff, massupdate.DefaultConcurrency, massupdate.DefaultRatePerSecond)
	}
}
