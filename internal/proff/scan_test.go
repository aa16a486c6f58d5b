package proff

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// splitObject must agree with encoding/json on every valid object, and refuse every truncation of one.
func checkSplit(t *testing.T, doc []byte) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(doc, &want); err != nil {
		return // only valid documents are compared
	}
	got, err := splitObject(doc)
	if err != nil {
		t.Fatalf("splitObject(%q): %v", doc, err)
	}
	if (want == nil) != (got == nil) || len(got) != len(want) {
		t.Fatalf("splitObject(%q) = %d members (nil %v), json has %d (nil %v)", doc, len(got), got == nil, len(want), want == nil)
	}
	for k, w := range want {
		var a, b bytes.Buffer
		if err := json.Compact(&a, w); err != nil {
			t.Fatal(err)
		}
		if err := json.Compact(&b, got[k]); err != nil {
			t.Fatalf("member %q = %q is not JSON: %v", k, got[k], err)
		}
		if a.String() != b.String() {
			t.Fatalf("member %q = %q, json says %q", k, b.String(), a.String())
		}
	}
	if want == nil {
		return
	}
	for n := 0; n < len(bytes.TrimRight(doc, " \t\r\n")); n++ {
		if _, err := splitObject(doc[:n]); err == nil {
			t.Fatalf("splitObject accepted the truncation %q of %q", doc[:n], doc)
		}
	}
}

func TestSplitObjectAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{}`, ` { } `, `null`, `{"a":1}`, `{"a":-1.5e3,"b":true,"c":null,"d":"x"}`,
		`{"a":{"b":[1,{"c":"}]"}],"d":"\"{"},"e":[]}`, `{"k\u00e9y":"v","k\"q":"\\"}`,
		`{"a":1,"a":2}`, "{\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } \n}",
		`{"ø":"æ","emoji":"😀"}`, `{"a":"\\\"]}","b":"\\","c":["\\\\\"x"]}`,
	}
	for _, d := range docs {
		checkSplit(t, []byte(d))
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "proffemu", "template.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := splitObject(b)
	if err != nil || len(got) < 60 {
		t.Fatalf("the example document: %d members, %v", len(got), err)
	}
}

func TestSplitObjectRefusesNonObjects(t *testing.T) {
	t.Parallel()
	for _, d := range []string{``, `  `, `[]`, `"x"`, `1`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{a:1}`, `{"a":1 "b":2}`} {
		if _, err := splitObject([]byte(d)); err == nil {
			t.Errorf("splitObject(%q) accepted it", d)
		}
	}
}

func FuzzSplitObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":{"b":[1,"]"]}}`, `{"a":"\\\""}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 2000 {
			return
		}
		splitObject(doc) // never panics on anything
		checkSplit(t, doc)
	})
}
