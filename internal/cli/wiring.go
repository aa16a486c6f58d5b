package cli

// wiring.go builds what the commands share: the admin's mapping resolved against the Proff catalogue, and
// the adapters and engine of one run.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/incremental/proffeed"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/transport"
)

// resolved is the admin's mapping, checked against the Proff catalogue.
type resolved struct {
	rules  []mapping.Rule
	points []proff.DataPoint
	kinds  map[string]mapping.Kind
}

// resolveMapping turns the config's mapping into engine rules, rejecting unknown and personal data points
// with every problem listed at once (a config error: exit 78).
func resolveMapping(cfg *config.Config) (resolved, error) {
	var res resolved
	res.kinds = map[string]mapping.Kind{}
	var issues []string
	for i, r := range cfg.Mapping {
		dp, err := proff.ResolvePointAs(r.Proff, r.Type)
		if err != nil {
			issues = append(issues, fmt.Sprintf("line %d: mapping[%d].proff: %v", r.Line, i, err))
			continue
		}
		res.rules = append(res.rules, mapping.Rule{Point: dp.Name, Field: r.Field, Mode: mapping.Mode(r.Mode), Format: r.Format})
		if _, dup := res.kinds[dp.Name]; !dup {
			res.points = append(res.points, dp)
			res.kinds[dp.Name] = dp.Kind
		}
	}
	if len(issues) > 0 {
		return res, &config.Error{Source: cfg.Path, Issues: issues}
	}
	return res, nil
}

// session is one command's wired adapters.
type session struct {
	cfg   *config.Config
	st    *store.Store
	tally *transport.Tally
	sf    *salesforce.Client
	proff *proff.Client
	res   resolved
	// source is where the run reads its records: the Salesforce selection, or with --retry only the records
	// that failed in the retried run (nil: sf).
	source massupdate.RecordSource
}

// mappingVersion is what, besides the mapped points, gives a stored value its meaning: the catalogue's
// version (a point that changes meaning makes every company due once).
func mappingVersion() string { return "catalogue=" + strconv.Itoa(proff.CatalogueVersion) }

// pointNames are the mapped data points in rule order, for the change feed's fields filter.
func (r resolved) pointNames() []string {
	names := make([]string, 0, len(r.points))
	for _, p := range r.points {
		names = append(names, p.Name)
	}
	return names
}

// clock is the command's one clock: its time is the app's (tests set it), its waits are the system's.
func (a *app) clock() clock.Clock { return clock.WithNow(clock.System, a.now) }

func (s *session) calls() massupdate.APICalls {
	p, sf := s.tally.Counts()
	return massupdate.APICalls{Proff: p, Salesforce: sf}
}

// newSalesforce builds the Salesforce adapter from the config.
func (a *app) newSalesforce(cfg *config.Config, rec transport.Recorder) (*salesforce.Client, error) {
	e := cfg.Env
	return salesforce.New(salesforce.Options{
		LoginURL: e.SFLoginURL, Flow: e.SFAuthFlow, ClientID: e.SFClientID, ClientSecret: e.SFClientSecret,
		Username: e.SFUsername, Password: e.SFPassword, JWTKey: e.SFJWTKey, APIVersion: e.SFAPIVersion,
		Object: cfg.Salesforce.Object, OrgNumberField: cfg.Salesforce.OrgNumberField,
		CountryField: cfg.Salesforce.CountryField, OptInField: cfg.Salesforce.OptInField,
		Filter: cfg.Salesforce.Filter, Fields: cfg.Fields(), LastSyncedField: cfg.Salesforce.LastSyncedField,
		ReservePercent: cfg.Salesforce.APIReservePercent, AllowedInstanceHosts: e.SFInstanceHosts,
		Recorder: rec, Logger: a.log, Clock: a.clock(),
	})
}

// newProff builds the Proff client from the config, without a memory of number forms (check).
func (a *app) newProff(cfg *config.Config, res resolved, rec transport.Recorder) (*proff.Client, error) {
	return a.newProffWith(cfg, res, rec, nil)
}

// newProffWith builds the Proff client from the config. forms, when set, remembers per country which form of a
// Swedish or Finnish number finds companies (the store), so that the hyphenated fallback costs a few calls.
func (a *app) newProffWith(cfg *config.Config, res resolved, rec transport.Recorder, forms proff.FormMemory) (*proff.Client, error) {
	return proff.New(proff.Options{
		BaseURL: cfg.Env.ProffAPIURL, Token: cfg.Env.ProffAPIToken,
		RatePerSecond: cfg.Proff.RateLimitPerSecond, Concurrency: cfg.Proff.Concurrency,
		Points: res.points, Recorder: rec, Logger: a.log, Clock: a.clock(), Forms: forms,
	})
}

// engine wires the engine for a run: the record source, Proff, Salesforce's writes, the run store, and the
// incremental sync's stored values and change feed (README: Contract, "Config file", sync).
func (a *app) engine(s *session, progress massupdate.Progress) (*massupdate.Engine, error) {
	cfg := s.cfg
	every := time.Duration(0) // the engine's default
	if progress != nil {
		every = 24 * time.Hour // the bar shows progress; periodic log lines would tear it
	}
	var source massupdate.RecordSource = s.sf
	if s.source != nil {
		source = s.source
	}
	return massupdate.New(massupdate.Options{
		ProgressEvery: every,
		BeforeLookups: func(ctx context.Context) { a.fitRate(ctx, s) },
		Source:        source, Lookup: s.proff, Writer: s.sf, Store: s.st,
		SyncStore: s.st, Feed: proffeed.Reader{Client: s.proff}, FeedFields: proff.FeedFields(s.res.pointNames()),
		ChangeFeed: cfg.Sync.ChangeFeed, RefreshDays: cfg.Sync.RefreshDays, MaxLookups: cfg.Sync.MaxLookups,
		MappingVersion: mappingVersion(), Clock: a.clock(),
		Rules: s.res.rules, Kinds: s.res.kinds,
		DefaultCountry: cfg.Salesforce.DefaultCountry, LastSyncedField: cfg.Salesforce.LastSyncedField,
		LastSyncedEveryCheck: cfg.Salesforce.LastSyncedEveryCheck,
		Concurrency:          cfg.Proff.Concurrency, RatePerSecond: cfg.Proff.RateLimitPerSecond,
		Calls: s.calls, Logger: a.log, Progress: progress, Settings: cfg.Settings(),
		Scrub: a.scrub, // a panic's line becomes the run's error: it must not carry a configured secret
	})
}

func firstErr(errs ...error) error {
	var issues []string
	for _, err := range errs {
		var ce *config.Error
		if errors.As(err, &ce) {
			issues = append(issues, ce.Issues...)
		} else if err != nil {
			return err
		}
	}
	if len(issues) > 0 {
		return &config.Error{Source: "environment", Issues: issues}
	}
	return nil
}

// configErr reports an adapter that refused its settings (a bad URL, an unreadable key) as a configuration
// error: nothing was done, and exit 78 tells the operator to fix the environment, not to retry.
func configErr(err error) error {
	return &config.Error{Source: "environment", Issues: []string{err.Error()}}
}

// fitRate lowers the Proff rate to the token's per-minute limit, so that a rate set above the customer's
// agreement does not turn into 429s. It costs one call; when it fails the configured rate stays, and a
// rejected token then fails the run at its first lookup, recorded.
func (a *app) fitRate(ctx context.Context, s *session) {
	if err := s.proff.FitRateToToken(ctx); err != nil {
		a.log.WarnContext(ctx, "could not read the Proff token's limits; keeping the configured rate", "error", err.Error())
	}
}
