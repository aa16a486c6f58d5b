package proffeed_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/incremental/proffeed"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

func reader(t *testing.T, emu *proffemu.Server) proffeed.Reader {
	t.Helper()
	c, err := proff.New(proff.Options{BaseURL: emu.URL(), Token: "test-token", RatePerSecond: 1000, MaxAttempts: 1,
		Clock: clocktest.New()})
	if err != nil {
		t.Fatal(err)
	}
	return proffeed.Reader{Client: c}
}

// Without a since, Proff would answer its default (the last day) and the planner would believe it read
// more: the adapter refuses before any call.
func TestReaderRefusesAReadWithoutSince(t *testing.T) {
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Empty: true})
	defer emu.Close()
	pages, err := reader(t, emu).Changes(context.Background(), "NO", incremental.FeedQuery{}, func(incremental.FeedChange) error { return nil })
	if err == nil || pages != 0 || len(emu.Requests()) != 0 {
		t.Errorf("pages %d, err %v, %d requests; want a refusal before the network", pages, err, len(emu.Requests()))
	}
}

// Proff's kinds of failure come out as the planner's.
func TestReaderKeepsTheKindOfFailure(t *testing.T) {
	t.Parallel()
	emu := proffemu.New(proffemu.Options{Empty: true})
	defer emu.Close()
	r := reader(t, emu)
	q := incremental.FeedQuery{Since: time.Now().UTC().Truncate(24 * time.Hour)}
	nop := func(incremental.FeedChange) error { return nil }
	if _, err := r.Changes(context.Background(), "SE", q, nop); !errors.Is(err, incremental.ErrFeedUnsupported) {
		t.Errorf("SE: %v, want ErrFeedUnsupported", err)
	}
	emu.FailNext(1, 503, "")
	if _, err := r.Changes(context.Background(), "NO", q, nop); !errors.Is(err, incremental.ErrFeedFailed) {
		t.Errorf("503: %v, want ErrFeedFailed", err)
	}
	emu.RevokeToken()
	_, err := r.Changes(context.Background(), "NO", q, nop)
	if err == nil || errors.Is(err, incremental.ErrFeedFailed) || errors.Is(err, incremental.ErrFeedUnsupported) {
		t.Errorf("401: %v, want an error that stops the run", err)
	}
}
