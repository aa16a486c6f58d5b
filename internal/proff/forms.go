package proff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/orgnr"
)

// Finnish and Swedish numbers in the path. No public example shows whether Proff wants 5560125790 or
// 556012-5790 (SE), 31234563 or 3123456-3 (FI). The client sends the digits; when a lookup of SE or FI
// answers "no company" (404, 204, a null document, or a plain 4xx such as 400: a path validator's refusal of
// the form), it tries the hyphenated form once; when no form finds the company it is not found. Which form has found a company is remembered per
// country (FormMemory, in the database), and the rule is:
//
//   - nothing known yet for the country: digits, then on a 404 the hyphenated form (two calls per not-found
//     record, only until the first company is found);
//   - the hyphenated form has found a company and the digits never have: hyphenated only;
//   - the digits have found a company: digits only (a 404 is then a real "no company").
//
// So the fallback costs a few calls per country, ever, not one per not-found record. In a known state every
// probeEvery-th not-found record still tries the other form, so that a change of form on Proff's side is
// noticed (and remembered) within a run rather than turning every later lookup into not_found.

// The forms of a number in the lookup path, as FormMemory stores them.
const (
	FormDigits     = "digits"     // 5560125790, 31234563
	FormHyphenated = "hyphenated" // 556012-5790, 3123456-3
)

// probeEvery: in a known state, one not-found record in this many also tries the other form.
const probeEvery = 50

// FormMemory remembers, per country, which forms of the organisation number have found a company in Proff.
// The store implements it (table number_forms); tests use an in-memory one.
type FormMemory interface {
	// NumberForms returns the forms that have found a company in the country (FormDigits, FormHyphenated).
	NumberForms(ctx context.Context, country string) ([]string, error)
	// SetNumberForm records that form has found a company in the country.
	SetNumberForm(ctx context.Context, country, form string) error
}

// FormCount is how many lookup calls one form of the number took in one country.
type FormCount struct {
	Country string `json:"country"`
	Form    string `json:"form"`
	Calls   int64  `json:"calls"`
}

type formState struct {
	mem FormMemory
	log *slog.Logger

	mu        sync.Mutex
	loaded    map[orgnr.Country]bool
	found     map[orgnr.Country]map[string]bool
	notFound  map[orgnr.Country]int64 // final not-founds in a known state, for probing
	calls     map[[2]string]int64
	loadMu    sync.Mutex // one load from the memory per country at a time
	hyphenate func(orgnr.Country, string) string
}

func newFormState(mem FormMemory, log *slog.Logger) *formState {
	return &formState{mem: mem, log: log, loaded: map[orgnr.Country]bool{}, found: map[orgnr.Country]map[string]bool{},
		notFound: map[orgnr.Country]int64{}, calls: map[[2]string]int64{}, hyphenate: orgnr.Display}
}

// load reads the memory for cc once per client (a run). A memory that cannot be read leaves the country
// unknown: the lookup still works, at two calls per not-found record.
func (f *formState) load(ctx context.Context, cc orgnr.Country) {
	f.loadMu.Lock()
	defer f.loadMu.Unlock()
	f.mu.Lock()
	done := f.loaded[cc]
	f.mu.Unlock()
	if done || f.mem == nil {
		return
	}
	forms, err := f.mem.NumberForms(ctx, string(cc))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.log.LogAttrs(ctx, slog.LevelWarn, "could not read which number form Proff answers; trying both",
			slog.String("country", string(cc)), slog.String("error", err.Error()))
		if ctx.Err() != nil {
			return // read again on the next lookup
		}
	}
	f.loaded[cc] = true
	for _, form := range forms {
		f.markLocked(cc, form)
	}
}

func (f *formState) markLocked(cc orgnr.Country, form string) bool {
	if f.found[cc] == nil {
		f.found[cc] = map[string]bool{}
	}
	if f.found[cc][form] {
		return false
	}
	f.found[cc][form] = true
	return true
}

// order returns the forms to try for cc, in order.
func (f *formState) order(ctx context.Context, cc orgnr.Country) []string {
	if cc != orgnr.SE && cc != orgnr.FI {
		return []string{FormDigits}
	}
	f.load(ctx, cc)
	f.mu.Lock()
	defer f.mu.Unlock()
	digits, hyphen := f.found[cc][FormDigits], f.found[cc][FormHyphenated]
	switch {
	case digits:
		return []string{FormDigits, FormHyphenated} // the second only as a probe: see tryNext
	case hyphen:
		return []string{FormHyphenated, FormDigits}
	}
	return []string{FormDigits, FormHyphenated}
}

