package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// check and migrate print DATABASE_URL, and their errors may quote it: a password or sslpassword in the
// query, the userinfo or the keyword/value form never reaches stdout or stderr, on success or failure.
func TestCheckAndMigrateNeverPrintDatabaseSecrets(t *testing.T) {
	t.Parallel()
	const (
		userPW  = "PGUSERPW-recognisable-1a2b"
		queryPW = "PGQUERYPW-recognisable-3c4d"
		sslPW   = "PGSSLPW-recognisable-5e6f"
	)
	secrets := []string{userPW, queryPW, sslPW}
	sb := sandbox.Start(sandbox.Options{Companies: 8})
	t.Cleanup(sb.Close)
	cfg := writeFile(t, "proffsync.yaml", sandbox.DemoConfig)
	base := storetest.MissingURL(t) // migrate creates it
	forms := map[string]string{
		"query":    base + "&password=" + queryPW + "&sslpassword=" + sslPW,
		"userinfo": strings.Replace(base, "postgres@", "postgres:"+userPW+"@", 1) + "&sslpassword=" + sslPW,
		"keyword":  "host=127.0.0.1 port=5432 user=postgres dbname=proffsync sslmode=disable password=" + queryPW + " sslpassword=" + sslPW,
		"unreachable": strings.Replace(base, "127.0.0.1:5432", "127.0.0.1:1", 1) + "&password=" + queryPW +
			"&sslpassword=" + sslPW,
	}
	for name, dsn := range forms {
		env := sb.Env(dsn)
		env["PROFFSYNC_CONFIG"] = cfg
		for _, args := range [][]string{{"migrate"}, {"check", "--offline"}, {"check"}} {
			r := proffsync(t, env, append(args, "--log-level", "debug")...)
			if name == "query" || name == "userinfo" {
				if r.code != 0 {
					t.Errorf("%s %v: %+v", name, args, r)
				}
				if args[0] == "check" && !strings.Contains(r.stdout, "DATABASE_URL") {
					t.Errorf("%s %v does not show DATABASE_URL:\n%s", name, args, r.stdout)
				}
			}
			for _, s := range secrets {
				if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
					t.Errorf("%s %v printed %q:\nstdout %s\nstderr %s", name, args, s, r.stdout, r.stderr)
				}
			}
		}
	}
}

// A secret file that others can read is named in a warning, by check and in the log; an owner-only one is not.
func TestOpenSecretFileIsNamed(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o644, 0o600} {
		path := filepath.Join(t.TempDir(), "proff-token")
		if err := os.WriteFile(path, []byte("PROFFTOKEN-in-a-file-8a9b"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"PROFF_API_TOKEN_FILE": path, "PROFFSYNC_CONFIG": writeFile(t, "p.yaml", sandbox.DemoConfig),
			"SF_LOGIN_URL": "https://x.my.salesforce.com", "SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret-1234567890"}
		r := proffsync(t, env, "check", "--offline", "--log-format", "json")
		if r.code != 0 {
			t.Fatalf("check: %+v", r)
		}
		printed := strings.Contains(r.stdout, "warning") && strings.Contains(r.stdout, path)
		logged := strings.Contains(r.stderr, `"level":"WARN"`) && strings.Contains(r.stderr, path)
		if open := mode == 0o644; printed != open || logged != open {
			t.Errorf("mode %04o: check warned %v, log warned %v; want %v\nstdout %s\nstderr %s", mode, printed, logged, open, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "PROFFTOKEN-in-a-file") {
			t.Errorf("the token was printed")
		}
	}
}

// check says so when a remote database is reached without verified TLS, and the log says it at the start
// of every command; a local database or sslmode=verify-full draws nothing.
func TestCheckWarnsOfUnverifiedDatabaseTLS(t *testing.T) {
	t.Parallel()
	cfg := writeFile(t, "p.yaml", sandbox.DemoConfig)
	for dsn, warn := range map[string]bool{
		"postgres://postgres@127.0.0.1:5432/p?sslmode=disable":   false,
		"postgres://app@db.example.com/p?sslmode=require":        true,
		"postgres://app@db.example.com/p?sslmode=verify-full":    false,
		"postgres://app@db.example.com:5432/p?sslmode=verify-ca": false,
	} {
		env := map[string]string{"DATABASE_URL": dsn, "PROFFSYNC_CONFIG": cfg, "PROFF_API_TOKEN": "t-1234567890abc",
			"SF_LOGIN_URL": "https://x.my.salesforce.com", "SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret-1234567890"}
		r := proffsync(t, env, "check", "--offline", "--log-format", "json")
		if r.code != 0 {
			t.Fatalf("check: %+v", r)
		}
		printed := strings.Contains(r.stdout, "warning") && strings.Contains(r.stdout, "verify-full")
		logged := strings.Contains(r.stderr, `"level":"WARN"`) && strings.Contains(r.stderr, "verify-full")
		if printed != warn || logged != warn {
			t.Errorf("%s: check warned %v, log warned %v; want %v\nstdout %s\nstderr %s", dsn, printed, logged, warn, r.stdout, r.stderr)
		}
	}
}

// SF_INSTANCE_HOSTS reaches the Salesforce adapter: a token answer pointing at a host outside Salesforce's
// domains is refused at login, unless the operator listed that host.
func TestInstanceHostsReachTheSalesforceAdapter(t *testing.T) {
	t.Parallel()
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"00Dx!token-for-the-test","instance_url":"https://sf.proxy.example.net","token_type":"Bearer","issued_at":"1"}`)
	}))
	t.Cleanup(login.Close)
	for _, allowed := range []string{"", "sf.proxy.example.net", ".example.net"} {
		env := map[string]string{"PROFFSYNC_CONFIG": writeFile(t, "p.yaml", sandbox.DemoConfig), "SF_LOGIN_URL": login.URL,
			"SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret-1234567890", "SF_INSTANCE_HOSTS": allowed}
		a := testApp(io.Discard)
		a.getenv = func(k string) string { return env[k] }
		cfg, err := a.loadConfig()
		if err != nil {
			t.Fatal(err)
		}
		sf, err := a.newSalesforce(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Login checks the instance it is sent to and calls nothing there.
		err = sf.Login(context.Background())
		if (err != nil) != (allowed == "") {
			t.Errorf("SF_INSTANCE_HOSTS=%q: login error %v; want the instance refused: %v", allowed, err, allowed == "")
		}
	}
}
