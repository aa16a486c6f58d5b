package config

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/proffconnect/proffsync/internal/secret"
)

// Every form in which pgx accepts a database password or an sslpassword: the mask hides each of them, the
// scrub list holds each of them (decoded and as written), and the password found is the one pgx reads.
func TestDatabaseURLSecretsInEveryForm(t *testing.T) {
	t.Parallel()
	const (
		pw    = "PGPASS-userinfo-4711"
		qpw   = "PGPASS-query-8822"
		sslpw = "SSLPASS-query-9933"
	)
	cases := []struct {
		name, dsn string
		secrets   []string // decoded values; the first is the password pgx must read ("" when none)
		raw       []string // as written in the string, when it differs
		shown     string   // what must stay visible
	}{
		{"userinfo", "postgres://app:" + pw + "@db.example:5432/proffsync", []string{pw}, nil, "postgres://app:****4711@db.example:5432/proffsync"},
		{"userinfo percent-encoded", "postgresql://app:p%40ss%2Fword%3Along-1234@db.example/p", []string{"p@ss/word:long-1234"}, []string{"p%40ss%2Fword%3Along-1234"}, "db.example/p"},
		{"query password", "postgres://app@db.example/p?sslmode=verify-full&password=" + qpw, []string{qpw}, nil, "sslmode=verify-full&password=****8822"},
		{"query sslpassword", "postgres://app:" + pw + "@db.example/p?sslpassword=" + sslpw + "&application_name=x", []string{pw, sslpw}, nil, "application_name=x"},
		{"percent-encoded query key", "postgres://db.example/p?pass%77ord=" + qpw + "&ssl%70assword=" + sslpw, []string{qpw, sslpw}, nil, "db.example/p?"},
		{"query password wins over userinfo", "postgres://app:" + pw + "@db.example/p?password=" + qpw, []string{qpw, pw}, nil, "db.example"},
		{"keyword/value", "host=db.example user=app password=" + qpw + " sslpassword=" + sslpw + " dbname=p", []string{qpw, sslpw}, nil, "host=db.example user=app password=****8822"},
		{"keyword/value quoted and escaped", `host=db.example password = 'it\'s a long secret' sslpassword=back\ slash-secret`, []string{`it's a long secret`, `back slash-secret`}, []string{`it\'s a long secret`, `back\ slash-secret`}, "host=db.example"},
		{"not a PostgreSQL URL", "mysql://root:" + pw + "@db.example/x", []string{pw}, nil, ""},
		{"malformed: password with an unencoded slash", "postgres://app:SECRETPART1/SECRETPART2@db.example/p", nil, []string{"SECRETPART1", "SECRETPART2"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			masked := MaskDatabaseURL(tc.dsn)
			got := DatabaseSecrets(tc.dsn)
			for _, s := range append(append([]string(nil), tc.secrets...), tc.raw...) {
				if strings.Contains(masked, s) {
					t.Errorf("MaskDatabaseURL(%q) = %q shows %q", tc.dsn, masked, s)
				}
				if scrubbed := secret.Scrub(tc.dsn, got); len(tc.secrets) > 0 && strings.Contains(scrubbed, s) {
					t.Errorf("scrubbing with %q leaves %q in %q", got, s, scrubbed)
				}
			}
			for _, s := range append(append([]string(nil), tc.secrets...), tc.raw...) {
				if len(tc.secrets) > 0 && !contains(got, s) {
					t.Errorf("DatabaseSecrets(%q) = %q lacks %q", tc.dsn, got, s)
				}
			}
			if !strings.Contains(masked, tc.shown) {
				t.Errorf("MaskDatabaseURL(%q) = %q, want it to show %q", tc.dsn, masked, tc.shown)
			}
			// The password found is the one pgx itself reads from the string.
			if c, err := pgconn.ParseConfig(tc.dsn); err == nil && c.Password != "" && len(tc.secrets) > 0 && c.Password != tc.secrets[0] {
				t.Errorf("pgx reads the password %q, the table says %q", c.Password, tc.secrets[0])
			}
		})
	}
}

// check and migrate print DATABASE_URL through Describe: it must hide a query password as well as the
// userinfo one.
func TestDescribeMasksEveryDatabaseSecret(t *testing.T) {
	t.Parallel()
	e, err := LoadEnv(env(map[string]string{"DATABASE_URL": "postgres://app@db.example/p?password=PGPASS-query-8822&sslpassword=SSLPASS-query-9933"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range e.Describe() {
		if strings.Contains(row[1], "PGPASS-query") || strings.Contains(row[1], "SSLPASS-query") {
			t.Errorf("%s shows a secret: %s", row[0], row[1])
		}
	}
	if s := e.Secrets(); !contains(s, "PGPASS-query-8822") || !contains(s, "SSLPASS-query-9933") {
		t.Errorf("Secrets() = %q", s)
	}
}
