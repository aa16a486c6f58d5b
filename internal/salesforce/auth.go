package salesforce

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/transport"
)

const tokenEndpoint = "POST /services/oauth2/token"

// Login gets a fresh access token with the configured flow. Calls log in by themselves when needed; Login
// exists so that `check` can prove the credentials. A rejected credential wraps massupdate.ErrUnauthorized
// and carries Salesforce's error and description, never a secret.
func (c *Client) Login(ctx context.Context) error {
	c.mu.Lock()
	gen := c.sess.gen
	c.mu.Unlock()
	_, err := c.relogin(ctx, gen, true)
	return err
}

// current returns the session, logging in first when there is none.
func (c *Client) current(ctx context.Context) (session, error) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s.token != "" {
		return s, nil
	}
	return c.relogin(ctx, s.gen, false)
}

// relogin replaces the session of generation stale. Concurrent callers that saw the same stale session
// share one login: whoever comes second finds a newer generation and uses it, so a session expiry costs
// exactly one login however many calls were in flight.
func (c *Client) relogin(ctx context.Context, stale int, force bool) (session, error) {
	select {
	case c.loginSem <- struct{}{}:
	case <-ctx.Done():
		return session{}, fmt.Errorf("salesforce login: %w", ctx.Err())
	}
	defer func() { <-c.loginSem }()
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s.token != "" && s.gen != stale && !force {
		return s, nil
	}
	tok, inst, err := c.fetchToken(ctx)
	if err != nil {
		return session{}, err
	}
	c.mu.Lock()
	c.sess = session{token: tok, instance: inst, gen: s.gen + 1}
	s = c.sess
	c.mu.Unlock()
	c.log.LogAttrs(ctx, slogInfo, "salesforce login", attrFlow(c.o.Flow), attrInstance(inst))
	return s, nil
}

// fetchToken posts the flow's form to the token endpoint, retrying 5xx and network failures.
func (c *Client) fetchToken(ctx context.Context) (token, instance string, err error) {
	for attempt := 1; ; attempt++ {
		form, err := c.tokenForm()
		if err != nil {
			return "", "", err
		}
		token, instance, retry, err := c.postToken(ctx, form, attempt)
		if err == nil || !retry || attempt >= c.o.MaxAttempts {
			return token, instance, err
		}
		c.log.LogAttrs(ctx, slogWarn, "salesforce login failed, retrying", attrAttempt(attempt), attrErr(err))
		if err := c.o.Clock.Sleep(ctx, backoff(attempt)); err != nil {
			return "", "", fmt.Errorf("salesforce login: %w", err)
		}
	}
}

func (c *Client) tokenForm() (url.Values, error) {
	f := url.Values{}
	switch c.o.Flow {
	case FlowClientCredentials:
		f.Set("grant_type", "client_credentials")
		f.Set("client_id", c.o.ClientID)
		f.Set("client_secret", c.o.ClientSecret)
	case FlowPassword:
		f.Set("grant_type", "password")
		f.Set("client_id", c.o.ClientID)
		f.Set("client_secret", c.o.ClientSecret)
		f.Set("username", c.o.Username)
		f.Set("password", c.o.Password)
	case FlowJWT:
		a, err := c.assertion()
		if err != nil {
			return nil, err
		}
		f.Set("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
		f.Set("assertion", a)
	}
	return f, nil
}

func (c *Client) postToken(ctx context.Context, form url.Values, attempt int) (token, instance string, retry bool, err error) {
	rctx := transport.WithAttempt(transport.WithEndpoint(ctx, tokenEndpoint), attempt)
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.loginURL+"/services/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", "", false, fmt.Errorf("salesforce login: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", false, fmt.Errorf("salesforce login: %w", ctx.Err())
		}
		return "", "", !errors.Is(err, transport.ErrRefused), fmt.Errorf("salesforce login: %s", secret.Scrub(err.Error(), c.secrets))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", true, fmt.Errorf("salesforce login: reading the answer: %s", secret.Scrub(err.Error(), c.secrets))
	}
	c.noteLimits(resp.Header)
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return "", "", true, fmt.Errorf("salesforce login: HTTP %d", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return "", "", false, &LoginError{Flow: c.o.Flow, Code: clean(e.Error, c.secrets),
				Description: clean(e.Description, c.secrets), Hint: loginHint(c.o.Flow, e.Error, e.Description)}
		}
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return "", "", false, fmt.Errorf("salesforce login (%s flow) rejected: HTTP %d: %w", c.o.Flow, resp.StatusCode, massupdate.ErrUnauthorized)
		}
		return "", "", false, fmt.Errorf("salesforce login: HTTP %d from %s (is the login URL right?)", resp.StatusCode, c.loginURL)
	}
	var ok struct {
		AccessToken string `json:"access_token"`
		InstanceURL string `json:"instance_url"`
	}
	if err := json.Unmarshal(body, &ok); err != nil || ok.AccessToken == "" || ok.InstanceURL == "" {
		return "", "", false, errors.New("salesforce login: the token answer has no access_token or instance_url")
	}
	// The instance URL comes from the network: it must pass the same policy as configured URLs (P6), and
	// every later request carries the access token there, so it must be a host Salesforce serves orgs from.
	if err := transport.CheckURL(ok.InstanceURL); err != nil {
		return "", "", false, fmt.Errorf("salesforce login: instance_url: %v", err)
	}
	if err := c.checkInstanceHost(ok.InstanceURL); err != nil {
		return "", "", false, fmt.Errorf("salesforce login: instance_url: %w", err)
	}
	return ok.AccessToken, strings.TrimRight(ok.InstanceURL, "/"), false, nil
}

