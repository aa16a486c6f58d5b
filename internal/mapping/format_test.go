package mapping

import (
	"errors"
	"strings"
	"testing"
)

// TestTitleCase: register names as the four registers write them, and as people write them.
func TestTitleCase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"OSEBERG SOLUTIONS AS", "Oseberg Solutions AS"},
		{"FJORDLYS TEKNOLOGI AS", "Fjordlys Teknologi AS"},
		{"EQUINOR ASA", "Equinor ASA"},
		{"KVIST & SØNN AS", "Kvist & Sønn AS"},
		{"HANSEN OG DATTER ANS", "Hansen og Datter ANS"},
		{"BRØDRENE ÆRLIG DA", "Brødrene Ærlig DA"},
		{"PER ØSTBY ENK", "Per Østby ENK"},
		{"NORSK HYDRO UTENLANDSK FILIAL NUF", "Norsk Hydro Utenlandsk Filial NUF"},
		{"TINE SA", "Tine SA"},
		{"NORD-TRØNDELAG ELEKTRISITETSVERK AS", "Nord-Trøndelag Elektrisitetsverk AS"},
		{"3D PRINT NORGE AS", "3D Print Norge AS"},
		{"A2B LOGISTIKK AS", "A2B Logistikk AS"},
		{"AS VINMONOPOLET", "AS Vinmonopolet"},
		// Sweden
		{"AB VOLVO", "AB Volvo"},
		{"TELEFONAKTIEBOLAGET LM ERICSSON AB (PUBL)", "Telefonaktiebolaget Lm Ericsson AB (publ)"},
		{"ÅKESSONS BYGG HB", "Åkessons Bygg HB"},
		{"LINDQVIST OCH SÖNER KB", "Lindqvist och Söner KB"},
		{"GÖTEBORGS ÄNGAR EF", "Göteborgs Ängar EF"},
		// Denmark
		{"NOVO NORDISK A/S", "Novo Nordisk A/S"},
		{"MØLLER HOLDING APS", "Møller Holding ApS"},
		{"JENSEN & JENSEN I/S", "Jensen & Jensen I/S"},
		{"SKOVBO IVS", "Skovbo IVS"},
		{"VINDPARK ØST P/S", "Vindpark Øst P/S"},
		{"HAVN K/S", "Havn K/S"},
		{"DANSK LANDBRUG A.M.B.A.", "Dansk Landbrug a.m.b.a."},
		// Finland
		{"KONE OYJ", "Kone Oyj"},
		{"OY KARL FAZER AB", "Oy Karl Fazer AB"},
		{"SUOMEN KAUPPA OY", "Suomen Kauppa Oy"},
		{"VIRTANEN JA KUMPPANIT KY", "Virtanen ja Kumppanit Ky"},
		{"PARTURI MÄKINEN TMI", "Parturi Mäkinen Tmi"},
		// English join words and apostrophes
		{"BANK OF NORWAY AND PARTNERS AS", "Bank of Norway and Partners AS"},
		{"O'BRIEN'S PUB AS", "O'Brien's Pub AS"},
		// Already mixed case: written on purpose, left alone.
		{"Oseberg Solutions AS", "Oseberg Solutions AS"},
		{"iKnow AS", "iKnow AS"},
		// Nothing to capitalise.
		{"", ""},
		{"123 456", "123 456"},
		// Extra spaces are no part of a name.
		{"  FJORD   AS ", "Fjord AS"},
	} {
		if got := TitleCase(tc.in); got != tc.want {
			t.Errorf("TitleCase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A format applies to text only: ConvertRule reshapes the value written and compared, Check refuses a format
// on a point of another kind and a format it does not know.
func TestFormatInConvertAndCheck(t *testing.T) {
	t.Parallel()
	name := Field{Name: "Name", Type: "string", Length: 255, Updateable: true}
	got, err := ConvertRule("OSEBERG SOLUTIONS AS", Rule{Point: "name", Field: "Name", Format: Title}, Text, name)
	if err != nil || got != "Oseberg Solutions AS" {
		t.Errorf("ConvertRule with title = %#v, %v", got, err)
	}
	if got, _ := ConvertRule("OSEBERG SOLUTIONS AS", Rule{Point: "name", Field: "Name"}, Text, name); got != "OSEBERG SOLUTIONS AS" {
		t.Errorf("ConvertRule without a format = %#v", got)
	}
	if got := ApplyFormat(12.0, Title); got != 12.0 {
		t.Errorf("ApplyFormat on a number = %#v", got)
	}
	fields := map[string]Field{"Name": name, "Size__c": {Name: "Size__c", Type: "double", Updateable: true, Precision: 18}}
	kinds := map[string]Kind{"name": Text, "revenue": Number}
	if err := Check([]Rule{{Point: "name", Field: "Name", Format: Title}}, kinds, fields); err != nil {
		t.Errorf("title on text: %v", err)
	}
	err = Check([]Rule{{Point: "revenue", Field: "Size__c", Format: Title}, {Point: "name", Field: "Name", Format: "upper"}}, kinds, fields)
	var ce *CheckError
	if !errors.As(err, &ce) || len(ce.Problems) != 2 ||
		!strings.Contains(ce.Problems[0], "applies to text only") || !strings.Contains(ce.Problems[1], `format "upper"`) {
		t.Errorf("Check = %v, want the two format problems", err)
	}
	for in, want := range map[string]Format{"": AsSent, "Title": Title, " title ": Title} {
		if f, err := ParseFormat(in); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, f, err)
		}
	}
	if _, err := ParseFormat("upper"); !errors.Is(err, ErrFormat) {
		t.Errorf("ParseFormat(upper) = %v", err)
	}
	for in, want := range map[string]Kind{"text": Text, "Number": Number, "integer": Integer, "DATE": Date, "boolean": Boolean} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
	if _, err := ParseKind("money"); !errors.Is(err, ErrKind) {
		t.Errorf("ParseKind(money) = %v", err)
	}
}
