package safetext_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/proffconnect/proffsync/internal/safetext"
)

func TestEscape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"923609016", "923609016"},
		{"Bjørnstjerne Bjørnsons gate 1, 0131 Oslo — AS «Ærlig»", "Bjørnstjerne Bjørnsons gate 1, 0131 Oslo — AS «Ærlig»"},
		{`C:\path`, `C:\path`},
		{"", ""},
		{"\x1b]52;c;aGVsbG8=\x07", `\x1b]52;c;aGVsbG8=\x07`},
		{"\x1b[2J\x1b]0;pwned\x1b\\", `\x1b[2J\x1b]0;pwned\x1b\`},
		{"a\tb\nc\rd\x00e\x7f", `a\tb\nc\rd\x00e\x7f`},
		{"\u009b2J\u0085x", `\u009b2J\u0085x`},
		{"\u00a0\u00ff", "\u00a0\u00ff"}, // the first printable characters after C1 pass
		{"a\u2028b\u202eevil\u2066", `a\u2028b\u202eevil\u2066`},
		{"bad \x9b2J \xff", `bad \x9b2J \xff`},
	} {
		if got := safetext.Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Whatever the input, the output holds nothing a terminal acts on and is valid UTF-8.
func TestEscapeLeavesNoControl(t *testing.T) {
	t.Parallel()
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	for r := rune(0x80); r < 0x3000; r++ {
		all = utf8.AppendRune(all, r)
	}
	out := safetext.Escape(string(all))
	if !utf8.ValidString(out) {
		t.Fatal("output is not valid UTF-8")
	}
	for _, r := range out {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Fatalf("raw %U in the output", r)
		}
	}
}

func TestJSONEscapesC1AndKeepsTheValue(t *testing.T) {
	t.Parallel()
	in := map[string]string{"org_number": "\u009b2J\x1b[2J\x7f\u202e", "name": "Ærlig AS"}
	doc, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := safetext.JSON(doc)
	for _, r := range string(out) {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x202e {
			t.Fatalf("raw %U in %q", r, out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("not JSON any more: %v: %s", err, out)
	}
	if back["org_number"] != in["org_number"] || back["name"] != in["name"] {
		t.Fatalf("values changed: %q", back)
	}
	clean := []byte(`{"name":"Ærlig AS"}`)
	if got := safetext.JSON(clean); string(got) != string(clean) {
		t.Fatalf("clean document changed: %s", got)
	}
}
