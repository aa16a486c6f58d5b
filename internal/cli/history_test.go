package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// hostile is what an opted-in record's org number field could hold: an OSC 52 clipboard write ended by BEL,
// a screen clear, and a screen clear through the C1 CSI.
const hostile = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\u009b2J"

// terminalActive returns the first rune of out a terminal would act on (anything but newline, tab being
// an escape too), or -1.
func terminalActive(out string) rune {
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f) {
			return r
		}
	}
	return -1
}

// history show prints values from Salesforce with their control characters escaped (README: Contract, "Text
// output"), and its JSON holds none raw either while decoding to the stored values.
func TestHistoryShowEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := storetest.URL(t)
	st := storetest.Open(t, dsn, store.Options{})
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	run := &massupdate.Run{Trigger: massupdate.Manual}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	b := massupdate.Batch{
		Results: []massupdate.RecordResult{
			{RecordID: "001A\x1b[2J", OrgNumber: hostile, Country: "N\x1b]0;title\x07O", Outcome: massupdate.InvalidOrgNumber,
				Reason: "the org number " + hostile + " is not valid"},
			{RecordID: "001B", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
		},
		Changes: []massupdate.FieldChange{{RecordID: "001B", Field: "Name", Old: "Old\u009b2J", New: "EQUINOR " + hostile}},
		Counts:  massupdate.Counts{Selected: 2, InvalidOrgNumber: 1, Updated: 1},
	}
	if err := st.SaveBatch(ctx, run.ID, b); err != nil {
		t.Fatal(err)
	}
	run.Status, run.Counts = massupdate.Partial, b.Counts
	if err := st.FinishRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": dsn}

	r := proffsync(t, env, "history", "show", run.ID)
	if r.code != 0 {
		t.Fatalf("history show: %+v", r)
	}
	if c := terminalActive(r.stdout); c >= 0 || !utf8.ValidString(r.stdout) {
		t.Fatalf("history show prints a raw %U:\n%q", c, r.stdout)
	}
	for _, w := range []string{`\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\u009b2J`, `001A\x1b[2J`, `N\x1b]0;title\x07O`,
		`"Old\u009b2J" -> "EQUINOR \u001b]52;c;`} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("history show lacks the escaped %s:\n%s", w, r.stdout)
		}
	}

	r = proffsync(t, env, "history", "show", run.ID, "--json")
	if r.code != 0 {
		t.Fatalf("history show --json: %+v", r)
	}
	if c := terminalActive(r.stdout); c >= 0 {
		t.Fatalf("history show --json prints a raw %U:\n%q", c, r.stdout)
	}
	var d massupdate.Detail
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Records) != 2 || d.Records[0].OrgNumber != hostile || len(d.Changes) != 1 || d.Changes[0].Old != "Old\u009b2J" {
		t.Fatalf("the JSON no longer holds the stored values: %+v", d)
	}
}
