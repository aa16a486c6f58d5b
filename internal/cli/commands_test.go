package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/sandbox"
)

// check --json prints the checks, and nothing else, as a JSON array of {name, status, detail}.
func TestCheckJSON(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROFFSYNC_CONFIG": writeFile(t, "p.yaml", sandbox.DemoConfig), "PROFF_API_TOKEN": "token-0987654321",
		"SF_LOGIN_URL": "https://x.my.salesforce.com", "SF_CLIENT_ID": "id", "SF_CLIENT_SECRET": "secret-1234567890",
		"DATABASE_URL": "postgres://app@db.example.com/p?sslmode=require"} // draws a warning
	r := proffsync(t, env, "check", "--offline", "--json", "--log-format", "json")
	if r.code != ExitOK {
		t.Fatalf("check --offline --json: %+v", r)
	}
	var got []checkResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not a JSON array of checks: %v\n%s", err, r.stdout)
	}
	status := map[string]string{}
	for _, c := range got {
		status[c.Name] = c.Status
		if c.Detail == "" {
			t.Errorf("check %q has no detail", c.Name)
		}
	}
	want := map[string]string{"config": "ok", "environment": "warning", "postgresql": "skipped", "salesforce": "skipped", "proff": "skipped"}
	for name, s := range want {
		if status[name] != s {
			t.Errorf("check %q: status %q, want %q (all: %+v)", name, status[name], s, got)
		}
	}
	if strings.Contains(r.stdout, "secret-1234567890") {
		t.Error("the JSON report shows a secret")
	}

	// Without credentials: the failed checks are in the array, and the exit code is still 78.
	delete(env, "SF_CLIENT_SECRET")
	r = proffsync(t, env, "check", "--offline", "--json")
	got = nil
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != ExitConfig {
		t.Fatalf("check --json without credentials: code %d, %v\n%s", r.code, err, r.stdout)
	}
	failed := false
	for _, c := range got {
		failed = failed || c.Name == "credentials" && c.Status == "failed" && strings.Contains(c.Detail, "SF_CLIENT_SECRET")
	}
	if !failed {
		t.Errorf("no failed credentials check: %+v", got)
	}
}

// The last line on stderr quotes what went wrong; what it quotes may come from outside (here a path), and
// must reach the terminal escaped.
func TestFinalErrorLineIsEscaped(t *testing.T) {
	t.Parallel()
	r := proffsync(t, nil, "check", "--offline", "--config", "/nonexistent/\x1b]0;owned\x07\x1b[2J.yaml")
	if r.code != ExitConfig {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	if strings.ContainsAny(r.stderr, "\x1b\x07") {
		t.Errorf("stderr carries raw control characters: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, `\x1b]0;owned\x07`) {
		t.Errorf("stderr does not show the path escaped: %q", r.stderr)
	}
}

// A failing check quotes the service's answer (here PostgreSQL naming the role it does not know): escaped.
func TestCheckFailLinesAreEscaped(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PROFFSYNC_CONFIG": writeFile(t, "p.yaml", sandbox.DemoConfig),
		"DATABASE_URL": "postgres://evil%1B%5B31mrole@127.0.0.1:5432/postgres?sslmode=disable"}
	for _, args := range [][]string{{"check"}, {"check", "--json"}} {
		r := proffsync(t, env, args...)
		if r.code != ExitConfig { // no credentials: what run would refuse with 78
			t.Fatalf("%v: code %d, %+v", args, r.code, r)
		}
		if strings.Contains(r.stdout+r.stderr, "\x1b") {
			t.Errorf("%v: raw ESC in the output:\nstdout %q\nstderr %q", args, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, `evil\x1b[31mrole`) && !strings.Contains(r.stdout, `evil\\x1b[31mrole`) { // JSON doubles \
			t.Errorf("%v: the failed check does not quote the role escaped:\n%s", args, r.stdout)
		}
	}
}

// tint writes values and the message as they are, colour on or off: the text handler escapes them.
func TestTextLogIsEscaped(t *testing.T) {
	t.Parallel()
	for _, color := range []bool{true, false} {
		var buf bytes.Buffer
		log := slog.New(newTextHandler(&buf, slog.LevelInfo, color))
		log.Info("message \x1b]52;c;AAAA\x07", slog.String("reason", "bad \x1b[2J value"),
			slog.Any("error", errors.New("quoted \u009b31m answer")), slog.String("literal", `C:\x1b[2J`), slog.Int("n", 3))
		out := buf.String()
		for _, raw := range []string{"\x1b]52", "\x1b[2J", "\x07", "\u009b"} {
			if strings.Contains(out, raw) {
				t.Errorf("colour %v: %q reached the log raw: %q", color, raw, out)
			}
		}
		for _, esc := range []string{`\x1B]52;c;AAAA\x07`, `\x1B[2J value`, `\u009b31m answer`} {
			if !strings.Contains(strings.ReplaceAll(out, `\\`, `\`), esc) { // quoted values double the backslash
				t.Errorf("colour %v: log lacks %q: %q", color, esc, out)
			}
		}
	}
}

// Every log line written with a run's context carries its run_id, whichever handler the format picks.
func TestLoggerCarriesTheRunID(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := newLogger(&buf, format, slog.LevelInfo)
		log.InfoContext(runctx.WithRunID(context.Background(), "run-77"), "adapter line")
		if !strings.Contains(buf.String(), "run-77") || !strings.Contains(buf.String(), "run_id") {
			t.Errorf("%s: the line lacks run_id: %q", format, buf.String())
		}
	}
}

func TestRunExitCode(t *testing.T) {
	t.Parallel()
	locked := &massupdate.LockedError{RunID: "r-1"}
	for _, c := range []struct {
		run  *massupdate.Run
		err  error
		want int
	}{
		{nil, nil, ExitOK},
		{nil, locked, ExitLocked},
		{nil, errors.New("take the run lock: db down"), ExitFailed},
		{&massupdate.Run{Status: massupdate.Succeeded}, nil, ExitOK},
		{&massupdate.Run{Status: massupdate.Partial}, nil, ExitPartial},
		{&massupdate.Run{Status: massupdate.Interrupted}, context.Canceled, ExitInterrupted},
		{&massupdate.Run{Status: massupdate.StatusFail}, errors.New("x"), ExitFailed},
	} {
		if got := runExitCode(c.run, c.err); got != c.want {
			t.Errorf("runExitCode(%+v, %v) = %d, want %d", c.run, c.err, got, c.want)
		}
	}
}
