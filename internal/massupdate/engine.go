package massupdate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/secret"
)

// Progress shows how a run advances (a progress bar on a terminal). Its methods are called from one
// goroutine at a time.
type Progress interface {
	// Start is called once, before the first record, with the number of records the run expects (-1 when
	// unknown).
	Start(total int)
	// Add counts n records that ended with outcome o.
	Add(n int, o Outcome)
	// Finish is called once when the run ends, however it ends.
	Finish()
}

// Options wire an Engine to its adapters and carry the admin's settings.
type Options struct {
	Source RecordSource
	Lookup CompanyLookup
	Writer RecordWriter
	Store  RunStore

	Rules []mapping.Rule
	// Kinds gives the kind of every mappable Proff data point (the catalogue).
	Kinds map[string]mapping.Kind
	// DefaultCountry is used for records whose country is blank: NO, SE, DK or FI.
	DefaultCountry string
	// LastSyncedField, when set, is written (now, as a datetime or date) on every record that is written.
	LastSyncedField string
	// LastSyncedEveryCheck also writes it on records checked and found unchanged.
	LastSyncedEveryCheck bool

	// Concurrency is the number of lookups in flight (default DefaultConcurrency); the Lookup itself keeps
	// the rate.
	Concurrency int
	// RatePerSecond is the Proff rate, for the preview's estimate and the progress log.
	RatePerSecond float64

	// Incremental sync (issue 12). All optional: without SyncStore every company is looked up in every run.
	//
	// SyncStore keeps the values of each company's last lookup, the company each record pointed at and the
	// change feeds' state (store.Store).
	SyncStore SyncStore
	// Feed reads Proff's change feed (proffeed.Reader over the run's Proff client, so that its pages count
	// as Proff calls and keep the rate). Nil: no feed is read, every country is planned by age.
	Feed incremental.FeedReader
	// FeedFields are the feed's fields= prefixes of the mapped points (proff.FeedFields); nil: any change.
	FeedFields []string
	// ChangeFeed is sync.change_feed: read the feed of the run's countries and look up only the companies
	// it lists since their last lookup.
	ChangeFeed bool
	// RefreshDays is sync.refresh_days: a company of a country without a feed is looked up again once its
	// last lookup is this many days old; 0: every run.
	RefreshDays int
	// MaxLookups is sync.max_lookups: at most this many lookups a run, stalest first; 0: no cap. Taking the
	// stalest across the whole selection costs a first pass over the records (one more Salesforce query and
	// one store read a page) before the run's own.
	MaxLookups int
	// MappingVersion names what gives the mapped points their meaning (the caller passes
	// "catalogue=<proff.CatalogueVersion>"); the engine adds its packed format's version. Values stored
	// under another version are never served.
	MappingVersion string

	// Clock tells the time and waits (default clock.System).
	Clock clock.Clock

	// Calls returns the HTTP requests sent so far by this process (a transport.Tally); the run counts the
	// difference from its start. Nil: the run records zero calls.
	Calls func() APICalls
	// Logger receives the run's log lines (default: discard).
	Logger *slog.Logger
	// Progress, when set, is told how the run advances.
	Progress Progress
	// Settings is stored with each run (what it ran with; never secrets).
	Settings json.RawMessage
	// Grace is how long lookups in flight may finish after ctx is cancelled (default 10 s).
	Grace time.Duration
	// ProgressEvery is the interval of the periodic progress log line (default 10 s).
	ProgressEvery time.Duration
	// BeforeLookups, when set, runs once the run is recorded and its mapping checked, before the first
	// record is read, with the run's context (so the calls it makes count for the run and are logged with
	// its id). The CLI fits the Proff rate to the token's limit there.
	BeforeLookups func(ctx context.Context)
	// Scrub removes secrets from a text the engine writes on its own account: the first line of a panic an
	// adapter raised, which becomes the run's error. Default: secret.Scrub without a secret list (the
	// credential patterns only); the CLI passes its scrubber, which knows the configured secrets.
	Scrub func(string) string
}

// DefaultConcurrency is the number of Proff lookups in flight when the admin sets none (proff.concurrency).
// It is the one home of that default: the config, the Proff client and the engine all apply this one.
const DefaultConcurrency = 8

// DefaultRatePerSecond is the Proff rate when the admin sets none (proff.rate_limit_per_second): the one home
// of that default, which the config and the Proff client both apply.
const DefaultRatePerSecond = 5.0

// Engine runs Mass Updates. One Engine may serve many runs, one at a time per database (the run lock).
type Engine struct {
	o        Options
	log      *slog.Logger
	defaultC orgnr.Country
	rules    []mapping.Rule
	// mappingKey names the mapping the stored values must have been packed under to be served.
	mappingKey string
}

// New checks the options and returns an Engine.
func New(o Options) (*Engine, error) {
	var missing []string
	if o.Source == nil {
		missing = append(missing, "Source")
	}
	if o.Lookup == nil {
		missing = append(missing, "Lookup")
	}
	if o.Writer == nil {
		missing = append(missing, "Writer")
	}
	if o.Store == nil {
		missing = append(missing, "Store")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("massupdate: options lack %s", strings.Join(missing, ", "))
	}
	c, ok := orgnr.ParseCountry(o.DefaultCountry)
	if !ok {
		return nil, fmt.Errorf("massupdate: default country %q is not NO, SE, DK or FI", o.DefaultCountry)
	}
	if o.Concurrency < 1 {
		o.Concurrency = DefaultConcurrency
	}
	o.Clock = clock.Or(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	if o.Scrub == nil {
		o.Scrub = func(s string) string { return secret.Scrub(s, nil) }
	}
	rules := make([]mapping.Rule, len(o.Rules))
	for i, r := range o.Rules {
		if r.Mode == "" {
			r.Mode = mapping.Overwrite
		}
		rules[i] = r
	}
	return &Engine{o: o, log: o.Logger, defaultC: c, rules: rules, mappingKey: mappingKey(o.MappingVersion, rules, o.Kinds)}, nil
}

// SyncStore is what incremental sync keeps between runs (store.Store).
type SyncStore interface {
	incremental.StateLoader
	incremental.FeedStore
}

// RunRequest is what one `run` asks for.
type RunRequest struct {
	Trigger      Trigger
	DryRun       bool
	Limit        int  // finish at most this many selected records; 0: all
	Resume       bool // continue the latest interrupted run from its checkpoint
	ScheduledFor *time.Time
	// Full (`run --full`) looks every selected company up, whatever the change feed, the stored values and
	// MaxLookups say; what it looks up is stored as usual.
	Full bool
	// CallsSince, when set, is the Calls count the run's api_calls are measured from, instead of the count
	// at the run's start: the CLI checks the mapping against describe before the run is recorded (so that a
	// rejected mapping records no run), and the login and describe that check made are the run's calls.
	CallsSince *APICalls
}

func (e *Engine) calls() APICalls {
	if e.o.Calls == nil {
		return APICalls{}
	}
	return e.o.Calls()
}
