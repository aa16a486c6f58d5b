package cli

import (
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
)

// An interrupted run's last line names the command that continues it. `run --resume` takes only sync runs,
// so an interrupted revert points at the same revert and a retry at the same retry: sent to --resume, the
// one would resume another run or none.
func TestContinueHintNamesTheCommandThatContinuesTheRun(t *testing.T) {
	t.Parallel()
	const undone, retried = "0193a5f0-0000-7000-8000-00000000000a", "0193a5f0-0000-7000-8000-00000000000b"
	stopped := func(trigger massupdate.Trigger) massupdate.Run {
		return massupdate.Run{ID: "0193a5f0-0000-7000-8000-000000000001", Trigger: trigger, Status: massupdate.Interrupted}
	}
	revert := stopped(massupdate.Revert)
	revert.Reverts = undone
	dry := stopped(massupdate.Manual)
	dry.DryRun = true
	continued := stopped(massupdate.Schedule)
	continued.ResumedBy = "0193a5f0-0000-7000-8000-000000000002"
	partial := stopped(massupdate.Manual)
	partial.Status = massupdate.Partial
	for _, tc := range []struct {
		name    string
		run     massupdate.Run
		retried string
		want    string
	}{
		{"manual", stopped(massupdate.Manual), "", "proffsync run --resume"},
		{"schedule", stopped(massupdate.Schedule), "", "proffsync run --resume"},
		{"revert", revert, "", "proffsync revert " + undone},
		{"retry", stopped(massupdate.Retry), retried, "proffsync run --retry " + retried},
		{"retry of an unknown run", stopped(massupdate.Retry), "", ""},
		{"dry run", dry, "", ""},
		{"continued already", continued, "", ""},
		{"not interrupted", partial, "", ""},
	} {
		if got := continueCommand(tc.run, tc.retried); got != tc.want {
			t.Errorf("%s: continueCommand = %q, want %q", tc.name, got, tc.want)
		}
		var b strings.Builder
		printResumeHint(&b, tc.run, tc.retried)
		if want := "  continue  " + tc.want + "\n"; tc.want == "" && b.Len() != 0 || tc.want != "" && b.String() != want {
			t.Errorf("%s: hint %q, want %q", tc.name, b.String(), want)
		}
	}
}
