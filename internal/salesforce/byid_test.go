package salesforce_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

func recordIDs(recs []massupdate.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// A retry reads exactly the records it names, and of those only the ones the ordinary read selects: still
// opted in, still within the filter. It resumes after an Id like the ordinary read.
func TestByIDSelectsOnlyTheNamedRecordsStillOptedInAndFiltered(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Filter = "Type = 'Customer'" })
	ids := e.add(10, func(i int) map[string]any { f := optedIn(i); f["Type"] = "Customer"; return f })
	optedOut := e.emu.AddRecord("Account", map[string]any{"Name": "Out", "Org_Number__c": "923609016", "Type": "Customer", "Proff_Mass_Update__c": false})
	filtered := e.emu.AddRecord("Account", map[string]any{"Name": "Prospect", "Org_Number__c": "923609016", "Type": "Prospect", "Proff_Mass_Update__c": true})

	named := []string{ids[7], ids[2], optedOut, ids[5], filtered, ids[2]} // unordered, with a duplicate
	src, err := e.c.ByID(named)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := src.Records(context.Background(), "", func(p []massupdate.Record) error { got = append(got, recordIDs(p)...); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{ids[2], ids[5], ids[7]}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	n, err := src.Count(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	got = nil
	if err := src.Records(context.Background(), ids[2], func(p []massupdate.Record) error { got = append(got, recordIDs(p)...); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{ids[5], ids[7]}; !slices.Equal(got, want) {
		t.Fatalf("records after %s: %v, want %v", ids[2], got, want)
	}
	q := queries(e.emu.Requests())
	last, _ := url.ParseQuery(q[len(q)-1].RawQuery)
	if s := last.Get("q"); !strings.Contains(s, "Proff_Mass_Update__c = true AND (Type = 'Customer') AND Id IN ('"+ids[5]+"', '"+ids[7]+"', ") || strings.Contains(s, ids[2]) {
		t.Errorf("SOQL %s", s)
	}

	if _, err := e.c.ByID([]string{"001' OR Name != '"}); err == nil {
		t.Error("ByID took an Id that is not one")
	}
}

// Reading the current values of many records costs as few queries as the URL limit allows, each URL within
// it; Current ignores opt-in and filter, and a deleted record is simply absent.
func TestCurrentReadsManyRecordsInFewQueries(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Filter = "Type = 'Customer'" })
	ids := e.add(1500, func(i int) map[string]any {
		f := optedIn(i)
		f["Proff_Mass_Update__c"] = i%3 != 0 // opted out since: still read
		return f
	})
	e.emu.DeleteRecord("Account", ids[10])
	if err := e.c.ValidateFields(mustDescribe(t, e.c)); err != nil {
		t.Fatal(err)
	}
	e.emu.ResetRequests()

	var got []string
	pages := 0
	err := e.c.Current(context.Background(), ids, func(p []massupdate.Record) error {
		pages++
		got = append(got, recordIDs(p)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Delete(slices.Clone(ids), 10, 11)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read %d records, want %d (every one but the deleted)", len(got), len(want))
	}
	qs := queries(e.emu.Requests())
	// An Id costs 28 URL characters ('…', encoded): about 570 fit in 16,000.
	if len(qs) != 3 || pages != 3 {
		t.Fatalf("%d queries, %d pages; want 3", len(qs), pages)
	}
	for _, q := range qs {
		if n := len(q.Path) + 1 + len(q.RawQuery); n > 16000 {
			t.Errorf("query URL of %d characters", n)
		}
		v, _ := url.ParseQuery(q.RawQuery)
		if s := v.Get("q"); !strings.Contains(s, " FROM Account WHERE Id IN ('") {
			t.Errorf("Current applied a selection: %.200s", s)
		}
	}
}

func mustDescribe(t *testing.T, c *salesforce.Client) map[string]mapping.Field {
	t.Helper()
	d, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}
