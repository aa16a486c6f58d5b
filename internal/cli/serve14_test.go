package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// serve restores the last-run series from the store at start (a partial run counts as completed, the
// newest run's status is 1), and posts a notification when a scheduled run ends with a status in notify.on.
func TestServeRestoresMetricsAndNotifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := storetest.URL(t)
	st := storetest.Open(t, dsn, store.Options{})
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	var partialEnd time.Time
	for i, status := range []massupdate.Status{massupdate.Partial, massupdate.StatusFail} {
		r := &massupdate.Run{Trigger: massupdate.Schedule, Status: massupdate.Running, StartedAt: t0.Add(time.Duration(i) * time.Hour)}
		if err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		end := r.StartedAt.Add(5 * time.Minute)
		r.Status, r.FinishedAt = status, &end
		if status == massupdate.StatusFail {
			r.Error = "salesforce login rejected"
		} else {
			partialEnd = end
		}
		if err := st.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// More dry runs between the partial and the failed run than the restore reads completed runs: they
	// must not hide the partial run.
	for i := range 25 {
		r := &massupdate.Run{Trigger: massupdate.Manual, Status: massupdate.Running, DryRun: true,
			StartedAt: t0.Add(10*time.Minute + time.Duration(i)*time.Minute)}
		if err := st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		end := r.StartedAt.Add(30 * time.Second)
		r.Status, r.FinishedAt = massupdate.Succeeded, &end
		if err := st.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	hook := &receiver{status: http.StatusOK}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	sb := sandbox.Start(sandbox.Options{Companies: 8})
	defer sb.Close()
	env := sb.Env(dsn)
	env["NOTIFY_WEBHOOK_URL"] = hookSrv.URL + "/hook/key-serve-5d9c"
	clock := clocktest.At(time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC))
	yaml := sandbox.DemoConfig + "schedule:\n  enabled: true\n  cron: \"* * * * *\"\n  timezone: UTC\nnotify:\n  on: [partial]\n"
	base, stop := startServeClock(t, testApp(&syncBuffer{}), yaml, env, clock)

	_, body := get(t, base+"/metrics")
	for _, w := range []string{
		fmt.Sprintf("proffsync_last_completed_run_timestamp_seconds %g", float64(partialEnd.Unix())),
		`proffsync_last_run_status{status="failed"} 1`, `proffsync_last_run_status{status="partial"} 0`,
		`proffsync_lookups_total{source="fresh"} 0`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics at start lacks %q", w)
		}
	}

	clock.WaitIdle(t)
	clock.Advance(time.Hour)
	clock.WaitIdle(t) // the scheduled run has returned
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	bodies, _ := hook.got()
	if len(bodies) != 1 {
		t.Fatalf("%d notifications for one scheduled partial run", len(bodies))
	}
	var p struct {
		Run massupdate.Summary `json:"run"`
	}
	if err := json.Unmarshal(bodies[0], &p); err != nil || p.Run.Trigger != massupdate.Schedule || p.Run.Status != massupdate.Partial {
		t.Errorf("notification %s: %v", bodies[0], err)
	}
}
