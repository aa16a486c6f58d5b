package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A secret file that others, or a group not the process's own, can read draws a warning naming the variable
// and the file, as ssh does for a private key; an owner-only file draws none, and neither does a file its
// own group may read (Kubernetes' 0440 with the pod's fsGroup, systemd's LoadCredential).
func TestOpenSecretFilesWarn(t *testing.T) {
	t.Parallel()
	foreign := os.Getegid() + 4242 // a group the process is not in
	for _, v := range []string{"PROFF_API_TOKEN_FILE", "SF_CLIENT_SECRET_FILE", "SF_PASSWORD_FILE", "DATABASE_URL_FILE", "SF_JWT_KEY_FILE"} {
		for _, mode := range []os.FileMode{0o644, 0o640, 0o440, 0o604, 0o600, 0o400} {
			for _, gid := range []int{os.Getegid(), foreign} {
				dir := t.TempDir()
				path := filepath.Join(dir, "secret")
				content := "a-secret-value-1234"
				if v == "DATABASE_URL_FILE" {
					content = "postgres://postgres@127.0.0.1/x"
				}
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, mode); err != nil { // past the umask
					t.Fatal(err)
				}
				if err := os.Chown(path, -1, gid); err != nil {
					if gid == foreign {
						continue // not root: no foreign group to hand the file to; TestTooOpen covers the rule
					}
					t.Fatal(err)
				}
				e, err := LoadEnv(env(map[string]string{v: path}))
				if err != nil {
					t.Fatalf("%s: %v", v, err)
				}
				warned := strings.Join(e.Warnings, "\n")
				open := mode&0o007 != 0 || mode&0o070 != 0 && gid == foreign
				if open && (!strings.Contains(warned, path) || !strings.Contains(warned, v)) {
					t.Errorf("%s at %04o, group %d: warnings %q do not name %s and %s", v, mode, gid, e.Warnings, v, path)
				}
				if !open && warned != "" {
					t.Errorf("%s at %04o, group %d: unexpected warnings %q", v, mode, gid, e.Warnings)
				}
				if strings.Contains(warned, content) {
					t.Errorf("a warning shows the secret: %q", warned)
				}
			}
		}
	}
}

func TestTooOpen(t *testing.T) {
	t.Parallel()
	const own, other = 1000, 2000
	for _, c := range []struct {
		perm os.FileMode
		gid  int
		want bool
	}{
		{0o600, own, false}, {0o400, other, false},
		{0o440, own, false}, {0o640, own, false}, {0o660, own, false}, // the process's own group
		{0o440, other, true}, {0o640, other, true}, {0o640, -1, true}, // another group, or one not known
		{0o604, own, true}, {0o644, own, true}, {0o602, own, true}, // others
	} {
		if got := tooOpen(c.perm, c.gid, own); got != c.want {
			t.Errorf("tooOpen(%04o, gid %d) = %v, want %v", c.perm, c.gid, got, c.want)
		}
	}
}

// A database that is not on this host must be reached with verified TLS; anything less draws a warning.
func TestDatabaseTLSWarning(t *testing.T) {
	t.Parallel()
	for dsn, warn := range map[string]bool{
		"postgres://postgres@127.0.0.1:5432/p?sslmode=disable":              false,
		"postgres://postgres@localhost/p":                                   false,
		"postgres://postgres@[::1]:5432/p?sslmode=disable":                  false,
		"host=/var/run/postgresql dbname=p":                                 false,
		"postgres://app@db.example.com/p?sslmode=verify-full":               false,
		"postgres://app@db.example.com/p?sslmode=verify-ca":                 false,
		"host=db.example.com sslmode=verify-full dbname=p":                  false,
		"postgres://app@db.example.com/p?sslmode=require":                   true,
		"postgres://app@db.example.com/p?sslmode=disable":                   true,
		"postgres://app@db.example.com/p":                                   true, // prefer: falls back to plain text
		"postgres://app@10.0.0.5:5432/p?sslmode=prefer":                     true,
		"postgres://app@db.example.com/p?ssl=true":                          true, // require
		"postgres://app@127.0.0.1,db.example.com/p?sslmode=require":         true, // the second host is remote
		"host=db.example.com sslmode=allow password=PGPASS-kv-secret-99999": true,
	} {
		w := DatabaseTLSWarning(dsn)
		if (w != "") != warn {
			t.Errorf("DatabaseTLSWarning(%q) = %q, want a warning: %v", dsn, w, warn)
		}
		if w != "" && (!strings.Contains(w, "sslmode=verify-full") || strings.Contains(w, "PGPASS")) {
			t.Errorf("warning %q does not say what to set, or shows the password", w)
		}
	}
	// LoadEnv carries it, so that check prints it and every command logs it.
	e, err := LoadEnv(env(map[string]string{"DATABASE_URL": "postgres://app@db.example.com/p?sslmode=require"}))
	if err != nil || len(e.Warnings) != 1 || !strings.Contains(e.Warnings[0], "db.example.com") {
		t.Errorf("LoadEnv: %v, warnings %q", err, e.Warnings)
	}
	if e, _ := LoadEnv(env(nil)); len(e.Warnings) != 0 {
		t.Errorf("the default local database draws warnings: %q", e.Warnings)
	}
}

func TestInstanceHosts(t *testing.T) {
	t.Parallel()
	e, err := LoadEnv(env(map[string]string{"SF_INSTANCE_HOSTS": " SF.Proxy.Example.com, .corp.example.net ,"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.SFInstanceHosts, ","); got != "sf.proxy.example.com,.corp.example.net" {
		t.Errorf("SFInstanceHosts = %q", got)
	}
	if !strings.Contains(rows(e), "SF_INSTANCE_HOSTS=sf.proxy.example.com,.corp.example.net") {
		t.Errorf("Describe lacks SF_INSTANCE_HOSTS:\n%s", rows(e))
	}
	for _, bad := range []string{"https://sf.example.com", "sf.example.com:443", "*.example.com", "sf.example.com/x", ".com", ".", "a b.example.com", "user@sf.example.com"} {
		_, err := LoadEnv(env(map[string]string{"SF_INSTANCE_HOSTS": "ok.example.com," + bad}))
		if !IsError(err) || !strings.Contains(err.Error(), "SF_INSTANCE_HOSTS") {
			t.Errorf("SF_INSTANCE_HOSTS=%q: err = %v, want a config error naming the variable", bad, err)
		}
	}
}

func rows(e Env) string {
	var b strings.Builder
	for _, r := range e.Describe() {
		b.WriteString(r[0] + "=" + r[1] + "\n")
	}
	return b.String()
}
