package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"

	"github.com/proffconnect/proffsync/internal/notify"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/transport"
)

// Env holds the secrets and endpoints, which come only from the environment (or files it names).
type Env struct {
	DatabaseURL    string
	ProffAPIURL    string
	ProffAPIToken  string
	SFLoginURL     string
	SFAuthFlow     string
	SFClientID     string
	SFClientSecret string
	SFUsername     string
	SFPassword     string
	SFJWTKeyFile   string
	SFJWTKey       []byte
	SFAPIVersion   string
	// SFInstanceHosts (SF_INSTANCE_HOSTS) admits instance_url hosts beyond the Salesforce domains, for unusual
	// setups: host names, or ".suffix" entries that admit every host under the suffix.
	SFInstanceHosts []string
	ConfigPath      string // PROFFSYNC_CONFIG
	// UIPassword (PROFFSYNC_UI_PASSWORD) is the basic-auth password of serve's history pages on a
	// non-loopback address; without it those pages are off there.
	UIPassword string
	// NotifyWebhookURL (NOTIFY_WEBHOOK_URL) is where run notifications are posted; "" means none. A secret:
	// chat webhooks carry their key in the URL.
	NotifyWebhookURL string

	// Warnings are what proffsync runs with but an operator should fix (a secret file others can read, a
	// database reached without verified TLS): check prints them, every command logs them at warn level.
	Warnings []string
}

// Defaults of the environment.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/proffsync?sslmode=disable"
	DefaultProffAPIURL = "https://api.proff.no"
	DefaultSFLoginURL  = "https://login.salesforce.com"
	DefaultAPIVersion  = "62.0"
)

// Auth flows.
const (
	FlowClientCredentials = "client_credentials"
	FlowJWT               = "jwt"
	FlowPassword          = "password"
)

var apiVersion = regexp.MustCompile(`^\d{2,3}\.\d$`)

