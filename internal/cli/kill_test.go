package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// A run whose process is killed (no chance to record anything) is found by the next start, marked
// interrupted, and `run --resume` continues it from its checkpoint to the end.
func TestKilledProcessThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "proffsync")
	build := exec.Command("go", "build", "-o", bin, "github.com/proffconnect/proffsync/cmd/proffsync")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Slow enough that the first batch (about 400 records) is recorded long before the run could end,
	// even on a loaded machine.
	sb, env, dsn := sandboxRun(t, sandbox.Options{Companies: 1200})
	sb.Proff.SetLatency(50 * time.Millisecond)

	cmd := exec.Command(bin, "run", "--log-level", "error")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, dsn, store.Options{})
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		runs, err := st.ListRuns(ctx, 1)
		if err == nil && len(runs) == 1 && runs[0].Status == massupdate.Running && runs[0].Counts.Selected > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the run never recorded a batch: %+v %v", runs, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	runs, _ := st.ListRuns(ctx, 1)
	killed := runs[0]
	if killed.Status != massupdate.Running || killed.Checkpoint == "" {
		t.Fatalf("the killed run: %s, checkpoint %q", killed.Status, killed.Checkpoint)
	}

	sb.Proff.SetLatency(0)
	r := proffsync(t, env, "run", "--resume", "--json", "--log-level", "error")
	if r.code != ExitPartial && r.code != 0 {
		t.Fatalf("resume: %+v", r)
	}
	var sum massupdate.Summary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.ResumedFrom == nil || *sum.ResumedFrom != killed.ID {
		t.Fatalf("resumed_from = %v, want %s", sum.ResumedFrom, killed.ID)
	}
	first, err := st.GetRun(ctx, killed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != massupdate.Interrupted || first.ResumedBy != sum.RunID {
		t.Errorf("the killed run is now %s, resumed by %q", first.Status, first.ResumedBy)
	}
	if total := first.Counts.Selected + sum.Counts.Selected; total != int64(sb.Expect.Selected) {
		t.Errorf("the two runs finished %d + %d records, want %d", first.Counts.Selected, sum.Counts.Selected, sb.Expect.Selected)
	}
	// Nothing to resume any more.
	if r := proffsync(t, env, "run", "--resume", "--json"); r.code != 0 || r.stdout != "" {
		t.Errorf("a second resume: %+v", r)
	}
}
