// Package salesforce is the Salesforce adapter: OAuth 2.0 login (client_credentials, JWT bearer,
// username-password), reading the opted-in records of any object (Account, Lead, Contact, a custom object)
// with one SOQL query paged through nextRecordsUrl, describe and the field checks made before any write,
// and batched writes through sObject Collections. It
// implements massupdate.RecordSource and massupdate.RecordWriter and maps Salesforce's failures onto the
// engine's sentinel errors (ErrUnauthorized, ErrQuotaExhausted).
//
// simpleforce, the required client, lives behind this package only: nothing else may import it. It is used
// where it is sound (SetSidLoc, SetHttpClient, Query with manual paging, ApexREST as a raw pipe) with a fresh
// simpleforce.Client and http.Client per call, so that the run's context reaches every request and no
// simpleforce state is shared between goroutines. Auth, retries, limit headers, write bodies and the decoding
// of every answer are done here.
//
// simpleforce logs the SOQL URL and error bodies through the global log package whenever a request fails,
// panics on a "[]" error body and on a null record, and decodes a query page into generic maps hundreds of
// times the body's size. So it never sees an answer: the per-call RoundTripper under it captures every
// transport error and response, reads the body within what that answer can legitimately be (decode.go),
// hands simpleforce an empty 200 instead, and the adapter decodes the real body, one record at a time.
//
// The token answer's instance_url receives the access token with every call: it is accepted only on a
// Salesforce domain, the login host, loopback or a host the operator allowed (AllowedInstanceHosts).
//
// What must never happen here: a secret (client secret, password, access token, private key) in a log line,
// an error or a technical-log Call; a field that is not configured reaching a write body (P4), nor a parent's
// field read through a relationship (Account.Org_Number__c is read, never written); a field name
// from config reaching SOQL before it is checked; a request that does not go through the shared transport.
package salesforce

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/retry"
	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/soql"
	"github.com/proffconnect/proffsync/internal/transport"
)

// OAuth 2.0 flows.
const (
	FlowClientCredentials = "client_credentials"
	FlowJWT               = "jwt"
	FlowPassword          = "password"
)

// Options configure a Client.
type Options struct {
	// LoginURL issues tokens: the org's My Domain (required for client_credentials) or login.salesforce.com.
	LoginURL string
	// Flow is FlowClientCredentials (default), FlowJWT or FlowPassword.
	Flow                                       string
	ClientID, ClientSecret, Username, Password string
	JWTKey                                     []byte // PEM RSA private key (PKCS#1 or PKCS#8) for FlowJWT
	APIVersion                                 string // digits, e.g. "62.0"

	// Object is any object describe knows: Account, Lead (converted leads are not selected), Contact, a
	// custom object (Company__c).
	Object string
	// OrgNumberField and CountryField (optional) may be a parent's field through one relationship
	// (Account.Org_Number__c on a Contact): selected and checked against the parent's describe, never
	// written.
	OrgNumberField string
	CountryField   string
	OptInField     string // a checkbox: only records where it is true are selected
	Filter         string // optional SOQL condition, ANDed in parentheses
	// Fields are the fields whose current values are read into Record.Values and that Write may write: the
	// mapped fields (and the last-synced field, which is added when LastSyncedField names it).
	Fields []string
	// LastSyncedField is the optional datetime (or date) field set on written records; read and writable too.
	LastSyncedField string

	// AllowedInstanceHosts admits instance_url hosts beyond the Salesforce domains (*.salesforce.com,
	// *.force.com, *.salesforce.mil, *.cloudforce.com), the login host and loopback, which are always
	// accepted: each entry is a host name ("sf.proxy.example.com") or a ".suffix" (".proxy.example.com")
	// that admits every host under it. The token answer's instance_url receives the access token, so it is
	// refused anywhere else. (SF_INSTANCE_HOSTS, comma-separated, sets it.)
	AllowedInstanceHosts []string

	PageSize       int // Sforce-Query-Options batchSize, 200–2000; default 2000
	ReservePercent int // stop before the daily API allocation's remainder falls below this share of it

	Recorder transport.Recorder
	RootCAs  *x509.CertPool
	Logger   *slog.Logger
	// Clock reads the time (JWT claims) and waits between retries; clock.System when nil. Tests pass a
	// virtual one (clocktest).
	Clock clock.Clock
	Base  http.RoundTripper // replaces the network transport (tests)
	// Timeout bounds one HTTP request (default 120s: a collection write fires the org's automation).
	Timeout time.Duration
	// MaxAttempts bounds the tries of one call on 5xx, timeouts and row locks (default 4).
	MaxAttempts int
}

