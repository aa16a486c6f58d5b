package incremental

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Reading Proff's change feed (Proff's API documentation, "The change feed"). The feed is a hint, never the truth:
// whatever goes wrong makes the country fall back to full lookups for the run, logged; nothing is skipped
// because of a feed that was not read.
//
// What is stored and when: every entry marks the company it names, if a CRM record holds it (the store
// ignores the others), as it is read, in chunks; the country's feed state (how far the reads reach) is
// advanced only with the last chunk, after the whole read succeeded. A mark can only make a company due,
// so marks of a read that failed half-way are harmless, and the next run reads again from the old date.
// The same argument makes a dry run's feed read safe: what it stores makes no later run skip a lookup.

// UnsupportedRetry is how long a country whose feed answered a 4xx is not asked again: Proff publishes the
// feed for NO only, and a probe a week costs a call or two a week per country (two when a fields filter is
// refused first, see readCountry), while a country that gains a feed is used within a week.
const UnsupportedRetry = 7 * 24 * time.Hour

// markChunk bounds the entries held before they are marked: a 30-day read of a big country lists hundreds
// of thousands, and a run must stay within its memory bound.
const markChunk = 5000

// ErrFeedUnsupported is wrapped by a FeedReader when the country has no feed (Proff answered a 4xx).
var ErrFeedUnsupported = errors.New("no change feed for that country")

// ErrFeedFailed is wrapped by a FeedReader when a read failed or answered strangely; the country falls back
// to full lookups for the run.
var ErrFeedFailed = errors.New("the change feed could not be read")

// ErrFeedTooLong is wrapped, with ErrFeedFailed, by a FeedReader when a read needs more pages than it may
// take (a long pause, a busy month): asked again, the same span would fail every night, and the feed would
// never start.
var ErrFeedTooLong = errors.New("the change feed holds more than one read may take")

// FeedQuery is one read of a country's feed.
type FeedQuery struct {
	// Since is the first day asked for (a UTC midnight; sent as its date).
	Since time.Time
	// Removed asks for REMOVED entries only; otherwise ADDED and MUTATED entries, MUTATED ones narrowed to
	// Fields. The entries do not say their kind, so the removed ones are read on their own.
	Removed bool
	// Fields are the JSON-pointer prefixes of the mapped points; nil: any change.
	Fields []string
}

// FeedChange is one feed entry: the company's canonical org number and when Proff recorded the change
// (zero when the entry gave no date).
type FeedChange struct {
	Org string
	At  time.Time
}

// FeedReader reads a country's feed (the Proff client, through proffeed.Reader). It calls fn for each entry
// and returns the pages it asked for, also on error. Errors wrap ErrFeedUnsupported or ErrFeedFailed; any
// other error (token refused, quota spent, cancelled, or fn's own) stops the run.
type FeedReader interface {
	Changes(ctx context.Context, country string, q FeedQuery, fn func(FeedChange) error) (pages int, err error)
}

// FeedState is what is stored per country about its feed.
type FeedState struct {
	Country string
	// ReadUntil is the start of the last read that succeeded (zero: never read): the next read asks from a
	// day before it.
	ReadUntil time.Time
	// CoveredSince: every entry since then is marked on the stored companies (the reads since then overlap
	// without a gap). A company looked up before it is due (ReasonFeedGap).
	CoveredSince time.Time
	// UnsupportedAt is when the country last answered that it has no feed (zero: it has, or was never asked).
	UnsupportedAt time.Time
}

// FeedAdvance moves a country's feed state forward after a read that succeeded, and clears UnsupportedAt.
type FeedAdvance struct {
	ReadUntil    time.Time
	CoveredSince time.Time
}

// FeedStore is the part of the store the feed read needs.
type FeedStore interface {
	FeedStates(ctx context.Context) (map[string]FeedState, error)
	// MarkFeedChanges sets each listed company's FeedChangedAt to the newest of its entries and what it
	// had, for stored companies only, and, when advance is not nil, moves the feed state in the same
	// transaction.
	MarkFeedChanges(ctx context.Context, country string, changes []FeedChange, advance *FeedAdvance) error
	MarkFeedUnsupported(ctx context.Context, country string, at time.Time) error
}

// FeedOutcome is how one country's feed read ended.
type FeedOutcome string

const (
	// FeedRead: read in full; the companies' marks decide.
	FeedRead FeedOutcome = "read"
	// FeedFailed: not read (an error, a strange answer): every company of the country is due this run.
	FeedFailed FeedOutcome = "failed"
	// FeedUnsupported: the country answered that it has no feed (now, or within UnsupportedRetry, when it
	// was not asked): its companies are planned by age, as a country without a feed.
	FeedUnsupported FeedOutcome = "unsupported"
)

