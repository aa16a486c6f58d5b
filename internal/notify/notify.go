// Package notify tells a chat channel that a run ended (README: Contract, "Notifications"): when the run's status
// is one the operator listed in notify.on, it POSTs {"text": "<one line>", "run": <the run summary>} to the
// webhook URL, which Slack and Teams-style incoming webhooks show as a message.
//
// What must never happen here: record data or a secret in what is sent or logged (the summary holds counts,
// ids, status and the run's error, scrubbed again here; the webhook URL is itself a secret and is only ever
// logged masked), a plain-http request to a host that is not loopback, or a notification that changes a
// run's status or exit code: Notify returns nothing, and a failure is a warning in the log.
package notify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/retry"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/transport"
)

// Service is the service name a webhook request carries in the technical log.
const Service = "notify"

// endpoint is what the technical log keeps of a webhook request: never its path, which holds the key.
const endpoint = "POST webhook"

// DefaultOn is the statuses that notify when notify.on is not set: the runs someone has to act on.
var DefaultOn = []massupdate.Status{massupdate.StatusFail, massupdate.Interrupted}

// DefaultRetry is three tries at most, half a second then a second apart, all within eight seconds: a chat
// message is worth a short wait, not holding up the end of a run (or a pod's shutdown).
var DefaultRetry = retry.Policy{Attempts: 3, Base: 500 * time.Millisecond, Cap: 2 * time.Second,
	Within: 8 * time.Second, Jitter: retry.Equal}

// budget bounds a whole notification in real time, tries and waits included, whatever the clock says.
const budget = 10 * time.Second

// Options configure a Notifier.
type Options struct {
	// URL is the webhook (NOTIFY_WEBHOOK_URL): https, or http on a loopback host. A secret.
	URL string
	// On lists the run statuses that notify; nil means DefaultOn, empty means none.
	On []massupdate.Status
	// Secrets are scrubbed from the run's error before it is sent (the error is scrubbed already; this is
	// the second net). The URL is added by New.
	Secrets []string
	// Base replaces the network transport (tests); the transport policy is enforced around it either way.
	Base http.RoundTripper
	// RootCAs replaces the system roots (tests); nil uses the system's.
	RootCAs *x509.CertPool
	// Recorder receives one technical-log Call per request; may be nil.
	Recorder transport.Recorder
	// Logger receives the outcome of each notification; nil discards it.
	Logger *slog.Logger
	// Clock paces the retries; nil is the system clock.
	Clock clock.Clock
	// Retry is the retry policy; one that bounds neither Attempts nor Within means DefaultRetry.
	Retry retry.Policy
	// Timeout bounds one try (default 3s).
	Timeout time.Duration
}

// Notifier posts run notifications. A nil *Notifier notifies nothing, so callers need no check for an unset
// URL. Safe for concurrent use.
type Notifier struct {
	url     string
	masked  string
	on      map[massupdate.Status]bool
	secrets []string
	http    *http.Client
	log     *slog.Logger
	clock   clock.Clock
	retry   retry.Policy
}

// endedStatuses are the statuses notify.on may list: the ones a run ends with.
var endedStatuses = []massupdate.Status{massupdate.Succeeded, massupdate.Partial, massupdate.StatusFail, massupdate.Interrupted}

// New checks the options and returns a Notifier, or nil (and no error) when o.URL is empty: notifications
// are off. Its errors never hold the URL's path or query, where webhooks keep their key.
func New(o Options) (*Notifier, error) {
	raw := strings.TrimSpace(o.URL)
	if raw == "" {
		return nil, nil
	}
	u, err := parseURL(raw)
	if err != nil {
		return nil, err
	}
	on := map[massupdate.Status]bool{}
	statuses := o.On
	if statuses == nil {
		statuses = DefaultOn
	}
	for _, s := range statuses {
		if err := CheckStatus(s); err != nil {
			return nil, fmt.Errorf("notify.on: %w", err)
		}
		on[s] = true
	}
	secrets := append(append([]string(nil), o.Secrets...), URLSecrets(raw)...)
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	pol := o.Retry
	if pol.Attempts <= 0 && pol.Within <= 0 {
		pol = DefaultRetry // a policy without either bound would retry a dead webhook for ever
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{
		url: raw, masked: mask(u), on: on, secrets: secrets,
		http: transport.NewClient(transport.Options{Service: Service, Recorder: o.Recorder, Secrets: secrets,
			RootCAs: o.RootCAs, Timeout: timeout, Base: o.Base}),
		log: log, clock: clock.Or(o.Clock), retry: pol,
	}, nil
}

// CheckURL checks a webhook URL as New does: absolute, and https unless the host is loopback. Its error
// never holds the URL's path or query, where webhooks keep their key; config calls it at load so that a bad
// URL is a configuration error (exit 78) before anything runs.
func CheckURL(raw string) error {
	_, err := parseURL(strings.TrimSpace(raw))
	return err
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("NOTIFY_WEBHOOK_URL is not an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && transport.IsLoopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("NOTIFY_WEBHOOK_URL %s: must be https (plain http only for a loopback host)", mask(u))
	}
	return u, nil
}

// MaskURL is a webhook URL as it may be printed: its scheme and host, "****" for a path or query, "" for
// an unset URL, and "****" for one that does not parse (its text may be the key).
func MaskURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "****"
	}
	return mask(u)
}