// LoginError is a login Salesforce refused with an OAuth error. It wraps massupdate.ErrUnauthorized, the kind
// the engine stops a run on. Salesforce's codes read like a wrong secret whatever went wrong, and send people
// to rotate secrets that were right; Hint says in one sentence what to fix instead (empty for a code it does
// not know).
type LoginError struct {
	Flow        string // the configured flow: FlowClientCredentials, FlowJWT or FlowPassword
	Code        string // Salesforce's error, e.g. invalid_grant (secrets scrubbed)
	Description string // Salesforce's error_description (secrets scrubbed)
	Hint        string // what to fix
}

func (e *LoginError) Error() string {
	s := fmt.Sprintf("salesforce login (%s flow) rejected: %s: %s", e.Flow, e.Code, e.Description)
	if e.Hint != "" {
		s += " — " + e.Hint
	}
	return s
}

func (e *LoginError) Unwrap() error { return massupdate.ErrUnauthorized }

// myDomainForm is how a My Domain login URL looks, for production and for a sandbox.
const myDomainForm = "https://NAME.my.salesforce.com (a sandbox: https://NAME--SANDBOX.sandbox.my.salesforce.com)"

// loginHint is the sentence that says what to fix for an OAuth error of the token endpoint. Salesforce's
// descriptions are matched as well as its codes because one code covers causes with different fixes.
func loginHint(flow, code, description string) string {
	desc := strings.ToLower(strings.TrimSpace(description))
	// Salesforce answers this when a token is asked of a host that serves no org, such as the client
	// credentials flow on login.salesforce.com; the code that comes with it varies.
	if strings.Contains(desc, "request not supported on this domain") {
		return "this host does not issue tokens for the " + flow + " flow: set SF_LOGIN_URL to the org's My Domain, " + myDomainForm
	}
	switch code {
	case "invalid_client_id":
		return "SF_CLIENT_ID is not the consumer key of an app in the org SF_LOGIN_URL points at: copy it from the app, check that SF_LOGIN_URL is that org's (a sandbox is another org), or wait up to 10 minutes after creating the app"
	case "invalid_client":
		if flow == FlowJWT {
			return "the app refused the JWT's client: check that SF_CLIENT_ID is the consumer key of the app that holds the certificate of SF_JWT_KEY_FILE"
		}
		return "SF_CLIENT_SECRET is not the consumer secret of the app SF_CLIENT_ID names: copy it again from the app"
	case "unsupported_grant_type":
		switch flow {
		case FlowClientCredentials:
			return "client credentials flow is not enabled for this app, or SF_LOGIN_URL is not the org's My Domain (" + myDomainForm + ")"
		case FlowPassword:
			return "the username-password flow is blocked: allow it in Setup (OAuth and OpenID Connect Settings) or use the client_credentials or jwt flow"
		default:
			return "the " + flow + " flow is not enabled for this app: enable it in the app's OAuth settings"
		}
	case "invalid_grant":
		switch {
		case strings.Contains(desc, "no client credentials user enabled"):
			return "the app has no run-as user: set one in the app's client credentials flow settings"
		case strings.Contains(desc, "audience"):
			return "the JWT's audience was refused: set SF_LOGIN_URL to https://login.salesforce.com (a sandbox: https://test.salesforce.com) or the org's My Domain"
		case strings.Contains(desc, "ip restricted") || strings.Contains(desc, "ip restriction"):
			return "the org refuses logins from this IP address: relax the app's IP relaxation policy or allow this address in the user's profile"
		}
		switch flow {
		case FlowJWT:
			return "the JWT was refused: SF_USERNAME must be a user pre-authorized for the app (its profile or a permission set assigned to the app) and the app's certificate must match SF_JWT_KEY_FILE"
		case FlowPassword:
			return "SF_USERNAME or SF_PASSWORD is wrong, or the user is locked: the password needs the user's security token appended unless the org trusts this IP address"
		default:
			return "the app's run-as user cannot log in: check that the user is active and has API access, and that the app's client credentials flow names it"
		}
	}
	return ""
}