// Client talks to one Salesforce org. It is safe for concurrent use.
type Client struct {
	o        Options
	retry    retry.Policy // callPolicy bounded by MaxAttempts: calls, row locks
	log      *slog.Logger
	http     *http.Client
	loginURL string // scheme://host[:port] of LoginURL, no trailing slash
	key      *rsa.PrivateKey
	secrets  []string
	// instanceHosts are AllowedInstanceHosts, lower-case, without blanks.
	instanceHosts []string

	soqlFields []string          // Id, org number, country, Fields…, last synced: deduplicated, as configured
	valueKeys  map[string]string // lower-case name → the name as configured, for Record.Values
	writable   map[string]bool   // lower-case names Write may send

	loginSem chan struct{} // one login at a time; a channel so waiting honours ctx
	mu       sync.Mutex
	sess     session
	apiUsed  int64
	apiMax   int64
	types    map[string]string // lower-case field name → describe type, once described

	validated atomic.Bool
	described map[string]mapping.Field // the last describe answer (guarded by mu)

	// orgPath and countryPath are the org number and country fields as read, maybe a parent's field
	// through a relationship; countryPath.Field is "" when no country field is configured.
	orgPath, countryPath soql.Path
	// relProblems says, by lower-case path, why Describe found no parent field for a relationship path
	// (guarded by mu).
	relProblems map[string]string
}

type session struct {
	token, instance string
	gen             int
}

// minAPIVersion is the first REST API version with sObject Collections, the resource every write uses.
const minAPIVersion = 42.0

var (
	apiVersion = regexp.MustCompile(`^[0-9]{2,3}\.[0-9]$`)
	recordID   = regexp.MustCompile(`^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$`)
)

// New checks the options and builds a client. It makes no call: Login or the first call logs in.
func New(o Options) (*Client, error) {
	if o.Flow == "" {
		o.Flow = FlowClientCredentials
	}
	if o.PageSize == 0 {
		o.PageSize = 2000
	}
	var problems []string
	key, authProblems := checkAuth(o)
	problems = append(problems, authProblems...)
	paths, nameProblems := checkNames(&o)
	problems = append(problems, nameProblems...)
	instanceHosts, hostProblems := checkInstanceHosts(o.AllowedInstanceHosts)
	problems = append(problems, hostProblems...)
	problems = append(problems, checkLimits(o)...)
	if len(problems) > 0 {
		return nil, fmt.Errorf("salesforce: %s", strings.Join(problems, "; "))
	}
	o = withDefaults(o)
	policy := callPolicy
	// A negative MaxAttempts has always meant a single try; to the policy, Attempts <= 0 means unbounded.
	policy.Attempts = max(o.MaxAttempts, 1)
	u, _ := url.Parse(o.LoginURL)
	c := &Client{
		o:             o,
		log:           o.Logger,
		loginURL:      u.Scheme + "://" + u.Host,
		key:           key,
		instanceHosts: instanceHosts,
		loginSem:      make(chan struct{}, 1),
		retry:         policy,
		orgPath:       paths[0],
		countryPath:   paths[1],
	}
	for _, s := range []string{o.ClientSecret, o.Password} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	c.http = transport.NewClient(transport.Options{
		Service:               transport.Salesforce,
		Recorder:              transport.RecorderFunc(c.recordCall),
		Secrets:               c.secrets,
		RootCAs:               o.RootCAs,
		Timeout:               o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		Base:                  o.Base,
	})
	c.soqlFields, c.valueKeys, c.writable = selection(o)
	return c, nil
}

// ParseJWTKey checks a PEM RSA private key for the jwt flow (PKCS#1 or PKCS#8) without logging in, so that
// `check` can say the key is unusable before a run tries it. Its errors never quote the key.
func ParseJWTKey(pemBytes []byte) error {
	_, err := parseKey(pemBytes)
	return err
}

// checkAuth checks the login options of the flow and parses the JWT key.
func checkAuth(o Options) (*rsa.PrivateKey, []string) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if o.LoginURL == "" {
		bad("login URL is required")
	} else if err := transport.CheckURL(o.LoginURL); err != nil {
		bad("login URL: %v", err)
	}
	if o.ClientID == "" {
		bad("client id is required")
	}
	var key *rsa.PrivateKey
	switch o.Flow {
	case FlowClientCredentials:
		if o.ClientSecret == "" {
			bad("client secret is required for the client_credentials flow")
		}
	case FlowPassword:
		if o.ClientSecret == "" || o.Username == "" || o.Password == "" {
			bad("client secret, username and password are required for the password flow")
		}
	case FlowJWT:
		if o.Username == "" {
			bad("username is required for the jwt flow")
		}
		k, err := parseKey(o.JWTKey)
		if err != nil {
			bad("jwt key: %v", err)
		}
		key = k
	default:
		bad("unknown auth flow %q (client_credentials, jwt or password)", o.Flow)
	}
	if !apiVersion.MatchString(o.APIVersion) {
		bad("API version %q must be digits like 62.0", o.APIVersion)
	} else if v, _ := strconv.ParseFloat(o.APIVersion, 64); v < minAPIVersion {
		bad("API version %s is too old: writes use sObject Collections (composite/sobjects), which need %.1f or later", o.APIVersion, minAPIVersion)
	}
	return key, problems
}

