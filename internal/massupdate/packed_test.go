package massupdate

import (
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/orgnr"
)

func TestPackRoundTrip(t *testing.T) {
	t.Parallel()
	rules := []mapping.Rule{{Point: "name"}, {Point: "employees"}, {Point: "vat"}, {Point: "established"},
		{Point: "absent"}, {Point: "blank"}, {Point: "name"}, {Point: "off"}, {Point: "odd"}}
	day := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
	vals := map[string]any{"name": "FJORDLYS TEKNOLOGI AS – ÆØÅ", "employees": 69.0, "vat": true, "established": day,
		"blank": "  ", "off": false, "odd": []string{"x"}}
	got := pack(rules, vals).unpack(len(rules))
	want := []any{"FJORDLYS TEKNOLOGI AS – ÆØÅ", 69.0, true, day, nil, nil, "FJORDLYS TEKNOLOGI AS – ÆØÅ", false, nil}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("slot %d (%s) = %#v, want %#v", i, rules[i].Point, got[i], want[i])
		}
	}
}

func TestPackKeyTellsNumbersApart(t *testing.T) {
	t.Parallel()
	seen := map[uint64]string{}
	for _, c := range [][2]string{{"NO", "923609016"}, {"SE", "923609016"}, {"FI", "01120389"}, {"FI", "1120389"},
		{"DK", "24256790"}, {"SE", "5560125790"}, {"NO", "023609016"}} {
		k, ok := orgnr.Pack(c[0], c[1])
		if !ok {
			t.Fatalf("packKey(%v) refused", c)
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("packKey(%v) collides with %s", c, prev)
		}
		seen[k] = c[0] + c[1]
	}
	for _, c := range [][2]string{{"DE", "1"}, {"NO", "12a"}, {"NO", ""}, {"NO", "1234567890123"}} {
		if _, ok := orgnr.Pack(c[0], c[1]); ok {
			t.Errorf("packKey(%v) accepted", c)
		}
	}
	x := newCompanyIndex()
	a, b := &company{}, &company{}
	x.put("NO", "923609016", a)
	x.put("XX", "weird", b)
	if x.get("NO", "923609016") != a || x.get("XX", "weird") != b || x.get("SE", "923609016") != nil {
		t.Error("companyIndex lost or mixed up companies")
	}
}

// A date is a calendar date wherever it was made (mapping's rule): packing must not move it to UTC first,
// or a date made at local midnight east of Greenwich is written as the day before.
func TestPackKeepsTheCalendarDate(t *testing.T) {
	t.Parallel()
	rules := []mapping.Rule{{Point: "established"}}
	oslo := time.FixedZone("CET", 3600)
	got := pack(rules, map[string]any{"established": time.Date(1998, 6, 30, 0, 0, 0, 0, oslo)}).unpack(1)
	if want := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC); got[0] != want {
		t.Errorf("unpacked %v, want %v", got[0], want)
	}
}
