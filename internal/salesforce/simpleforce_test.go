package salesforce_test

import (
	"bytes"
	"context"
	"log"
	"os"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

// simpleforce logs the SOQL URL and error bodies through the global logger when a request fails. The
// adapter never lets it see a failure; this test captures the global logger (the test binary's own, never
// the library's business) through every failure path and expects it silent. Not parallel: it swaps the
// process's global logger.
func TestSimpleforceNeverLogs(t *testing.T) {
	var buf bytes.Buffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)

	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Filter = "Name LIKE 'Company%'" })
	ids := e.add(3, optedIn)
	ctx := context.Background()
	if err := e.c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	e.emu.FailNext(1, 503)  // query: a 5xx, retried
	e.emu.ExpireSessions()  // then 401 and a re-login
	readAllCtx(t, e.c, ctx) // describe + query through simpleforce
	e.emu.FailNext(1, 502)  // HTML body
	_, _ = e.c.Write(ctx, []massupdate.Update{{RecordID: ids[0], Fields: map[string]any{"Name": "x"}}})
	e.emu.HideField("Account", "BillingPostalCode") // the query now fails with 400 INVALID_FIELD
	err := e.c.Records(ctx, "", func([]massupdate.Record) error { return nil })
	if err == nil {
		t.Fatal("a query on a hidden field succeeded")
	}
	e.emu.SetRequestLimitExceeded(true)
	if _, err := e.c.Count(ctx); err == nil {
		t.Fatal("count under REQUEST_LIMIT_EXCEEDED succeeded")
	}
	if buf.Len() != 0 {
		t.Fatalf("simpleforce wrote to the global logger:\n%s", buf.String())
	}
}