// CountryFeed is the read of one country.
type CountryFeed struct {
	Country string
	Outcome FeedOutcome
	// Asked is false when the country was not asked because it answered unsupported within UnsupportedRetry.
	Asked bool
	Err   error // why it failed or is unsupported (nil when not asked)
	Since time.Time
	// CoveredSince is the feed state's after the read (FeedRead only).
	CoveredSince time.Time
	Pages        int // calls made, failed ones included
	Changes      int // entries read (REMOVED ones included)
	// Removed lists the companies Proff removed from its register: their records get a reason. Nothing is
	// cleared because of them.
	Removed []FeedChange
}

// FeedsResult is a run's feed read.
type FeedsResult struct {
	Countries []CountryFeed
	Pages     int // Proff calls, all countries
}

// Coverage is Options.Feeds for Plan: the countries read and the ones that fell back; the unsupported
// ones are left out, so that they are planned by age.
func (r FeedsResult) Coverage() map[string]FeedCoverage {
	out := map[string]FeedCoverage{}
	for _, c := range r.Countries {
		switch c.Outcome {
		case FeedRead:
			out[c.Country] = FeedCoverage{Read: true, Since: c.CoveredSince}
		case FeedFailed:
			out[c.Country] = FeedCoverage{}
		}
	}
	return out
}

// ReadFeeds reads the feed of each country (sync.change_feed on: all the run's countries; the unsupported
// ones are probed again after UnsupportedRetry) from a day before its last read (a day back on its first
// read), at most FeedHistory back (see nextRead),
// narrowed to fields (FeedFields of the mapped points; nil: any change), marks the companies it lists and
// advances each country's state after its read succeeded. A country's failure is in its CountryFeed, not
// in the error: the error is for what must stop the run (the store, the token, the quota, cancellation).
func ReadFeeds(ctx context.Context, feed FeedReader, store FeedStore, countries []string, now time.Time,
	fields []string, log *slog.Logger) (FeedsResult, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var res FeedsResult
	states, err := store.FeedStates(ctx)
	if err != nil {
		return res, fmt.Errorf("read the change feeds: %w", err)
	}
	for _, cc := range countries {
		st := states[cc]
		cf := CountryFeed{Country: cc}
		if !st.UnsupportedAt.IsZero() && now.Sub(st.UnsupportedAt) < UnsupportedRetry {
			cf.Outcome = FeedUnsupported
			log.DebugContext(ctx, "change feed not asked: the country answered unsupported recently",
				slog.String("country", cc), slog.Time("unsupported_at", st.UnsupportedAt))
			res.Countries = append(res.Countries, cf)
			continue
		}
		cf.Asked = true
		err := readCountry(ctx, feed, store, st, &cf, now, fields, log)
		res.Pages += cf.Pages
		switch {
		case err == nil:
			cf.Outcome = FeedRead
			log.InfoContext(ctx, "change feed read", slog.String("country", cc), slog.Time("since", cf.Since),
				slog.Int("pages", cf.Pages), slog.Int("changes", cf.Changes), slog.Int("removed", len(cf.Removed)))
		case errors.Is(err, ErrFeedUnsupported):
			cf.Outcome, cf.Err = FeedUnsupported, err
			if err := store.MarkFeedUnsupported(ctx, cc, now); err != nil {
				return res, fmt.Errorf("read the change feed of %s: %w", cc, err)
			}
			log.InfoContext(ctx, "no change feed for the country: its companies are looked up by age",
				slog.String("country", cc), slog.String("error", err.Error()))
		case errors.Is(err, ErrFeedFailed):
			cf.Outcome, cf.Err = FeedFailed, err
			log.WarnContext(ctx, "change feed could not be read: every company of the country is looked up in this run",
				slog.String("country", cc), slog.Int("pages", cf.Pages), slog.String("error", err.Error()))
			if errors.Is(err, ErrFeedTooLong) {
				// This run looks every company of the country up, so the feed need vouch for nothing before
				// now: the next read starts from here, as a first read does, instead of asking for the same
				// long span and failing again. A company this run does not reach (--limit, the cap, an
				// interruption) keeps an older lookup and stays due.
				if err := store.MarkFeedChanges(ctx, cc, nil, &FeedAdvance{ReadUntil: now, CoveredSince: now}); err != nil {
					return res, fmt.Errorf("read the change feed of %s: %w", cc, err)
				}
			}
		default:
			return res, fmt.Errorf("read the change feed of %s: %w", cc, err)
		}
		res.Countries = append(res.Countries, cf)
	}
	return res, nil
}

