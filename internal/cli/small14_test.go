package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// `version` and `--version` print the version, the revision and time it was built from, and Go's version.
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := proffsync(t, nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "proffsync ") || !strings.Contains(r.stdout, "  revision  ") ||
			!strings.Contains(r.stdout, "  go        "+runtime.Version()) {
			t.Errorf("%v: %+v", args, r)
		}
	}
	var buf bytes.Buffer
	printVersion(&buf, build{version: "v1.4.0", revision: "0123abcd", time: "2026-11-30T09:00:00Z", modified: true, goVersion: "go1.26.0"})
	want := "proffsync v1.4.0\n  revision  0123abcd (with uncommitted changes)\n  built     2026-11-30T09:00:00Z\n  go        go1.26.0\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// sandbox creates the --dir it is given and ends what it prints with a ready line a script can wait for.
func TestSandboxCreatesItsDirAndSaysReady(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "sandbox")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // print, then stop at once
	r := proffsyncCtx(t, ctx, nil, "sandbox", "--companies", "3", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("sandbox: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "proffsync.yaml")); err != nil {
		t.Errorf("the config is not in --dir: %v", err)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "# ready: Salesforce at http://127.0.0.1:") || !strings.Contains(last, filepath.Join(dir, "proffsync.yaml")) {
		t.Errorf("the last line is not the ready line: %q", last)
	}
	if !strings.Contains(r.stdout, "# control: POST http://127.0.0.1:") {
		t.Errorf("no control line:\n%s", r.stdout)
	}

	// --countries sets the country mix; a share that is not one is a usage error.
	if r := proffsyncCtx(t, ctx, nil, "sandbox", "--companies", "3", "--countries", "NO=50,SE=50"); r.code != 0 {
		t.Errorf("--countries NO=50,SE=50: %+v", r)
	}
	if r := proffsyncCtx(t, ctx, nil, "sandbox", "--countries", "DE=100"); r.code != ExitUsage || !strings.Contains(r.stderr, "--countries") {
		t.Errorf("--countries DE=100: %+v", r)
	}
}

// Log lines are in UTC whatever the host's zone, with floats and durations rounded, in both formats.
func TestLogLinesUTCAndRounded(t *testing.T) {
	t.Parallel()
	oslo, err := time.LoadLocation("Europe/Oslo")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 4, 0, 0, 0, oslo) // 02:00 UTC
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := newLogger(&buf, format, slog.LevelInfo)
		log.Info("line", slog.Float64("duration_ms", 2.924006123), slog.Duration("took", 1234567891*time.Nanosecond),
			slog.Time("next_run", at))
		out := buf.String()
		for _, raw := range []string{"2.924006", "1.234567891s", "04:00:00", "+02:00"} {
			if strings.Contains(out, raw) {
				t.Errorf("%s: %q in %q", format, raw, out)
			}
		}
		took := "1.235s"
		if format == "json" {
			took = `"took":1235000000` // JSON writes a duration in nanoseconds
		}
		for _, w := range []string{"2.924", took, "02:00:00"} {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q lacks %q", format, out, w)
			}
		}
		if format == "json" {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil || !strings.HasSuffix(m["time"].(string), "Z") {
				t.Errorf("json time not UTC: %v %q", err, out)
			}
		}
	}
}
