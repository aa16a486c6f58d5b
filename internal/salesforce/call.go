package salesforce

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/simpleforce/simpleforce"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/retry"
	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/transport"
)

// ErrorItem is one element of a Salesforce error array (errorCode at the top level of a response,
// statusCode inside a collection's per-record result).
type ErrorItem struct {
	Code    string   `json:"errorCode"`
	Message string   `json:"message"`
	Fields  []string `json:"fields,omitempty"`
}

// APIError is a non-2xx answer that the adapter does not turn into a sentinel.
type APIError struct {
	Status   int
	Endpoint string
	Errors   []ErrorItem // may be empty: a proxy can answer with HTML or nothing
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "salesforce %s: HTTP %d", e.Endpoint, e.Status)
	for _, it := range e.Errors {
		b.WriteString(": ")
		b.WriteString(it.Code)
		if it.Message != "" {
			b.WriteString(" ")
			b.WriteString(it.Message)
		}
	}
	return b.String()
}

func (e *APIError) has(code string) bool {
	for _, it := range e.Errors {
		if it.Code == code {
			return true
		}
	}
	return false
}

// concurrencyLimit says the answer is REQUEST_LIMIT_EXCEEDED for a concurrent-request limit
// ("ConcurrentPerOrgLongTxn Limit exceeded.", "ConcurrentRequests (Concurrent API Requests) Limit
// exceeded."), which Salesforce reports with the same code as the spent daily allocation ("TotalRequests
// Limit exceeded.").
func (e *APIError) concurrencyLimit() bool {
	for _, it := range e.Errors {
		if it.Code == "REQUEST_LIMIT_EXCEEDED" && strings.HasPrefix(strings.TrimSpace(it.Message), "Concurrent") {
			return true
		}
	}
	return false
}

// request is one REST call. Exactly one of soql and path is set: soql goes through simpleforce.Query (a
// query or a nextRecordsUrl), path through simpleforce.ApexREST. simpleforce only builds and sends the
// request: the answer's body is read here, within limit, and decoded by the adapter.
type request struct {
	endpoint string // template for the technical log
	method   string
	soql     string
	path     string // from the instance root, with a leading slash
	body     []byte
	header   http.Header
	// noReserve lets a call through below the reserve: reading /limits must work when the reserve is
	// reached, since that is when `check` needs to show it.
	noReserve bool
	// limit bounds a 2xx answer's body: what the answer can legitimately be (see the limit constants).
	// A longer answer is refused, not truncated, and not retried. 0 means limitSmall.
	limit int64
}

// Bounds on what an answer can legitimately be. Every 2xx body is read whole before it is decoded, so each
// bound is also the most memory one answer can take; decoding adds about as much again, never a multiple
// (the adapter decodes into typed structs and one record at a time, not into generic maps of the whole body).
const (
	limitSmall    = 1 << 20  // token, /limits, COUNT() and anything not bounded otherwise
	limitDescribe = 16 << 20 // a describe of an object with ~1000 fields and long picklists is about 2 MiB
	limitError    = 1 << 20  // a non-2xx body: an error array or a proxy's page
	limitAnswer   = 64 << 20 // no answer is ever read beyond this, whatever its computed bound
	// A write answers one element of about 100 bytes per record, more with long validation messages.
	limitWritePerRecord = 16 << 10
)

type response struct {
	status int
	body   []byte
}

// AnswerTooLargeError is a 2xx answer longer than what it can legitimately be (request.limit). It is not
// retried: the same request would bring the same answer.
type AnswerTooLargeError struct {
	Endpoint string
	Limit    int64
}

func (e *AnswerTooLargeError) Error() string {
	return fmt.Sprintf("salesforce %s: the answer is longer than the %s it can legitimately be; refusing it", e.Endpoint, sizeText(e.Limit))
}

func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// call runs a request with the session, the API reserve, re-login once on 401 and retries with backoff on
// 5xx, 429, timeouts and network failures.
func (c *Client) call(ctx context.Context, r request) (*response, error) {
	relogged := false
	tries := 0
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("salesforce %s: %w", r.endpoint, err)
		}
		if !r.noReserve {
			if err := c.checkReserve(); err != nil {
				return nil, err
			}
		}
		sess, err := c.current(ctx)
		if err != nil {
			return nil, err
		}
		tries++
		resp, err := c.send(ctx, sess, r, attempt)
		var v verdict
		switch {
		case err != nil:
			v, err = c.sendVerdict(ctx, r, err)
		case resp.status >= 200 && resp.status < 300:
			return resp, nil
		default:
			v, err = c.answerVerdict(r, resp)
		}
		switch v {
		case final:
			return nil, err
		case reauthenticate:
			if relogged {
				return nil, fmt.Errorf("salesforce %s: the session was rejected again right after a fresh login: %w", r.endpoint, massupdate.ErrUnauthorized)
			}
			relogged = true
			c.log.LogAttrs(ctx, slog.LevelInfo, "salesforce session expired, logging in again", attrEndpoint(r.endpoint))
			if _, err := c.relogin(ctx, sess.gen, false); err != nil {
				return nil, err
			}
			continue
		}
		if c.retry.Spent(tries) {
			return nil, spent(r, tries, err)
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "salesforce call failed, retrying", attrEndpoint(r.endpoint), attrAttempt(attempt), attrErr(err))
		if err := c.o.Clock.Sleep(ctx, c.retry.Backoff(tries)); err != nil {
			return nil, fmt.Errorf("salesforce %s: %w", r.endpoint, err)
		}
	}
}

