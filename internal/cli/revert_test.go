package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/sandbox"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// revertCLI runs `proffsync revert args…` in-process as Main would, whether or not the command is
// registered in commands() yet.
func revertCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errb, now: time.Now}
	code := a.guard(func() int {
		err := a.execute(context.Background(), revertSpec(), args)
		var ee *ExitError
		if err != nil && (!errors.As(err, &ee) || ee.Err != nil) {
			fmt.Fprintf(a.stderr, "proffsync: %s\n", a.printable(err.Error()))
		}
		return exitCode(err)
	})
	return result{code, out.String(), errb.String()}
}

func summaryOf(t *testing.T, r result) massupdate.Summary {
	t.Helper()
	var s massupdate.Summary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("stdout is not a run summary: %v\n%+v", err, r)
	}
	return s
}

func TestRevertCommandEndToEnd(t *testing.T) {
	t.Parallel()
	sb, env, dsn := sandboxRun(t, sandbox.Options{Companies: 12})
	r := proffsync(t, env, "run", "--json")
	if r.code != ExitOK && r.code != ExitPartial {
		t.Fatalf("run: %+v", r)
	}
	runID := summaryOf(t, r).RunID
	dry := proffsync(t, env, "run", "--dry-run", "--json")
	st := storetest.Open(t, dsn, store.Options{})
	ctx := context.Background()
	d, err := st.RunDetail(ctx, runID)
	if err != nil || len(d.Changes) == 0 {
		t.Fatalf("the run changed nothing to revert: %v", err)
	}

	if r := revertCLI(t, env); r.code != ExitUsage {
		t.Errorf("revert without RUN_ID: %+v", r)
	}
	if r := revertCLI(t, env, "0123456789abcdef"); r.code != ExitFailed || !strings.Contains(r.stderr, "no run with id") {
		t.Errorf("revert of an unknown run: %+v", r)
	}
	if r := revertCLI(t, env, summaryOf(t, dry).RunID, "--json"); r.code != ExitFailed || r.stdout != "" || !strings.Contains(r.stderr, "a dry run wrote nothing") {
		t.Errorf("revert of a dry run: %+v", r)
	}

	proffBefore := len(sb.Proff.Requests())
	sb.SF.ResetRequests()
	r = revertCLI(t, env, runID, "--dry-run", "--json")
	if s := summaryOf(t, r); r.code != ExitOK || !s.DryRun || s.Trigger != massupdate.Revert || s.Counts.Updated == 0 {
		t.Fatalf("dry revert: %+v", r)
	}
	for _, req := range sb.SF.Requests() {
		if req.Method == http.MethodPatch {
			t.Fatalf("a dry revert wrote to Salesforce: %s", req.Path)
		}
	}

	// Someone renames one of the run's records since: that Name is left alone and listed with both values.
	cfg, err := sb.Config(dsn)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{getenv: func(k string) string { return env[k] }, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, now: time.Now}
	a.log = newLogger(a.stderr, "text", 0)
	sf, err := a.newSalesforce(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var renamed massupdate.FieldChange
	for _, c := range d.Changes {
		if c.Field == "Name" {
			renamed = c
			break
		}
	}
	if res, err := sf.Write(ctx, []massupdate.Update{{RecordID: renamed.RecordID, Fields: map[string]any{"Name": "Renamed by hand"}}}); err != nil || res[0].Err != nil {
		t.Fatalf("rename: %v %v", err, res)
	}

	r = revertCLI(t, env, runID)
	want := fmt.Sprintf("%s  conflict: Name holds \"Renamed by hand\", the run wrote %q", renamed.RecordID, renamed.New)
	if r.code != ExitPartial || !strings.Contains(r.stdout, want) || !strings.Contains(r.stderr, "1 records failed or conflicted") {
		t.Fatalf("revert with a conflict: %+v\nwant %s", r, want)
	}
	if n := len(sb.Proff.Requests()); n != proffBefore {
		t.Errorf("the reverts made %d Proff calls", n-proffBefore)
	}
	for _, c := range d.Changes {
		if c.RecordID == renamed.RecordID && c.Field == "Name" {
			if got := sb.SF.Record("Account", c.RecordID)["Name"]; got != "Renamed by hand" {
				t.Errorf("the renamed record's Name = %v: the person's change was overwritten", got)
			}
			continue
		}
		rec := sb.SF.Record("Account", c.RecordID)
		if got := rec[c.Field]; !reflect.DeepEqual(got, c.Old) && !(c.Old == nil && got == "") {
			t.Errorf("%s.%s = %#v after the revert, want %#v", c.RecordID, c.Field, got, c.Old)
		}
		if got := rec["Proff_Last_Synced__c"]; got != nil && c.RecordID != renamed.RecordID {
			t.Errorf("%s: last-synced %v after the revert, want it put back to null", c.RecordID, got)
		}
	}

	// retry's source: exactly the run's failed records.
	failed, err := st.FailedRecordIDs(ctx, runID)
	if err != nil || len(failed) == 0 {
		t.Fatalf("the sandbox's run has no failed records to retry (%v)", err)
	}
	src, id, n, err := a.retrySource(ctx, st, sf, runID)
	if err != nil || id != runID || n != len(failed) {
		t.Fatalf("retrySource = %s, %d, %v; want %s, %d", id, n, err, runID, len(failed))
	}
	var got []string
	if err := src.Records(ctx, "", func(p []massupdate.Record) error {
		for _, rec := range p {
			got = append(got, rec.ID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, failed) {
		t.Errorf("retry reads %v, want the failed records %v", got, failed)
	}
}
