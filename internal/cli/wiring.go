package cli

// wiring.go builds what the commands share: the admin's mapping resolved against the Proff catalogue, and
// the adapters and engine of one run.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/proffconnect/proffsync/internal/config"
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
		dp, err := proff.ResolvePoint(r.Proff)
		if err != nil {
			issues = append(issues, fmt.Sprintf("line %d: mapping[%d].proff: %v", r.Line, i, err))
			continue
		}
		res.rules = append(res.rules, mapping.Rule{Point: dp.Name, Field: r.Field, Mode: mapping.Mode(r.Mode)})
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
}

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
		Recorder: rec, Logger: a.log,
	})
}

// newProff builds the Proff client from the config.
func (a *app) newProff(cfg *config.Config, res resolved, rec transport.Recorder) (*proff.Client, error) {
	return proff.New(proff.Options{
		BaseURL: cfg.Env.ProffAPIURL, Token: cfg.Env.ProffAPIToken,
		RatePerSecond: cfg.Proff.RateLimitPerSecond, Concurrency: cfg.Proff.Concurrency,
		Points: res.points, Recorder: rec, Logger: a.log,
	})
}

// engine wires the engine for a run.
func (a *app) engine(s *session, progress massupdate.Progress) (*massupdate.Engine, error) {
	cfg := s.cfg
	every := time.Duration(0) // the engine's default
	if progress != nil {
		every = 24 * time.Hour // the bar shows progress; periodic log lines would tear it
	}
	return massupdate.New(massupdate.Options{
		ProgressEvery: every,
		BeforeLookups: func(ctx context.Context) { a.fitRate(ctx, s) },
		Source:        s.sf, Lookup: s.proff, Writer: s.sf, Store: s.st,
		Rules: s.res.rules, Kinds: s.res.kinds,
		DefaultCountry: cfg.Salesforce.DefaultCountry, LastSyncedField: cfg.Salesforce.LastSyncedField,
		LastSyncedEveryCheck: cfg.Salesforce.LastSyncedEveryCheck,
		Concurrency:          cfg.Proff.Concurrency, RatePerSecond: cfg.Proff.RateLimitPerSecond,
		Calls: s.calls, Now: a.now, Logger: a.log, Progress: progress, Settings: cfg.Settings(),
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
