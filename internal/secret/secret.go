// Package secret is where proffsync hides credentials from what it prints, logs and stores: Mask shows a
// secret as its last four characters, Scrub removes every known secret and anything shaped like a
// credential from a text (README: Privacy guarantees, P1).
//
// It knows nothing of HTTP, SQL or the config: callers hand it the secrets they hold. What must never
// happen here: a function that returns more of a secret than Mask's last four characters.
package secret

import (
	"regexp"
	"strings"
)

// MinLen is the shortest secret Scrub replaces: a shorter one would turn ordinary words into ****.
const MinLen = 4

// credentialPatterns find credentials that no list names: a token after an auth scheme, and the value of
// the keys OAuth and our adapters put credentials under.
var credentialPatterns = []*regexp.Regexp{
	// "Token <credential>": only a value long enough to be a credential, so "token information" survives.
	regexp.MustCompile(`(?i)\b(token|bearer|basic)(\s+)[A-Za-z0-9._~+/=!:-]{16,}`),
	regexp.MustCompile(`(?i)("?(?:access_token|refresh_token|tokenString|client_secret|password|assertion)"?\s*[:=]\s*"?)[^"&\s,}]+`),
}

// Scrub removes every secret (of MinLen characters or more) and anything that looks like a credential
// from s.
func Scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= MinLen {
			s = strings.ReplaceAll(s, sec, "****")
		}
	}
	s = credentialPatterns[0].ReplaceAllString(s, "$1$2****")
	s = credentialPatterns[1].ReplaceAllString(s, "$1****")
	return s
}

// Mask shows a secret as **** and its last four characters (all of it hidden when it is short).
func Mask(secret string) string {
	if secret == "" {
		return "(not set)"
	}
	if len(secret) < 12 {
		return "****"
	}
	return "****" + secret[len(secret)-4:]
}