// URLSecrets are what must be scrubbed of a webhook URL: the URL, and its path and query on their own, since
// an error text may quote any of them. Parts shorter than 8 bytes are left out: scrubbing "/" or "a" would
// mangle every line.
func URLSecrets(raw string) []string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	secrets := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return secrets
	}
	for _, part := range []string{u.EscapedPath(), u.Path, u.RawQuery} {
		if len(part) >= 8 && !slices.Contains(secrets, part) {
			secrets = append(secrets, part)
		}
	}
	return secrets
}

// CheckStatus accepts the statuses notify.on may list: the ones a run ends with.
func CheckStatus(s massupdate.Status) error {
	for _, e := range endedStatuses {
		if s == e {
			return nil
		}
	}
	return fmt.Errorf("%q is not a status a run ends with (succeeded, partial, failed, interrupted)", s)
}

// mask shows a webhook URL as its scheme and host only: the path and query are where the key lives.
func mask(u *url.URL) string {
	m := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		m += "/****"
	}
	return m
}

// Masked is the webhook URL as it may be printed (scheme and host), "" for a nil Notifier.
func (n *Notifier) Masked() string {
	if n == nil {
		return ""
	}
	return n.masked
}

// Wants reports whether a run that ended with status s is notified.
func (n *Notifier) Wants(s massupdate.Status) bool { return n != nil && n.on[s] }