// readCountry reads one country's feed, both queries, and advances its state when both succeeded.
func readCountry(ctx context.Context, feed FeedReader, store FeedStore, st FeedState, cf *CountryFeed,
	now time.Time, fields []string, log *slog.Logger) error {
	var covered time.Time
	cf.Since, covered = nextRead(st, now)
	var chunk []FeedChange
	mark := func(c FeedChange) error {
		cf.Changes++
		chunk = append(chunk, c)
		if len(chunk) < markChunk {
			return nil
		}
		err := store.MarkFeedChanges(ctx, cf.Country, chunk, nil)
		chunk = chunk[:0]
		return err
	}
	for _, removed := range []bool{false, true} {
		q := FeedQuery{Since: cf.Since, Removed: removed}
		if !removed {
			q.Fields = fields
		}
		read := func(q FeedQuery) error {
			pages, err := feed.Changes(ctx, cf.Country, q, func(c FeedChange) error {
				if c.At.IsZero() || c.At.After(now) {
					// An entry without a date was written by the time it was read: a change now, due for every
					// company looked up before this run. So is one dated after the read (a server's clock
					// ahead, a misread unit): kept as it is, it would make its company due on every run
					// until that date.
					c.At = now
				}
				if removed {
					cf.Removed = append(cf.Removed, c)
				}
				return mark(c)
			})
			cf.Pages += pages
			return err
		}
		err := read(q)
		if err != nil && !removed && len(q.Fields) > 0 && errors.Is(err, ErrFeedUnsupported) {
			// A 4xx may refuse a fields filter (a path the server does not know, such as one Proff dropped
			// from its documents) rather than the country: read it once unfiltered, which costs lookups but
			// misses nothing, before believing that the country has no feed.
			log.WarnContext(ctx, "the change feed refused the fields filter; reading it unfiltered",
				slog.String("country", cf.Country), slog.String("error", err.Error()))
			q.Fields = nil
			err = read(q)
		}
		if err != nil && removed && errors.Is(err, ErrFeedUnsupported) {
			// The other read was answered, so the country has a feed: a refused REMOVED read is a failed
			// read (full lookups this run), not "no feed", which would leave the country unread for a week.
			return fmt.Errorf("%w: the read of removed companies was refused after the others were answered: %v",
				ErrFeedFailed, err)
		}
		if err != nil {
			return err
		}
	}
	cf.CoveredSince = covered
	return store.MarkFeedChanges(ctx, cf.Country, chunk, &FeedAdvance{ReadUntil: now, CoveredSince: covered})
}

// nextRead is the since of the country's next read (a UTC midnight) and what the feed vouches for once it
// succeeded:
//
//   - after a read, from a day before it (FeedOverlap: the server's reading of since is not documented),
//     the chain of reads unbroken: the coverage stays;
//   - the first read (or the first since the coverage was lost) asks a day back only, and vouches from its
//     own time on. Asking further back would buy nothing: every company stored before it was looked up
//     before its coverage starts, and is due (ReasonFeedGap) however far back it reads. And 30 days of a
//     whole country's changes may be more pages than a read may take (DefaultFeedMaxPages, at a page size
//     Proff does not document): that read would fail every night, and the feed would never start;
//   - after a gap longer than the feed keeps (FeedHistory), the last 30 days, of which a day less is
//     vouched for: the companies looked up within them are served again without waiting for a lookup.
func nextRead(st FeedState, now time.Time) (since, covered time.Time) {
	from, covered := st.ReadUntil.Add(-FeedOverlap), st.CoveredSince
	switch {
	case st.ReadUntil.IsZero() || covered.IsZero():
		from = now.Add(-FeedOverlap)
		covered = from.Add(FeedOverlap)
	case from.Before(now.Add(-FeedHistory)):
		from = now.Add(-FeedHistory)
		covered = from.Add(FeedOverlap)
	}
	return from.UTC().Truncate(24 * time.Hour), covered
}

// PreviewCoverage is Options.Feeds for `preview`, which makes no Proff call: the coverage each country's
// next read would give if it succeeded, from the stored states alone (the countries that answered
// unsupported within UnsupportedRetry are left out, as ReadFeeds would). The entries that read would bring
// are not known, so the preview's in_feed count is the marks stored so far: a lower bound.
func PreviewCoverage(states map[string]FeedState, countries []string, now time.Time) map[string]FeedCoverage {
	out := map[string]FeedCoverage{}
	for _, cc := range countries {
		st := states[cc]
		if !st.UnsupportedAt.IsZero() && now.Sub(st.UnsupportedAt) < UnsupportedRetry {
			continue
		}
		_, covered := nextRead(st, now)
		out[cc] = FeedCoverage{Read: true, Since: covered}
	}
	return out
}
