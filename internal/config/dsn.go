package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/proffconnect/proffsync/internal/secret"
	"github.com/proffconnect/proffsync/internal/transport"
)

// A PostgreSQL connection string can carry a secret in three places, all of which pgx accepts: the password
// of the URL's userinfo, a password or sslpassword query parameter, and a password or sslpassword keyword of
// the keyword/value form. The functions here find each of them the way pgx's parser does (pgconn's
// parse_url.go and parseKeywordValueSettings, which follow libpq), so that what pgx would send as a
// password is exactly what is masked and scrubbed. Where a string is too malformed to say where its secrets
// are, it is masked whole.

// dsnPart is one value of a connection string: its canonical key, its decoded value and where its raw text
// sits in the string.
type dsnPart struct {
	key        string
	value      string
	start, end int // raw text of the value: dsn[start:end]
}

func isSecretKey(k string) bool { return k == "password" || k == "sslpassword" }

var errAmbiguousDSN = errors.New("connection string too malformed to locate its secrets")

// parseDSN splits a connection string, URL or keyword/value, into its parts.
func parseDSN(dsn string) ([]dsnPart, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return parseDSNURL(dsn)
	}
	return parseDSNKeywords(dsn)
}

// parseDSNURL follows pgconn's parseURLSettings: the userinfo ends at the first '@' met before any '/', its
// password is everything after the first ':'; the query is '&'-separated key=value pairs, percent-decoded.
func parseDSNURL(dsn string) ([]dsnPart, error) {
	off := strings.Index(dsn, "://") + 3
	p := dsn[off:]
	var parts []dsnPart
	if i := strings.IndexAny(p, "@/"); i >= 0 && p[i] == '@' {
		if c := strings.IndexByte(p[:i], ':'); c >= 0 {
			v, err := uriDecode(p[c+1 : i])
			if err != nil {
				return nil, err
			}
			parts = append(parts, dsnPart{key: "password", value: v, start: off + c + 1, end: off + i})
		}
		off += i + 1
		p = p[i+1:]
	}
	// An '@' after the userinfo means a password with an unencoded '/' or '@' that pgx may read as host, port,
	// path or query (postgres://u:pa/ss@h): nothing says where that secret ends.
	if strings.IndexByte(p, '@') >= 0 {
		return nil, errAmbiguousDSN
	}
	q := queryStart(p)
	if q < 0 {
		return parts, nil
	}
	pos := off + q + 1
	for _, pair := range strings.Split(p[q+1:], "&") {
		rawKey, rawVal, ok := strings.Cut(pair, "=")
		if !ok || strings.IndexByte(rawVal, '=') >= 0 {
			return nil, errAmbiguousDSN // pgx refuses it too
		}
		key, err := uriDecode(rawKey)
		if err != nil {
			return nil, err
		}
		val, err := uriDecode(rawVal)
		if err != nil {
			return nil, err
		}
		start := pos + len(rawKey) + 1
		parts = append(parts, dsnPart{key: canonicalKey(key), value: val, start: start, end: start + len(rawVal)})
		pos += len(pair) + 1
	}
	return parts, nil
}

// queryStart finds the '?' that starts the query of the part after the userinfo, skipping bracketed IPv6
// hosts, which may hold a '?' of their own.
func queryStart(p string) int {
	inBracket := false
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '[':
			inBracket = true
		case ']':
			inBracket = false
		case '?':
			if !inBracket {
				return i
			}
		}
	}
	return -1
}

