// Package safetext makes text that comes from outside (Salesforce records, Proff answers, error bodies) safe
// to print on an operator's terminal (README: Contract, "Text output"): a value must never move the cursor,
// clear the screen, set the window title or write the clipboard (OSC 52).
//
// What must never happen here: a control character reaching the output raw, or a change to text that holds
// none (ordinary names, org numbers and reasons print exactly as they are).
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape returns s with every character a terminal may act on written as a visible escape: C0 controls
// (tab and newline included, since a value is printed in one cell or on one line) and DEL as \xHH (\t, \n
// and \r by name), the C1 controls U+0080–U+009F as \uHHHH (xterm acts on them even UTF-8 encoded), and
// the line and paragraph separators U+2028/U+2029 and the bidirectional overrides and isolates
// (U+202A–U+202E, U+2066–U+2069), which can make a line read differently from what it holds. A byte that
// is not valid UTF-8 is written as \xHH: a terminal in an 8-bit mode reads a lone 0x9B as CSI.
//
// A backslash is left alone, so ordinary text is unchanged; a value holding the four characters `\x1b`
// therefore prints like an escaped ESC, which is harmless.
func Escape(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// firstUnsafe returns the index of the first byte Escape would change, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

// unsafeRune reports the non-ASCII runes Escape writes as \uHHHH.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separator
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	}
	return false
}

// JSON rewrites an encoding/json document so that it holds no C1 control, DEL or bidi override raw: each
// becomes its \uHHHH escape, so the document decodes to exactly the same values. encoding/json already
// escapes C0 and U+2028/U+2029 but writes U+0080–U+009F and DEL as they are, and JSON output is often read
// on a terminal (`history show --json | less -R`). Outside strings a JSON document is ASCII, so every such
// rune is inside a string, where the escape is valid. Invalid UTF-8 cannot occur: encoding/json writes
// U+FFFD for it.
func JSON(doc []byte) []byte {
	clean := true
	for i := 0; i < len(doc); {
		if doc[i] < utf8.RuneSelf {
			if doc[i] == 0x7f {
				clean = false
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(doc[i:])
		if unsafeRune(r) {
			clean = false
			break
		}
		i += size
	}
	if clean {
		return doc
	}
	out := make([]byte, 0, len(doc)+16)
	for i := 0; i < len(doc); {
		r, size := utf8.DecodeRune(doc[i:])
		if r == 0x7f || unsafeRune(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, doc[i:i+size]...)
		}
		i += size
	}
	return out
}