// checkNames checks every name that reaches SOQL (soql's rules, which config applies too) and puts the
// object's canonical spelling in o. The org number and country may be a parent's field through one
// relationship (Account.Org_Number__c on a Contact): they are read, never written. It returns their paths.
func checkNames(o *Options) ([2]soql.Path, []string) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if obj, err := soql.Object(o.Object); err != nil {
		bad("object %q: %v", o.Object, err)
	} else {
		o.Object = obj
	}
	var paths [2]soql.Path
	for i, n := range []struct{ what, name string }{{"org number field", o.OrgNumberField}, {"country field", o.CountryField}} {
		if n.name == "" && i == 1 {
			continue
		}
		p, ok := soql.ParsePath(n.name)
		if !ok {
			bad("%s %q is not a valid API name (letters, digits and underscores) or Relationship.Field path", n.what, n.name)
		}
		paths[i] = p
	}
	named := []struct{ what, name string }{{"opt-in field", o.OptInField}}
	if o.LastSyncedField != "" {
		named = append(named, struct{ what, name string }{"last-synced field", o.LastSyncedField})
	}
	for _, f := range o.Fields {
		named = append(named, struct{ what, name string }{"field", f})
	}
	for _, n := range named {
		if !soql.IsName(n.name) {
			bad("%s %q is not a valid API name (letters, digits and underscores)", n.what, n.name)
		}
	}
	if err := soql.CheckFilter(o.Filter); err != nil {
		bad("filter: %v", err)
	}
	return paths, problems
}

func checkInstanceHosts(allowed []string) ([]string, []string) {
	var hosts, problems []string
	for _, h := range allowed {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case !instanceHostEntry.MatchString(h):
			problems = append(problems, fmt.Sprintf("allowed instance host %q must be a host name or a .suffix (no scheme, port, path or wildcard)", h))
		default:
			hosts = append(hosts, h)
		}
	}
	return hosts, problems
}

func checkLimits(o Options) []string {
	var problems []string
	if o.PageSize < 200 || o.PageSize > 2000 {
		problems = append(problems, fmt.Sprintf("page size %d is out of range (200 to 2000)", o.PageSize))
	}
	if o.ReservePercent < 0 || o.ReservePercent > 100 {
		problems = append(problems, fmt.Sprintf("API reserve %d %% is out of range", o.ReservePercent))
	}
	return problems
}

func withDefaults(o Options) Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o.Clock = clock.Or(o.Clock)
	if o.Timeout == 0 {
		o.Timeout = 120 * time.Second
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 4
	}
	return o
}

// selection is what the query selects (Id, org number, country, the fields, last synced: deduplicated, as
// configured), the names Record.Values carry, and the names Write may send: only the object's own
// configured fields, never the org number or country unless they are mapped too, never a parent's field.
func selection(o Options) (fields []string, valueKeys map[string]string, writable map[string]bool) {
	valueKeys, writable = map[string]string{}, map[string]bool{}
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[strings.ToLower(name)] {
			seen[strings.ToLower(name)] = true
			fields = append(fields, name)
		}
	}
	add("Id")
	add(o.OrgNumberField)
	if o.CountryField != "" {
		add(o.CountryField)
	}
	for _, f := range append(append([]string(nil), o.Fields...), o.LastSyncedField) {
		if f == "" {
			continue
		}
		add(f)
		if _, dup := valueKeys[strings.ToLower(f)]; !dup {
			valueKeys[strings.ToLower(f)] = f
		}
		writable[strings.ToLower(f)] = true
	}
	return fields, valueKeys, writable
}

// recordCall passes each technical-log Call on with the current access token scrubbed too: the token is
// issued after the transport was built, so the transport's own secret list cannot hold it.
func (c *Client) recordCall(ctx context.Context, call transport.Call) {
	if c.o.Recorder == nil {
		return
	}
	if call.ErrorExcerpt != "" {
		call.ErrorExcerpt = secret.Scrub(call.ErrorExcerpt, c.allSecrets())
	}
	c.o.Recorder.RecordCall(ctx, call)
}

func (c *Client) allSecrets() []string {
	c.mu.Lock()
	tok := c.sess.token
	c.mu.Unlock()
	if tok == "" {
		return c.secrets
	}
	return append(append([]string(nil), c.secrets...), tok)
}

