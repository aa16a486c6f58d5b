package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
	"github.com/proffconnect/proffsync/internal/web"
)

// The pages in a real browser: Debian's headless Chromium loads both pages from a loopback server over
// real history, and the test checks the DOM it built and the screenshot it drew. The screenshots are kept
// in /tmp/pages-index.png and /tmp/pages-run.png for the README.

const (
	shotW, shotH = 1200, 900
)

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed (apt-get install chromium): the browser test of the history pages did not run")
	return ""
}

// runChromium runs headless Chromium with a fresh profile and no network but the page's, and returns its
// standard output.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--hide-scrollbars", "--user-data-dir=" + t.TempDir(), fmt.Sprintf("--window-size=%d,%d", shotW, shotH)}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// browserHistory is a month of nightly runs: mostly quiet nights, a few with failures, a failed night and
// an interrupted one that a manual run resumed.
func browserHistory(t *testing.T, s *store.Store) (partial massupdate.Run) {
	t.Helper()
	for night := range 14 {
		var results []massupdate.RecordResult
		var changes []massupdate.FieldChange
		n := 40 + (night*37)%60
		for i := range n {
			id := fmt.Sprintf("001%012dAAA", i)
			o := massupdate.Unchanged
			switch {
			case i%9 == 0 && night%4 == 1:
				o = massupdate.Failed
			case i%13 == 0:
				o = massupdate.NotFound
			case i%17 == 0:
				o = massupdate.MissingOrgNumber
			case i%5 == night%5:
				o = massupdate.Updated
				changes = append(changes, massupdate.FieldChange{RecordID: id, Field: "NumberOfEmployees", Old: float64(10 + i), New: float64(12 + i)})
			}
			results = append(results, massupdate.RecordResult{RecordID: id, OrgNumber: fmt.Sprintf("9%08d", 1000+i), Country: "NO",
				Outcome: o, Reason: map[massupdate.Outcome]string{massupdate.Failed: "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access",
					massupdate.NotFound: "not in Proff", massupdate.MissingOrgNumber: "no org number"}[o]})
		}
		status := massupdate.Succeeded
		if night%4 == 1 {
			status = massupdate.Partial
		}
		seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(time.Duration(night) * 24 * time.Hour)}, Status: status,
			Took: time.Duration(60+night*7) * time.Second, Results: results, Changes: changes})
	}
	seed(t, s, seedRun{Run: massupdate.Run{StartedAt: t0.Add(14 * 24 * time.Hour)}, Status: massupdate.StatusFail,
		Error: "Proff rejected the API token (401)", Took: 3 * time.Second})
	partial, _, _ = history(t, s)
	return partial
}

func TestBrowserRendersThePages(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	s := storetest.New(t)
	partial := browserHistory(t, s)
	srv := httptest.NewServer(web.New(web.Options{Store: s, Loopback: true, Clock: pagesClock})) // on 127.0.0.1
	t.Cleanup(srv.Close)

	for _, c := range []struct {
		path, shot string
		want       []string
	}{
		{"/", "/tmp/pages-index.png", []string{partial.ID, "Outcomes of the last 18 runs", "Proff rejected the API token (401)", "partial", "interrupted"}},
		{"/runs/" + partial.ID, "/tmp/pages-run.png", []string{partial.ID, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Name is locked",
			"EQUINOR ASA", "Equinor", "NumberOfEmployees", "not in Proff"}},
	} {
		url := srv.URL + c.path
		dom := string(runChromium(t, bin, "--dump-dom", url))
		for _, want := range c.want {
			if !strings.Contains(dom, want) {
				t.Errorf("%s: the DOM Chromium built lacks %q", c.path, want)
			}
		}
		if !strings.Contains(dom, "</table>") {
			t.Errorf("%s: the DOM has no table:\n%s", c.path, dom)
		}

		file := filepath.Join(t.TempDir(), "shot.png")
		runChromium(t, bin, "--screenshot="+file, url)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: no screenshot: %v", c.path, err)
		}
		checkScreenshot(t, c.path, raw)
		if err := os.WriteFile(c.shot, raw, 0o644); err != nil {
			t.Logf("keep the screenshot: %v", err)
		}
	}
}

// checkScreenshot holds when the PNG decodes to the window's size and shows a page, not one colour: the
// stylesheet's header bar, the table lines and the chart's colours make many.
func checkScreenshot(t *testing.T, what string, raw []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: the screenshot is no PNG: %v", what, err)
	}
	if b := img.Bounds(); b.Dx() != shotW || b.Dy() != shotH {
		t.Errorf("%s: screenshot %dx%d, want %dx%d", what, b.Dx(), b.Dy(), shotW, shotH)
	}
	colours := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r >> 8, g >> 8, bl >> 8, a >> 8}] = true
		}
	}
	if len(colours) < 30 {
		t.Errorf("%s: the screenshot has %d colours: a blank or unstyled page", what, len(colours))
	}
	// The header bar is the stylesheet's dark blue: the stylesheet loaded under the CSP.
	if r, g, bl, _ := img.At(5, 5).RGBA(); r>>8 != 0x1d || g>>8 != 0x27 || bl>>8 != 0x33 {
		t.Errorf("%s: the top-left pixel is #%02x%02x%02x, not the header's #1d2733: the stylesheet did not apply", what, r>>8, g>>8, bl>>8)
	}
}