// verdict is what call does after a failed try.
type verdict int

const (
	final          verdict = iota // return the error
	retryable                     // try again after a backoff, while tries remain
	reauthenticate                // log in again and try again, once
)

// sendVerdict judges a try that got no answer: the run's end, a policy refusal and an answer too large are
// final; anything else on the way (timeouts, resets) is retried, its text scrubbed of every secret.
func (c *Client) sendVerdict(ctx context.Context, r request, err error) (verdict, error) {
	if ctx.Err() != nil {
		return final, fmt.Errorf("salesforce %s: %w", r.endpoint, ctx.Err())
	}
	if errors.Is(err, transport.ErrRefused) {
		return final, fmt.Errorf("salesforce %s: %w", r.endpoint, err)
	}
	if tooLarge := (*AnswerTooLargeError)(nil); errors.As(err, &tooLarge) {
		return final, err
	}
	return retryable, fmt.Errorf("salesforce %s: %s", r.endpoint, secret.Scrub(err.Error(), c.allSecrets()))
}

// answerVerdict judges an answer other than 2xx.
func (c *Client) answerVerdict(r request, resp *response) (verdict, error) {
	apiErr := c.apiError(r.endpoint, resp)
	switch {
	case resp.status == http.StatusUnauthorized:
		return reauthenticate, apiErr
	case resp.status == http.StatusForbidden && apiErr.concurrencyLimit():
		// Too many long-running requests in the org at this moment (ConcurrentPerOrgLongTxn,
		// ConcurrentRequests): it passes as they finish, unlike the daily allocation.
		return retryable, apiErr
	case resp.status == http.StatusForbidden && apiErr.has("REQUEST_LIMIT_EXCEEDED"):
		return final, fmt.Errorf("salesforce %s: the org's daily API allocation is spent (REQUEST_LIMIT_EXCEEDED): %w", r.endpoint, massupdate.ErrQuotaExhausted)
	case resp.status >= 500, resp.status == http.StatusTooManyRequests, apiErr.has("UNABLE_TO_LOCK_ROW"):
		return retryable, apiErr
	}
	return final, apiErr
}

// spent is the error of a retryable failure after the last try.
func spent(r request, tries int, err error) error {
	var api *APIError
	if errors.As(err, &api) && api.Status == http.StatusForbidden && api.concurrencyLimit() {
		// Still at the org's limit after every try: stop so the run can be resumed, as for the daily
		// allocation, rather than fail records that are only waiting for other requests to end.
		return fmt.Errorf("salesforce %s: the org's concurrent request limit is still reached after %d tries (%s): %w",
			r.endpoint, tries, api.Errors[0].Message, massupdate.ErrQuotaExhausted)
	}
	return err
}

// send makes one HTTP request through a fresh simpleforce client whose http.Client binds ctx. The capture
// under simpleforce keeps the real outcome and gives simpleforce only 2xx answers (see the package doc).
func (c *Client) send(ctx context.Context, sess session, r request, attempt int) (*response, error) {
	limit := r.limit
	if limit <= 0 {
		limit = limitSmall
	}
	cp := &capture{
		base:     c.http,
		ctx:      transport.WithAttempt(transport.WithEndpoint(ctx, r.endpoint), attempt),
		header:   r.header,
		endpoint: r.endpoint,
		limit:    min(limit, limitAnswer),
	}
	sf := simpleforce.NewClient(sess.instance, c.o.ClientID, c.o.APIVersion)
	sf.SetSidLoc(sess.token, sess.instance)
	sf.SetHttpClient(&http.Client{Transport: cp})
	var err error
	if r.soql != "" {
		_, err = sf.Query(r.soql)
	} else {
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		_, err = sf.ApexREST(r.method, strings.TrimPrefix(r.path, "/"), body)
	}
	if cp.err != nil {
		return nil, cp.err
	}
	if !cp.done {
		return nil, errors.New("simpleforce made no request") // cannot happen: both paths request once
	}
	c.noteLimits(cp.respHeader)
	if cp.status < 200 || cp.status > 299 {
		return &response{status: cp.status, body: cp.body}, nil
	}
	if err != nil { // cannot happen: simpleforce only ever sees "{}"
		return nil, fmt.Errorf("simpleforce: %w", err)
	}
	return &response{status: cp.status, body: cp.body}, nil
}

// capture is the RoundTripper under simpleforce: it binds the run's context, adds per-call headers, sends
// through the shared transport, and keeps the outcome. Failures never reach simpleforce, which would log
// them through the global logger, and neither do answers: simpleforce decodes a query page into generic
// maps (hundreds of times the body's size in memory) and panics on a null record, so it is handed "{}" and
// the adapter decodes the body kept here.
type capture struct {
	base     *http.Client
	ctx      context.Context
	header   http.Header
	endpoint string
	limit    int64 // bound on a 2xx body

	done       bool
	err        error
	status     int
	respHeader http.Header
	body       []byte
}