// where is the condition every read shares: opted in, and the admin's filter. A converted lead stays in
// the Lead table, opt-in and all, but Salesforce refuses every write to it (CANNOT_UPDATE_CONVERTED_LEAD):
// selecting it would fail it again on every run, so it is not selected.
func (c *Client) where() string {
	w := c.o.OptInField + " = true"
	if c.o.Object == "Lead" {
		w = "IsConverted = false AND " + w
	}
	if strings.TrimSpace(c.o.Filter) != "" {
		w += " AND (" + c.o.Filter + ")"
	}
	return w
}

// selectSOQL is the one query that reads the records, resumable after an Id.
func (c *Client) selectSOQL(afterID string) string {
	q := "SELECT " + strings.Join(c.soqlFields, ", ") + " FROM " + c.o.Object + " WHERE " + c.where()
	if afterID != "" {
		q += " AND Id > '" + afterID + "'"
	}
	return q + " ORDER BY Id"
}

func (c *Client) countSOQL() string {
	return "SELECT COUNT() FROM " + c.o.Object + " WHERE " + c.where()
}

// FieldsError lists every problem found when checking the configured fields against describe.
type FieldsError struct{ Problems []string }

func (e *FieldsError) Error() string {
	return fmt.Sprintf("Salesforce fields do not fit the configuration (%d problems): %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// ValidateFields checks the configured fields against describe (as Describe returns it, FLS applied): the org
// number, opt-in (a checkbox) and country fields exist (a parent's field under its path, as Describe adds
// it); the last-synced field is a datetime or date the integration user may update; every other configured
// field exists and is updateable, since it is written. Whether a data point's type can fit a field is the
// mapping's check. It returns a *FieldsError naming every problem. Once it passes, the field names may go
// into SOQL.
func (c *Client) ValidateFields(describe map[string]mapping.Field) error {
	v := fieldCheck{c: c, byLower: make(map[string]mapping.Field, len(describe))}
	for name, f := range describe {
		v.byLower[strings.ToLower(name)] = f
	}
	c.mu.Lock()
	v.relProblems = c.relProblems
	c.mu.Unlock()
	v.lookup("org number field", c.o.OrgNumberField, true)
	if f, ok := v.lookup("opt-in field", c.o.OptInField, false); ok && f.Type != "boolean" {
		v.add("opt-in field %s is a %s, not a checkbox (boolean)", c.o.OptInField, f.Type)
	}
	if c.o.CountryField != "" {
		v.lookup("country field", c.o.CountryField, true)
	}
	if c.o.LastSyncedField != "" {
		if f, ok := v.lookup("last-synced field", c.o.LastSyncedField, false); ok {
			for _, p := range mapping.LastSyncedProblems(f) {
				v.add("last-synced field %s %s", c.o.LastSyncedField, p)
			}
		}
	}
	for _, name := range c.o.Fields {
		if strings.EqualFold(name, c.o.LastSyncedField) {
			continue
		}
		if f, ok := v.lookup("mapped field", name, false); ok && !f.Updateable {
			v.add("mapped field %s is not updateable for the integration user (field-level security or a read-only field)", name)
		}
	}
	if len(v.problems) > 0 {
		return &FieldsError{Problems: v.problems}
	}
	c.validated.Store(true)
	return nil
}

// fieldCheck collects ValidateFields' problems.
type fieldCheck struct {
	c           *Client
	byLower     map[string]mapping.Field
	relProblems map[string]string
	problems    []string
}

func (v *fieldCheck) add(format string, a ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, a...))
}

// lookup finds a configured field in describe; path admits a parent's field through a relationship.
func (v *fieldCheck) lookup(role, name string, path bool) (mapping.Field, bool) {
	if !soql.IsName(name) && !(path && soql.IsPath(name)) {
		v.add("%s %q is not a valid API name", role, name)
		return mapping.Field{}, false
	}
	f, ok := v.byLower[strings.ToLower(name)]
	switch {
	case ok:
	case v.relProblems[strings.ToLower(name)] != "":
		v.add("%s %s: %s", role, name, v.relProblems[strings.ToLower(name)])
	case strings.Contains(name, "."):
		v.add("%s %s was not found through the relationship on %s, or the integration user cannot read it", role, name, v.c.o.Object)
	default:
		v.add("%s %s does not exist on %s or the integration user cannot read it", role, name, v.c.o.Object)
	}
	return f, ok
}

// ensureValidated describes and validates once, so that no unchecked field name reaches SOQL even when the
// caller skipped ValidateFields.
func (c *Client) ensureValidated(ctx context.Context) error {
	if c.validated.Load() {
		return nil
	}
	// The engine describes before it reads: validate that answer rather than spend a second call.
	c.mu.Lock()
	d := c.described
	c.mu.Unlock()
	if d == nil {
		var err error
		if d, err = c.Describe(ctx); err != nil {
			return err
		}
	}
	return c.ValidateFields(d)
}

var (
	_ massupdate.RecordSource = (*Client)(nil)
	_ massupdate.RecordWriter = (*Client)(nil)
)