// ValidateLoginURL refuses a login URL that cannot work with the flow, so that config load says what to fix
// instead of the first run failing with a rejected credential: the client credentials flow (flow "" is its
// default) is served only by the org's My Domain, never by login.salesforce.com or test.salesforce.com.
func ValidateLoginURL(flow, loginURL string) error {
	if flow != FlowClientCredentials && flow != "" {
		return nil
	}
	u, err := url.Parse(strings.TrimSpace(loginURL))
	if err != nil {
		return errors.New("SF_LOGIN_URL is not a URL: the client_credentials flow needs the org's My Domain, " + myDomainForm)
	}
	switch strings.TrimSuffix(strings.ToLower(u.Hostname()), ".") {
	case "login.salesforce.com", "test.salesforce.com":
		return fmt.Errorf("SF_LOGIN_URL %s cannot issue tokens for the client_credentials flow: set it to the org's My Domain, %s (Setup, My Domain, shows NAME)",
			u.Scheme+"://"+u.Host, myDomainForm)
	}
	return nil
}

// assertion builds the RS256 JWT of the bearer flow: iss = client id, sub = username, aud = the
// authorization server (see jwtAudience), exp two minutes ahead (Salesforce accepts at most three).
func (c *Client) assertion() (string, error) {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"iss": c.o.ClientID, "sub": c.o.Username, "aud": jwtAudience(c.loginURL),
		"exp": c.o.Clock.Now().Add(2 * time.Minute).Unix(),
	})
	signing := enc.EncodeToString(hdr) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("salesforce login: signing the JWT: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// jwtAudience is the aud claim Salesforce accepts: https://login.salesforce.com for a production org and
// https://test.salesforce.com for a sandbox, whichever host the assertion is posted to. A My Domain URL
// (NAME.my.salesforce.com), where the token is requested, is refused as aud with "audience is invalid";
// the Salesforce CLI and simple-salesforce pick the audience the same way.
func jwtAudience(loginURL string) string {
	u, err := url.Parse(loginURL)
	if err != nil {
		return "https://login.salesforce.com"
	}
	host := strings.ToLower(u.Hostname())
	if host == "test.salesforce.com" || strings.HasSuffix(host, ".sandbox.my.salesforce.com") {
		return "https://test.salesforce.com"
	}
	return "https://login.salesforce.com"
}

// parseKey reads a PEM RSA private key, PKCS#1 or PKCS#8. Its errors never quote the key.
func parseKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	if len(pemBytes) == 0 {
		return nil, errors.New("a PEM RSA private key is required for the jwt flow")
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key (PKCS#1 or PKCS#8)")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the key is not an RSA key")
	}
	return rk, nil
}

// salesforceDomains are the domains Salesforce serves orgs from; an instance_url elsewhere is refused unless
// Options.AllowedInstanceHosts admits it.
var salesforceDomains = []string{".salesforce.com", ".force.com", ".salesforce.mil", ".cloudforce.com"}

// checkInstanceHost accepts the token answer's instance_url only on a Salesforce domain, the login host
// itself, a loopback host (the emulator, tests) or a host the operator allowed: a login answer pointing
// anywhere else would otherwise receive the access token with the first call.
func (c *Client) checkInstanceHost(instanceURL string) error {
	u, err := url.Parse(instanceURL)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	login, _ := url.Parse(c.loginURL)
	switch {
	case host == "":
		return errors.New("the URL has no host")
	case transport.IsLoopback(host), login != nil && host == strings.ToLower(login.Hostname()):
		return nil
	}
	for _, d := range append(append([]string(nil), salesforceDomains...), c.instanceHosts...) {
		if strings.HasPrefix(d, ".") && strings.HasSuffix(host, d) || host == d {
			return nil
		}
	}
	return fmt.Errorf("refusing host %s: not a Salesforce domain (%s), the login host or loopback; "+
		"an unusual setup can allow it with the allowed instance hosts setting", host, strings.Join(salesforceDomains, ", "))
}

// instanceHostEntry is one AllowedInstanceHosts entry: a host name, or a ".suffix" that admits its subdomains.
var instanceHostEntry = regexp.MustCompile(`^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