func (cp *capture) RoundTrip(req *http.Request) (*http.Response, error) {
	r2 := req.Clone(cp.ctx)
	for k, v := range cp.header {
		r2.Header[k] = v
	}
	r2.Header.Set("Accept", "application/json")
	cp.done = true
	resp, err := cp.base.Do(r2)
	if err != nil {
		cp.err = err
		return emptyOK(req), nil
	}
	defer resp.Body.Close()
	cp.status, cp.respHeader = resp.StatusCode, resp.Header
	// Read the whole body here: a read failure inside simpleforce would be logged with the SOQL URL.
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	limit := int64(limitError)
	if ok {
		limit = cp.limit
	}
	body, long, err := readBounded(resp.Body, resp.ContentLength, limit)
	switch {
	case err != nil:
		cp.err = err
	case ok && long:
		cp.err = &AnswerTooLargeError{Endpoint: cp.endpoint, Limit: limit}
	default:
		// A long error body keeps its start: it is only ever read for its error array.
		cp.body = body
	}
	return emptyOK(req), nil
}

// readBounded reads up to limit bytes and says whether the body was longer. A body whose Content-Length is
// already too long is not read at all.
func readBounded(r io.Reader, contentLength, limit int64) (body []byte, long bool, err error) {
	if contentLength > limit {
		return nil, true, nil
	}
	var buf bytes.Buffer
	if contentLength > 0 {
		buf.Grow(int(contentLength) + 1)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, false, err
	}
	if b := buf.Bytes(); int64(len(b)) > limit {
		return b[:limit], true, nil
	}
	return buf.Bytes(), false, nil
}

func emptyOK(req *http.Request) *http.Response {
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(strings.NewReader("{}")), ContentLength: 2, Request: req}
}

// apiError parses any error body: Salesforce's array, or HTML/empty from a proxy.
func (c *Client) apiError(endpoint string, resp *response) *APIError {
	e := &APIError{Status: resp.status, Endpoint: endpoint}
	var items []ErrorItem
	if json.Unmarshal(resp.body, &items) == nil {
		for _, it := range items {
			it.Message = clean(it.Message, c.allSecrets())
			e.Errors = append(e.Errors, it)
		}
	}
	return e
}

// clean makes a message from Salesforce fit one line of an error: secrets scrubbed, white space collapsed,
// bounded length (MALFORMED_QUERY messages echo the whole query).
func clean(s string, secrets []string) string {
	s = strings.Join(strings.Fields(secret.Scrub(s, secrets)), " ")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// noteLimits keeps the last Sforce-Limit-Info seen.
func (c *Client) noteLimits(h http.Header) {
	if h == nil {
		return
	}
	used, max := transport.ParseLimitInfo(h.Get("Sforce-Limit-Info"))
	if max <= 0 {
		return
	}
	c.mu.Lock()
	c.apiUsed, c.apiMax = used, max
	c.mu.Unlock()
}

// checkReserve refuses a call that would leave less than ReservePercent of the daily allocation, so that a
// nightly sync never starves the org's other integrations. Unknown usage (no answer yet) allows the call.
func (c *Client) checkReserve() error {
	c.mu.Lock()
	used, max := c.apiUsed, c.apiMax
	c.mu.Unlock()
	if max <= 0 {
		return nil
	}
	if (max-used-1)*100 < max*int64(c.o.ReservePercent) {
		return fmt.Errorf("Salesforce daily API allocation below the %d %% reserve (%d of %d calls used): %w",
			c.o.ReservePercent, used, max, massupdate.ErrQuotaExhausted)
	}
	return nil
}

// APIUsage returns the last Sforce-Limit-Info seen (ok false before any answer carried one).
func (c *Client) APIUsage() (used, max int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apiUsed, c.apiMax, c.apiMax > 0
}

// callPolicy is how Salesforce calls, logins and locked rows are retried: 1s, 2s, 4s, … capped at 30s,
// without jitter (a proffsync run is the org's one integration user making these calls: there is no herd
// to spread). Salesforce sends no Retry-After to honour. Attempts comes from Options.MaxAttempts.
var callPolicy = retry.Policy{Base: time.Second, Cap: 30 * time.Second}

// backoff is the wait before try n+1 (callPolicy).
func backoff(n int) time.Duration { return callPolicy.Backoff(n) }

const (
	slogInfo = slog.LevelInfo
	slogWarn = slog.LevelWarn
)

func attrFlow(f string) slog.Attr     { return slog.String("flow", f) }
func attrInstance(u string) slog.Attr { return slog.String("instance_url", u) }
func attrAttempt(n int) slog.Attr     { return slog.Int("attempt", n) }
func attrEndpoint(e string) slog.Attr { return slog.String("endpoint", e) }
func attrErr(err error) slog.Attr     { return slog.String("error", err.Error()) }
