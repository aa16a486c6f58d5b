package secret

import (
	"strings"
	"testing"
)

func TestScrubAndMask(t *testing.T) {
	t.Parallel()
	got := Scrub(`{"access_token":"00Dxx!AQ4","token_type":"Bearer"} Authorization: Token abc123def456ghi789 password=hunter2&x=1`, nil)
	for _, leak := range []string{"00Dxx!AQ4", "abc123def456ghi789", "hunter2"} {
		if strings.Contains(got, leak) {
			t.Errorf("Scrub kept %q: %s", leak, got)
		}
	}
	if got := Scrub("proff token information: Bearer token expired", nil); got != "proff token information: Bearer token expired" {
		t.Errorf("Scrub mangled ordinary words: %q", got)
	}
	if got := Scrub("the key is k3y-value-1 and abcd", []string{"k3y-value-1", "abcd"}); got != "the key is **** and ****" {
		t.Errorf("Scrub with a list = %q", got)
	}
	if got := Scrub("a b c", []string{"a", "b c"}); got != "a b c" {
		t.Errorf("Scrub replaced secrets shorter than MinLen: %q", got)
	}
	if Mask("abcdefghijklmnop") != "****mnop" || Mask("short") != "****" || Mask("") != "(not set)" {
		t.Errorf("Mask: %q %q %q", Mask("abcdefghijklmnop"), Mask("short"), Mask(""))
	}
}