// tryNext says whether a not-found with the first form goes on to the second.
func (f *formState) tryNext(cc orgnr.Country) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.found[cc][FormDigits] && !f.found[cc][FormHyphenated] {
		return true
	}
	f.notFound[cc]++
	return f.notFound[cc]%probeEvery == 0
}

func (f *formState) count(cc orgnr.Country, form string) {
	f.mu.Lock()
	f.calls[[2]string{string(cc), form}]++
	f.mu.Unlock()
}

// foundBy records that form found a company in cc, in the memory too when it is news.
func (f *formState) foundBy(ctx context.Context, cc orgnr.Country, form string, fallback bool) {
	if cc != orgnr.SE && cc != orgnr.FI {
		return
	}
	f.mu.Lock()
	news := f.markLocked(cc, form)
	f.mu.Unlock()
	if !news {
		return
	}
	f.log.LogAttrs(ctx, slog.LevelInfo, "Proff found a company by this form of the number; remembered for the country",
		slog.String("country", string(cc)), slog.String("form", form), slog.Bool("fallback", fallback))
	if f.mem == nil {
		return
	}
	if err := f.mem.SetNumberForm(context.WithoutCancel(ctx), string(cc), form); err != nil {
		f.log.LogAttrs(ctx, slog.LevelWarn, "could not remember which number form Proff answers",
			slog.String("country", string(cc)), slog.String("form", form), slog.String("error", err.Error()))
	}
}

// NumberFormCalls returns the lookup calls per country and form of the number, for the metrics: how much
// the hyphen fallback costs.
func (c *Client) NumberFormCalls() []FormCount {
	f := c.forms
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FormCount, 0, len(f.calls))
	for k, n := range f.calls {
		out = append(out, FormCount{Country: k[0], Form: k[1], Calls: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Country != out[j].Country {
			return out[i].Country < out[j].Country
		}
		return out[i].Form < out[j].Form
	})
	return out
}

// fetchDocument gets the register document of a valid canonical number, trying the forms of the number the
// rule above gives. A not-found is the last form's.
func (c *Client) fetchDocument(ctx context.Context, cc orgnr.Country, nr string) ([]byte, error) {
	forms := c.forms.order(ctx, cc)
	var last error
	absent := false // some form answered that there is no such company (404, 410, 204, null)
	for i, form := range forms {
		if i > 0 && !c.forms.tryNext(cc) {
			break
		}
		n := nr
		if form == FormHyphenated {
			n = c.forms.hyphenate(cc, nr)
		}
		c.forms.count(cc, form)
		body, err := c.get(ctx, "/api/companies/register/"+string(cc)+"/"+n, EndpointLookup, string(cc))
		if err == nil && bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			// An ASP.NET action that returns null for an unknown id answers 204 (handled in try) or, with the
			// no-content formatter turned off, 200 with the JSON null: either way there is no such company.
			err = fmt.Errorf("Proff answered null for that number: %w", massupdate.ErrNotFound)
		}
		if err == nil {
			c.forms.foundBy(ctx, cc, form, i > 0)
			return body, nil
		}
		absent = absent || errors.Is(err, massupdate.ErrNotFound)
		if st := (*statusError)(nil); errors.As(err, &st) && isPlain4xx(st.status) && len(forms) > 1 {
			// A server that validates the path may refuse the form it does not use with a 400 (or 422) rather
			// than a 404. As a failure it would fail every not-found record, and, were it the digits that it
			// refuses, every lookup of the country, the other form never tried and so never learnt.
			absent = absent || st.status == http.StatusGone
			last = fmt.Errorf("Proff answered %d to the %s form of the number: %w", st.status, form, err)
			continue
		}
		if !errors.Is(err, massupdate.ErrNotFound) {
			return nil, err
		}
		last = err
	}
	if !absent && last != nil {
		// Every form tried was refused and none said "no such company": that is no answer about the company
		// (a header or a proxy Proff does not like refuses every number), and it fails the record rather than
		// report every Swedish or Finnish company not found.
		return nil, fmt.Errorf("Proff refused every form of the number it was asked: %w", last)
	}
	if !errors.Is(last, massupdate.ErrNotFound) {
		last = fmt.Errorf("no company in any form of the number (%v): %w", last, massupdate.ErrNotFound)
	}
	return nil, last
}

// isPlain4xx says whether a 4xx answer to a lookup may only be about the number in the path. Not 401 and
// 403 (the token, the country) nor 408 and 429 (retried), which statusFailure classifies before, nor 407: a
// proxy that wants credentials refuses every number, and taking that as "no company" would report every
// record not found rather than fail it.
func isPlain4xx(code int) bool {
	return code >= 400 && code < 500 && code != http.StatusProxyAuthRequired
}
