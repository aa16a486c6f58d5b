package orgnr

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeValid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c    Country
		raw  string
		want string
	}{
		// Real numbers, in the forms people type them.
		{NO, "923609016", "923609016"},
		{NO, "923 609 016", "923609016"},
		{NO, "923.609.016", "923609016"},
		{NO, "NO 923 609 016 MVA", "923609016"},
		{NO, "no923609016mva", "923609016"},
		{NO, " 984851006 ", "984851006"},
		{NO, "971274808", "971274808"},
		{NO, "100000040", "100000040"}, // remainder 0 → check digit 0
		{SE, "5560125790", "5560125790"},
		{SE, "556012-5790", "5560125790"},
		{SE, "SE556012579001", "5560125790"}, // Swedish VAT number
		{SE, "165560125790", "5560125790"},   // 16-prefixed 12-digit form
		{SE, "se 556012-5790", "5560125790"},
		// Third digit exactly 2 (Skatteverket): the lowest an organisation has; below it is a person.
		{SE, "202100-5448", "2021005448"},
		{DK, "24256790", "24256790"},
		{DK, "DK24256790", "24256790"},
		{DK, "24 25 67 90", "24256790"},
		{DK, "22756214", "22756214"},
		{DK, "61056416", "61056416"},
		{FI, "0112038-9", "01120389"},
		{FI, "01120389", "01120389"},
		{FI, "FI01120389", "01120389"},
		{FI, "FI 0112038-9", "01120389"},
		{FI, "112038-9", "01120389"}, // written without the leading zero
		{FI, "1927400-1", "19274001"},
		{FI, "1927400–1", "19274001"}, // en dash, as word processors write it
		{FI, "1000002-0", "10000020"}, // remainder 0 → check digit 0, not 11
		// Invisible characters copied along from web pages: zero-width space, soft hyphen, BOM, NBSP.
		{NO, "923\u200b609\u200b016", "923609016"},
		{NO, "\ufeff923609016", "923609016"},
		{NO, "\u200bNO 923609016 MVA", "923609016"},
		{SE, "556012\u00ad5790", "5560125790"},
		// Every dash word processors put between the groups: hyphen, non-breaking hyphen, en and em dash.
		{SE, "556012\u20105790", "5560125790"},
		{SE, "556012\u20115790", "5560125790"},
		{SE, "556012\u20135790", "5560125790"},
		{SE, "556012\u20145790", "5560125790"},
		{FI, "112038\u20149", "01120389"},
		// A label in front, as on letterheads.
		{NO, "Org.nr. 923 609 016", "923609016"},
		{NO, "Org nr: 923609016 MVA", "923609016"},
		{NO, "orgnr 923609016", "923609016"},
		{NO, "Organisasjonsnummer: 984 851 006", "984851006"},
		{NO, "Org. no. NO 923 609 016 MVA", "923609016"},
		{SE, "Org.nr 556012-5790", "5560125790"},
		{SE, "Organisationsnummer 556012-5790", "5560125790"},
		{DK, "CVR-nr. 24256790", "24256790"},
		{DK, "CVR: 24 25 67 90", "24256790"},
		{FI, "Y-tunnus 0112038-9", "01120389"},
		{FI, "FO-nummer: 1927400-1", "19274001"},
		{FI, "Business ID 0112038-9", "01120389"},
		{DK, "24\u00a025\u00a067\u00a090", "24256790"},
	}
	for _, tc := range cases {
		got, err := Normalize(tc.c, tc.raw)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q", tc.c, tc.raw, got, err, tc.want)
		}
	}
}

func TestNormalizeInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c      Country
		raw    string
		reason string // a piece of the human reason
	}{
		{NO, "92360901", "has 8 digits, a Norwegian organisation number has 9"},
		{NO, "9236090160", "has 10 digits, a Norwegian organisation number has 9"},
		{NO, "923609017", "check digit does not match"},
		{NO, "923609061", "check digit does not match"}, // transposed digits
		{NO, "100000130", "no valid check digit"},       // remainder 1
		{NO, "SE923609016", "country prefix SE, but the record's country is NO"},
		{NO, "923609016X", `contains 'X'`},
		{NO, "9", "has 1 digit,"},
		{NO, "Org.nr. 923609017", "check digit does not match"}, // a label excuses no digit
		{NO, "Organisasjon 923609016", "contains 'O'"},
		{DK, "CVR-nr. SE 24256790", "country prefix SE"},
		{SE, "5560125791", "check digit does not match"},
		{SE, "556012579", "has 9 digits, a Swedish organisation number has 10"},
		{SE, "8112189876", "personal identity number"}, // Luhn-valid, third digit 1
		{SE, "SE556012579002", "has 12 digits"},
		// The VAT form's trailing 01 is only read after the SE prefix: 12 bare digits are no number.
		{SE, "556012579001", "has 12 digits"},
		// Only 16 marks the 12-digit form of an organisation number; 19 and 20 are a person's century.
		{SE, "195560125790", "has 12 digits"},
		// A country code followed by a letter is a word, not a prefix.
		{FI, "FIN 0112038-9", "contains 'F'"},
		{NO, "NO", "holds a country prefix but no digits"},
		{DK, "24256791", "check digit does not match"},
		{DK, "2425679", "has 7 digits, a Danish organisation number has 8"},
		{DK, "04256790", "starts with 0"},
		{FI, "0112038-8", "check digit does not match"},
		{FI, "0112038", "has 7 digits, a Finnish organisation number has 8"},
		{FI, "1000008-0", "no valid check digit"}, // remainder 1
		{FI, "NO01120389", "country prefix NO"},
		{Country("DE"), "123456789", "not one of"},
	}
	for _, tc := range cases {
		got, err := Normalize(tc.c, tc.raw)
		if err == nil {
			t.Errorf("Normalize(%s, %q) = %q; want an error", tc.c, tc.raw, got)
			continue
		}
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrMissing) {
			t.Errorf("Normalize(%s, %q): %v should wrap ErrInvalid only", tc.c, tc.raw, err)
		}
		if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("Normalize(%s, %q) error %q lacks %q", tc.c, tc.raw, err, tc.reason)
		}
	}
}