// instanceHost is a lower-case host name, or a suffix of one that starts with a dot.
var instanceHost = regexp.MustCompile(`^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// warnOpenFile warns, as ssh does of a private key, when a file holding a secret can be read (or written) by
// others, or by a group other than the process's own effective group: anyone else on the host could take the
// credential. A group of our own is how secrets are handed over: Kubernetes mounts secret files 0440 with
// the pod's fsGroup, which is the process's group, and systemd's LoadCredential hands its files over the
// same way; warning of those would teach operators to ignore the warning.
func (e *Env) warnOpenFile(name, path string) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return // reading it reports the problem
	}
	gid := -1 // unknown: a group bit then counts as open
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		gid = int(st.Gid)
	}
	if perm := fi.Mode().Perm(); tooOpen(perm, gid, os.Getegid()) {
		e.Warnings = append(e.Warnings, fmt.Sprintf("%s: permissions %04o for %s are too open: it holds a secret, "+
			"so only its owner (and the process's own group) should read it (chmod 600 %s)", name, perm, path, path))
	}
}

// tooOpen says whether a secret file with permissions perm, owned by group fileGid, is open to someone but
// its owner and the members of egid, the process's effective group.
func tooOpen(perm fs.FileMode, fileGid, egid int) bool {
	if perm&0o007 != 0 {
		return true
	}
	return perm&0o070 != 0 && fileGid != egid
}

// envLoader reads one environment, collecting every issue so that all of them are reported at once.
type envLoader struct {
	getenv func(string) string
	e      *Env
	issues []string
}

func (l *envLoader) add(format string, a ...any) {
	l.issues = append(l.issues, fmt.Sprintf(format, a...))
}

// secret reads a secret from NAME or the file NAME_FILE names (not both).
func (l *envLoader) secret(name string) string {
	v, file := l.getenv(name), l.getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		l.add("%s and %s_FILE are both set: set one", name, name)
		return ""
	case file != "":
		l.e.warnOpenFile(name+"_FILE", file)
		b, err := os.ReadFile(file)
		if err != nil {
			l.add("%s_FILE: cannot read %s: %s", name, file, rootCause(err))
			return ""
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			l.add("%s_FILE: %s is empty", name, file)
		}
		return s
	default:
		return strings.TrimSpace(v)
	}
}

// LoadEnv reads the environment through getenv. It checks syntax (URLs, flow, version, _FILE pairs) but not
// which credentials a command needs: see RequireProff and RequireSalesforce.
func LoadEnv(getenv func(string) string) (Env, error) {
	e := Env{}
	l := &envLoader{getenv: getenv, e: &e}
	l.loadEndpoints()
	l.loadSalesforce()
	l.loadInstanceHosts()
	e.ConfigPath = strings.TrimSpace(getenv("PROFFSYNC_CONFIG"))
	if w := DatabaseTLSWarning(e.DatabaseURL); w != "" {
		e.Warnings = append(e.Warnings, w)
	}
	if len(l.issues) > 0 {
		return e, &Error{Source: "environment", Issues: l.issues}
	}
	return e, nil
}

// loadEndpoints reads the database, Proff, the history pages' password and the webhook.
func (l *envLoader) loadEndpoints() {
	e := l.e
	e.DatabaseURL = l.secret("DATABASE_URL")
	if e.DatabaseURL == "" {
		e.DatabaseURL = DefaultDatabaseURL
	} else if !isDSN(e.DatabaseURL) {
		l.add("DATABASE_URL: not a postgres:// URL or a keyword/value connection string (host=... dbname=...)")
	}
	e.ProffAPIURL = strings.TrimRight(strings.TrimSpace(l.getenv("PROFF_API_URL")), "/")
	if e.ProffAPIURL == "" {
		e.ProffAPIURL = DefaultProffAPIURL
	}
	if err := transport.CheckURL(e.ProffAPIURL); err != nil {
		l.add("PROFF_API_URL: %v", err)
	}
	e.ProffAPIToken = l.secret("PROFF_API_TOKEN")
	e.UIPassword = l.secret("PROFFSYNC_UI_PASSWORD")
	// A chat webhook carries its key in the URL: read and masked as a secret, and notify's check never
	// quotes its path.
	e.NotifyWebhookURL = l.secret("NOTIFY_WEBHOOK_URL")
	if e.NotifyWebhookURL != "" {
		if err := notify.CheckURL(e.NotifyWebhookURL); err != nil {
			l.add("%v", err)
		}
	}
}

// loadSalesforce reads the flow, its endpoints and credentials, and the API version.
func (l *envLoader) loadSalesforce() {
	e := l.e
	e.SFAuthFlow = strings.ToLower(strings.TrimSpace(l.getenv("SF_AUTH_FLOW")))
	switch e.SFAuthFlow {
	case "":
		e.SFAuthFlow = FlowClientCredentials
	case FlowClientCredentials, FlowJWT, FlowPassword:
	default:
		l.add("SF_AUTH_FLOW: %q is not a flow (client_credentials, jwt or password)", e.SFAuthFlow)
	}
	e.SFLoginURL = strings.TrimRight(strings.TrimSpace(l.getenv("SF_LOGIN_URL")), "/")
	if e.SFLoginURL == "" && e.SFAuthFlow != FlowClientCredentials {
		e.SFLoginURL = DefaultSFLoginURL
	}
	if e.SFLoginURL != "" {
		if err := transport.CheckURL(e.SFLoginURL); err != nil {
			l.add("SF_LOGIN_URL: %v", err)
		} else if err := salesforce.ValidateLoginURL(e.SFAuthFlow, e.SFLoginURL); err != nil {
			// salesforce owns which hosts serve which flow; refusing here makes it exit 78 before a run,
			// instead of a rejected login that sends people to rotate a good secret.
			l.add("%v", err)
		}
	}
	e.SFClientID = strings.TrimSpace(l.getenv("SF_CLIENT_ID"))
	e.SFClientSecret = l.secret("SF_CLIENT_SECRET")
	e.SFUsername = strings.TrimSpace(l.getenv("SF_USERNAME"))
	e.SFPassword = l.secret("SF_PASSWORD")
	l.loadJWTKey()
	e.SFAPIVersion = strings.TrimPrefix(strings.TrimSpace(l.getenv("SF_API_VERSION")), "v")
	if e.SFAPIVersion == "" {
		e.SFAPIVersion = DefaultAPIVersion
	} else if !apiVersion.MatchString(e.SFAPIVersion) {
		l.add("SF_API_VERSION: %q is not a version like 62.0", e.SFAPIVersion)
	}
}

func (l *envLoader) loadJWTKey() {
	e := l.e
	e.SFJWTKeyFile = strings.TrimSpace(l.getenv("SF_JWT_KEY_FILE"))
	if e.SFJWTKeyFile == "" {
		return
	}
	e.warnOpenFile("SF_JWT_KEY_FILE", e.SFJWTKeyFile)
	b, err := os.ReadFile(e.SFJWTKeyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.add("SF_JWT_KEY_FILE: %s does not exist", e.SFJWTKeyFile)
	case err != nil:
		l.add("SF_JWT_KEY_FILE: cannot read %s: %s", e.SFJWTKeyFile, rootCause(err))
	default:
		e.SFJWTKey = b
	}
}

func (l *envLoader) loadInstanceHosts() {
	for _, h := range strings.Split(l.getenv("SF_INSTANCE_HOSTS"), ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case !instanceHost.MatchString(h):
			l.add("SF_INSTANCE_HOSTS: %q is not a host name or a .suffix (no scheme, port, path or wildcard)", h)
		case strings.HasPrefix(h, ".") && strings.Count(h, ".") < 2:
			l.add("SF_INSTANCE_HOSTS: %q would admit a whole top-level domain: name the domain (.example.com)", h)
		default:
			l.e.SFInstanceHosts = append(l.e.SFInstanceHosts, h)
		}
	}
}

// isDSN accepts the two forms pgx reads: a postgres:// (or postgresql://) URL, and the keyword/value form
// (host=db dbname=proffsync ...), whose secrets MaskDatabaseURL and DatabaseSecrets already find.
func isDSN(s string) bool {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
	}
	parts, err := parseDSNKeywords(s)
	return err == nil && len(parts) > 0
}

// RequireProff checks that the Proff token is there.
func (e Env) RequireProff() error {
	if e.ProffAPIToken == "" {
		return &Error{Source: "environment", Issues: []string{"PROFF_API_TOKEN (or PROFF_API_TOKEN_FILE) is required: the customer's own Proff API token"}}
	}
	return nil
}

// RequireSalesforce checks that the chosen flow has its credentials.
func (e Env) RequireSalesforce() error {
	var miss []string
	need := func(name, v string) {
		if v == "" {
			miss = append(miss, name)
		}
	}
	need("SF_CLIENT_ID", e.SFClientID)
	switch e.SFAuthFlow {
	case FlowClientCredentials:
		need("SF_LOGIN_URL (the org's My Domain, https://NAME.my.salesforce.com)", e.SFLoginURL)
		need("SF_CLIENT_SECRET", e.SFClientSecret)
	case FlowJWT:
		need("SF_USERNAME", e.SFUsername)
		need("SF_JWT_KEY_FILE", string(e.SFJWTKey))
	case FlowPassword:
		need("SF_CLIENT_SECRET", e.SFClientSecret)
		need("SF_USERNAME", e.SFUsername)
		need("SF_PASSWORD", e.SFPassword)
	}
	if len(miss) > 0 {
		return &Error{Source: "environment", Issues: []string{fmt.Sprintf("SF_AUTH_FLOW=%s needs %s", e.SFAuthFlow, strings.Join(miss, ", "))}}
	}
	return nil
}

// Secrets lists every secret value, for scrubbing: every form in which DATABASE_URL carries its password
// and sslpassword included.
func (e Env) Secrets() []string {
	var s []string
	for _, v := range append([]string{e.ProffAPIToken, e.SFClientSecret, e.SFPassword, e.UIPassword}, append(DatabaseSecrets(e.DatabaseURL), notify.URLSecrets(e.NotifyWebhookURL)...)...) {
		if v != "" && !contains(s, v) {
			s = append(s, v)
		}
	}
	return s
}

// Describe lists the environment for `check`, every secret masked.
func (e Env) Describe() [][2]string {
	rows := [][2]string{
		{"DATABASE_URL", MaskDatabaseURL(e.DatabaseURL)},
		{"PROFF_API_URL", e.ProffAPIURL},
		{"PROFF_API_TOKEN", secret.Mask(e.ProffAPIToken)},
		{"SF_AUTH_FLOW", e.SFAuthFlow},
		{"SF_LOGIN_URL", orNotSet(e.SFLoginURL)},
		{"SF_CLIENT_ID", maskID(e.SFClientID)},
		{"SF_CLIENT_SECRET", secret.Mask(e.SFClientSecret)},
		{"SF_USERNAME", orNotSet(e.SFUsername)},
		{"SF_PASSWORD", secret.Mask(e.SFPassword)},
		{"SF_JWT_KEY_FILE", orNotSet(e.SFJWTKeyFile)},
		{"SF_API_VERSION", e.SFAPIVersion},
		{"SF_INSTANCE_HOSTS", orNotSet(strings.Join(e.SFInstanceHosts, ","))},
		{"PROFFSYNC_UI_PASSWORD", secret.Mask(e.UIPassword)},
		{"NOTIFY_WEBHOOK_URL", orNotSet(notify.MaskURL(e.NotifyWebhookURL))},
	}
	return rows
}

func orNotSet(s string) string {
	if s == "" {
		return "(not set)"
	}
	return s
}

// A client id is not a secret, but it is long and identifies the app: show its end only.
func maskID(s string) string { return secret.Mask(s) }