// Notify posts r's notification when its status is one of On, retrying briefly. It returns nothing on
// purpose: a notification never changes a run's outcome, and one that cannot be delivered is logged (warn).
// It runs on a context detached from ctx's cancellation, so that the run a shutdown interrupted is still
// reported, bounded by its own short budget.
func (n *Notifier) Notify(ctx context.Context, r massupdate.Run) {
	if n == nil || !n.on[r.Status] {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	body, err := n.payload(r)
	if err != nil {
		n.log.LogAttrs(ctx, slog.LevelWarn, "run notification not sent", slog.String("run_id", r.ID),
			slog.String("error", err.Error()))
		return
	}
	attempts, err := n.post(runctx.WithRunID(ctx, r.ID), body)
	if err != nil {
		n.log.LogAttrs(ctx, slog.LevelWarn, "run notification not delivered", slog.String("run_id", r.ID),
			slog.String("webhook", n.masked), slog.Int("attempts", attempts),
			slog.String("error", secret.Scrub(err.Error(), n.secrets)))
		return
	}
	n.log.LogAttrs(ctx, slog.LevelInfo, "run notification sent", slog.String("run_id", r.ID),
		slog.String("status", string(r.Status)), slog.String("webhook", n.masked))
}

// retryable is a failed try that another try may get through (5xx, 429, no answer).
type retryable struct {
	err        error
	retryAfter time.Duration
	hasAfter   bool
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

// post sends body, retrying as n.retry allows; it returns the tries made and the last error.
func (n *Notifier) post(ctx context.Context, body []byte) (int, error) {
	start := n.clock.Now()
	for try := 1; ; try++ {
		err := n.postOnce(ctx, body)
		if err == nil {
			return try, nil
		}
		var re *retryable
		if !errors.As(err, &re) || n.retry.Spent(try) {
			return try, err
		}
		wait := n.retry.Wait(try, re.retryAfter, re.hasAfter)
		if n.retry.Overdue(n.clock.Now().Sub(start), wait) {
			return try, err
		}
		n.log.LogAttrs(ctx, slog.LevelDebug, "run notification failed, retrying", slog.Int("attempt", try),
			slog.String("error", secret.Scrub(err.Error(), n.secrets)))
		if serr := n.clock.Sleep(ctx, wait); serr != nil {
			return try, err
		}
	}
}

func (n *Notifier) postOnce(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(transport.WithEndpoint(ctx, endpoint), http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return errors.New("post webhook: cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	// transport's RoundTripper sets a fresh Correlation-ID on each try.
	resp, err := n.http.Do(req)
	if err != nil {
		// A *url.Error quotes the whole URL: keep only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		msg := secret.Scrub(err.Error(), n.secrets)
		if errors.Is(err, transport.ErrRefused) {
			return fmt.Errorf("post webhook: %s", msg)
		}
		return &retryable{err: fmt.Errorf("post webhook: %s", msg)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		after, ok := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), n.clock.Now())
		return &retryable{err: fmt.Errorf("post webhook: HTTP %d", resp.StatusCode), retryAfter: after, hasAfter: ok}
	default:
		return fmt.Errorf("post webhook: HTTP %d (is the webhook URL still valid?)", resp.StatusCode)
	}
}

// payload is the JSON body: the one-line text and the run summary, with the run's error scrubbed.
func (n *Notifier) payload(r massupdate.Run) ([]byte, error) {
	errText := oneLine(secret.Scrub(r.Error, n.secrets))
	sum, err := json.Marshal(r.Summary())
	if err != nil {
		return nil, fmt.Errorf("encode run summary: %w", err)
	}
	// Through a generic value, so that every string the summary holds (today and whatever it gains) passes
	// the scrub, and "error" is there as the contract's summary has it (README: Contract).
	dec := json.NewDecoder(bytes.NewReader(sum))
	dec.UseNumber()
	var run map[string]any
	if err := dec.Decode(&run); err != nil {
		return nil, fmt.Errorf("encode run summary: %w", err)
	}
	scrubAll(run, n.secrets)
	if errText != "" {
		run["error"] = errText
	} else {
		run["error"] = nil
	}
	b, err := json.Marshal(struct {
		Text string         `json:"text"`
		Run  map[string]any `json:"run"`
	}{Text: text(r, errText), Run: run})
	if err != nil {
		return nil, fmt.Errorf("encode notification: %w", err)
	}
	return b, nil
}

func scrubAll(v any, secrets []string) any {
	switch x := v.(type) {
	case string:
		return secret.Scrub(x, secrets)
	case map[string]any:
		for k, e := range x {
			x[k] = scrubAll(e, secrets)
		}
	case []any:
		for i, e := range x {
			x[i] = scrubAll(e, secrets)
		}
	}
	return v
}

// maxErrorText bounds the run's error in a notification: a chat line, not a log.
const maxErrorText = 300

// oneLine makes s one line of printable text, at most maxErrorText bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorText {
		s = strings.ToValidUTF8(s[:maxErrorText], "") + "…"
	}
	return s
}

// text is the one line a chat shows, e.g. "proffsync run 0193… interrupted: 1,234 selected, 1,200 updated,
// 3 failed — API quota exhausted (resume with proffsync run --resume)".
func text(r massupdate.Run, errText string) string {
	var b strings.Builder
	b.WriteString("proffsync ")
	if r.DryRun {
		b.WriteString("dry ")
	}
	fmt.Fprintf(&b, "run %s %s: ", r.ID, r.Status)
	c := r.Counts
	parts := []string{thousands(c.Selected) + " selected", thousands(c.Updated) + " updated"}
	for _, p := range []struct {
		n    int64
		what string
	}{{c.Unchanged, "unchanged"}, {c.NotFound, "not found"}, {c.MissingOrgNumber, "without org number"},
		{c.InvalidOrgNumber, "with an invalid org number"}} {
		if p.n > 0 {
			parts = append(parts, thousands(p.n)+" "+p.what)
		}
	}
	parts = append(parts, thousands(c.Failed)+" failed")
	b.WriteString(strings.Join(parts, ", "))
	if errText != "" {
		b.WriteString(" — " + errText)
	}
	if r.Status == massupdate.Interrupted && !r.DryRun && r.ResumedBy == "" {
		b.WriteString(" (resume with proffsync run --resume)")
	}
	// Slack reads <…> as a link or a mention (<!channel>) and & as the start of an entity: a server's words
	// in the error must not ping a channel or hide a link.
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(b.String())
}

// thousands writes n with a comma between each group of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