func TestNormalizeMissing(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "   ", " - ", "..", "MVA"} {
		_, err := Normalize(NO, raw)
		if !errors.Is(err, ErrMissing) {
			t.Errorf("Normalize(NO, %q) = %v; want ErrMissing", raw, err)
		}
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c         Country
		canonical string
		want      bool
	}{
		{NO, "923609016", true},
		{NO, "923 609 016", false}, // valid, but not the canonical form
		{NO, "923609017", false},
		{SE, "556012-5790", false},
		{FI, "01120389", true},
	}
	for _, tc := range cases {
		if got := Valid(tc.c, tc.canonical); got != tc.want {
			t.Errorf("Valid(%s, %q) = %v; want %v", tc.c, tc.canonical, got, tc.want)
		}
	}
}

// isLetter decides whether two letters are a country prefix or the start of a word ("FIN", "Norway"):
// its bounds are the ASCII letters exactly.
func TestIsLetter(t *testing.T) {
	t.Parallel()
	for _, b := range []byte("AZaz") {
		if !isLetter(b) {
			t.Errorf("isLetter(%q) = false", b)
		}
	}
	for _, b := range []byte("@[`{0 -.") {
		if isLetter(b) {
			t.Errorf("isLetter(%q) = true", b)
		}
	}
}

func TestParseCountry(t *testing.T) {
	t.Parallel()
	cases := map[string]Country{
		"NO": NO, "no": NO, " No ": NO, "Norway": NO, "NORGE": NO, "noreg": NO, "NOR": NO,
		"SE": SE, "se": SE, "Sweden": SE, "sverige": SE,
		"DK": DK, "Denmark": DK, "danmark": DK,
		"FI": FI, "fi": FI, "Finland": FI, "SUOMI": FI, "fin": FI,
	}
	for in, want := range cases {
		if got, ok := ParseCountry(in); !ok || got != want {
			t.Errorf("ParseCountry(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "DE", "Germany", "N O", "Nor way", "Iceland", "US"} {
		if got, ok := ParseCountry(in); ok {
			t.Errorf("ParseCountry(%q) = %q; want not ok", in, got)
		}
	}
}

func TestDisplay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		c         Country
		canonical string
		want      string
	}{
		{NO, "923609016", "923609016"},
		{SE, "5560125790", "556012-5790"},
		{DK, "24256790", "24256790"},
		{FI, "01120389", "0112038-9"},
		{FI, "0112038", "0112038"}, // not canonical: unchanged
	}
	for _, tc := range cases {
		if got := Display(tc.c, tc.canonical); got != tc.want {
			t.Errorf("Display(%s, %q) = %q; want %q", tc.c, tc.canonical, got, tc.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"923609016", "NO 923 609 016 MVA", "556012-5790", "SE556012579001", "165560125790",
		"24256790", "DK24256790", "0112038-9", "112038-9", "FI01120389", "", "-", "NOMVA", "ＮＯ９２３",
		"8112189876", "9236090160"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, c := range Countries {
			got, err := Normalize(c, raw)
			if err != nil {
				if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMissing) {
					t.Fatalf("Normalize(%s, %q): unclassified error %v", c, raw, err)
				}
				if got != "" {
					t.Fatalf("Normalize(%s, %q) returned %q with an error", c, raw, got)
				}
				continue
			}
			if len(got) != c.length() || strings.Trim(got, "0123456789") != "" {
				t.Fatalf("Normalize(%s, %q) = %q: not canonical", c, raw, got)
			}
			if again, err := Normalize(c, got); err != nil || again != got {
				t.Fatalf("Normalize(%s, %q) = %q does not re-validate to itself: %q, %v", c, raw, got, again, err)
			}
			if shown, err := Normalize(c, Display(c, got)); err != nil || shown != got {
				t.Fatalf("Display form %q of %q does not normalise back: %q, %v", Display(c, got), got, shown, err)
			}
			if !Valid(c, got) {
				t.Fatalf("Valid(%s, %q) = false", c, got)
			}
		}
	})
}
