// Package proffeed adapts the Proff client's change feed (proff.Client.Changes) to incremental.FeedReader.
// It lives apart from incremental so that incremental imports no adapter (the engine may import it), and
// apart from proff so that proff does not learn the planner's types.
//
// What must never happen here: a feed failure passed on as anything the planner could read as "nothing
// changed": unsupported and failed reads keep their kinds, everything else stops the run.
package proffeed

import (
	"context"
	"errors"
	"fmt"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/proff"
)

// Reader reads the feed through a Proff client (its limiter, retries and technical log).
type Reader struct {
	Client *proff.Client
	// MaxPages bounds one read; proff.DefaultFeedMaxPages when 0.
	MaxPages int
}

var _ incremental.FeedReader = Reader{}

// Changes implements incremental.FeedReader: ADDED and MUTATED entries narrowed to q.Fields, or REMOVED
// entries alone.
func (r Reader) Changes(ctx context.Context, country string, q incremental.FeedQuery,
	fn func(incremental.FeedChange) error) (int, error) {
	opt := proff.FeedOptions{MaxPages: r.MaxPages}
	if q.Removed {
		opt.Types = []proff.FeedType{proff.FeedRemoved}
	} else {
		opt.Types, opt.Fields = []proff.FeedType{proff.FeedAdded, proff.FeedMutated}, q.Fields
	}
	since := q.Since
	if since.IsZero() {
		// Never Proff's default (the last day): the planner always says how far back it needs.
		return 0, fmt.Errorf("read the change feed of %s: no since date", country)
	}
	res, err := r.Client.Changes(ctx, country, since.UTC(), opt, func(c proff.Change) error {
		return fn(incremental.FeedChange{Org: c.OrgNumber, At: c.At})
	})
	switch {
	case err == nil:
		return res.Pages, nil
	case errors.Is(err, proff.ErrFeedUnsupported):
		return res.Pages, fmt.Errorf("%w: %w", incremental.ErrFeedUnsupported, err)
	case errors.Is(err, proff.ErrFeedTooLong):
		return res.Pages, fmt.Errorf("%w: %w: %w", incremental.ErrFeedTooLong, incremental.ErrFeedFailed, err)
	case errors.Is(err, proff.ErrFeedFailed):
		return res.Pages, fmt.Errorf("%w: %w", incremental.ErrFeedFailed, err)
	}
	return res.Pages, err
}
