package massupdate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

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

	// Concurrency is the number of lookups in flight (default 1); the Lookup itself keeps the rate.
	Concurrency int
	// RatePerSecond is the Proff rate, for the preview's estimate and the progress log.
	RatePerSecond float64

	// Calls returns the HTTP requests sent so far by this process (a transport.Tally); the run counts the
	// difference from its start. Nil: the run records zero calls.
	Calls func() APICalls
	// Now is the clock (default time.Now).
	Now func() time.Time
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

// Engine runs Mass Updates. One Engine may serve many runs, one at a time per database (the run lock).
type Engine struct {
	o        Options
	log      *slog.Logger
	defaultC orgnr.Country
	rules    []mapping.Rule
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
		o.Concurrency = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
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
	return &Engine{o: o, log: o.Logger, defaultC: c, rules: rules}, nil
}

// RunRequest is what one `run` asks for.
type RunRequest struct {
	Trigger      Trigger
	DryRun       bool
	Limit        int  // finish at most this many selected records; 0: all
	Resume       bool // continue the latest interrupted run from its checkpoint
	ScheduledFor *time.Time
}

func (e *Engine) calls() APICalls {
	if e.o.Calls == nil {
		return APICalls{}
	}
	return e.o.Calls()
}