// uriDecode is libpq's conninfo_uri_decode: %XX with two hex digits (not %00), surrounding spaces skipped,
// inner spaces refused.
func uriDecode(raw string) (string, error) {
	s := strings.Trim(raw, " ")
	if strings.IndexByte(s, ' ') >= 0 {
		return "", errAmbiguousDSN
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) || s[i+1] == '0' && s[i+2] == '0' {
			return "", errAmbiguousDSN
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

func canonicalKey(k string) string {
	if k == "dbname" {
		return "database"
	}
	return k
}

const dsnSpace = " \t\n\r\v\f"

// parseDSNKeywords follows pgconn's parseKeywordValueSettings: key = value pairs separated by white space,
// a value either bare (a backslash escapes the next character) or in single quotes.
func parseDSNKeywords(dsn string) ([]dsnPart, error) {
	if strings.IndexByte(dsn, 0) >= 0 {
		return nil, errAmbiguousDSN
	}
	var parts []dsnPart
	i := skipSpace(dsn, 0)
	for i < len(dsn) {
		eq := strings.IndexByte(dsn[i:], '=')
		if eq < 0 {
			return nil, errAmbiguousDSN
		}
		key := strings.Trim(dsn[i:i+eq], dsnSpace)
		if key == "" || strings.ContainsAny(key, dsnSpace) {
			return nil, errAmbiguousDSN
		}
		i = skipSpace(dsn, i+eq+1)
		start, end := i, i
		switch {
		case i == len(dsn):
		case dsn[i] != '\'':
			for end < len(dsn) && !strings.ContainsRune(dsnSpace, rune(dsn[end])) {
				if dsn[end] == '\\' {
					end++
				}
				end++
			}
			end = min(end, len(dsn))
			i = end
		default:
			start++
			end = start
			for end < len(dsn) && dsn[end] != '\'' {
				if dsn[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(dsn) {
				return nil, errAmbiguousDSN // unterminated quote
			}
			i = end + 1
		}
		parts = append(parts, dsnPart{key: canonicalKey(key), value: unescape(dsn[start:end]), start: start, end: end})
		i = skipSpace(dsn, i)
	}
	return parts, nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(dsnSpace, rune(s[i])) {
		i++
	}
	return i
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// DatabaseSecrets returns every secret a DATABASE_URL carries, for scrubbing: each password and sslpassword
// as pgx reads it and as it is written in the string (percent-encoded or escaped), and the password pgx
// would use (which may also come from PGPASSWORD or a .pgpass file).
func DatabaseSecrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	if parts, err := parseDSN(dsn); err == nil {
		for _, p := range parts {
			if isSecretKey(p.key) {
				add(p.value)
				add(dsn[p.start:p.end])
				add(url.QueryEscape(p.value))
				add(url.PathEscape(p.value))
			}
		}
	}
	if c, err := pgconn.ParseConfig(dsn); err == nil {
		add(c.Password)
	}
	// A string that is no PostgreSQL URL at all (mysql://user:pw@…, refused by LoadEnv) may still carry a
	// password that an error could quote.
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
		}
	}
	return out
}

// MaskDatabaseURL shows a PostgreSQL connection string with every password and sslpassword masked, in
// whichever form it is written; a string too malformed to tell where its secrets are is masked whole.
func MaskDatabaseURL(dsn string) string {
	parts, err := parseDSN(dsn)
	if err != nil {
		return "****"
	}
	var b strings.Builder
	last := 0
	for _, p := range parts {
		if !isSecretKey(p.key) {
			continue
		}
		b.WriteString(dsn[last:p.start])
		b.WriteString(secret.Mask(p.value))
		last = p.end
	}
	b.WriteString(dsn[last:])
	return b.String()
}

// DatabaseTLSWarning says why the connection to a database that is not on this host is not protected by
// verified TLS, or "" when it is (sslmode=verify-full or verify-ca, or require with a root certificate,
// which libpq and pgx treat as verify-ca) or the database is local (loopback or a Unix socket). Without
// verification, whoever sits between proffsync and the server can read the runs and the password.
func DatabaseTLSWarning(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "" // connecting reports it
	}
	fallbacks := append([]*pgconn.FallbackConfig{{Host: c.Host, Port: c.Port, TLSConfig: c.TLSConfig}}, c.Fallbacks...)
	for _, f := range fallbacks {
		if strings.HasPrefix(f.Host, "/") || transport.IsLoopback(f.Host) {
			continue
		}
		t := f.TLSConfig
		if t == nil || t.InsecureSkipVerify && t.VerifyPeerCertificate == nil {
			return fmt.Sprintf("DATABASE_URL: the connection to %s is not verified TLS: set sslmode=verify-full "+
				"(with sslrootcert naming the server's CA) so that no one between here and the database can read it", f.Host)
		}
	}
	return ""
}
