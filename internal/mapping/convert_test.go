package mapping

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	fText     = Field{Name: "Name", Type: "string", Updateable: true, Length: 10}
	fArea     = Field{Name: "Description", Type: "textarea", Updateable: true, Length: 0}
	fInt      = Field{Name: "NumberOfEmployees", Type: "int", Updateable: true, Precision: 8}
	fDouble   = Field{Name: "Revenue__c", Type: "double", Updateable: true, Precision: 6, Scale: 2}
	fCurrency = Field{Name: "AnnualRevenue", Type: "currency", Updateable: true, Precision: 18, Scale: 0}
	fDate     = Field{Name: "Founded__c", Type: "date", Updateable: true}
	fDateTime = Field{Name: "Synced__c", Type: "datetime", Updateable: true}
	fBoolean  = Field{Name: "Active__c", Type: "boolean", Updateable: true}
	fPick     = Field{Name: "Industry", Type: "picklist", Updateable: true, Length: 40, PicklistValues: []string{"Banking", "Energy"}, RestrictedPicklist: true}
	fPickOpen = Field{Name: "Rating", Type: "picklist", Updateable: true, Length: 40, PicklistValues: []string{"Hot"}}
	fMulti    = Field{Name: "Tags__c", Type: "multipicklist", Updateable: true, Length: 100, PicklistValues: []string{"A", "B"}, RestrictedPicklist: true}
	fRef      = Field{Name: "OwnerId", Type: "reference", Updateable: true}
	fReadOnly = Field{Name: "CreatedDate", Type: "datetime", Updateable: false}
)

func TestCanHoldMatrix(t *testing.T) {
	t.Parallel()
	types := []string{"string", "picklist", "int", "double", "date", "datetime", "boolean", "reference", "id", "address", "time", "base64"}
	want := map[Kind]string{ // one letter per type above: y = can hold, n = never
		Text:    "yyyyyyynnnnn",
		Number:  "yyyynnnnnnnn",
		Integer: "yyyynnnnnnnn",
		Date:    "yynnyynnnnnn",
		Boolean: "yynnnnynnnnn",
	}
	for k, row := range want {
		for i, typ := range types {
			if got := CanHold(k, typ); got != (row[i] == 'y') {
				t.Errorf("CanHold(%s, %s) = %v, want %v", k, typ, got, !got)
			}
		}
	}
	for _, typ := range []string{"textarea", "url", "phone", "email", "encryptedstring", "combobox", "multipicklist", "currency", "percent", "DOUBLE"} {
		if !CanHold(Text, typ) {
			t.Errorf("CanHold(text, %s) = false", typ)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	kinds := map[string]Kind{"name": Text, "employees": Integer, "founded": Date, "revenue": Number, "vat": Boolean}
	fields := map[string]Field{}
	for _, f := range []Field{fText, fInt, fDouble, fDate, fDateTime, fBoolean, fPick, fRef, fReadOnly} {
		fields[f.Name] = f
	}
	tests := []struct {
		name  string
		rules []Rule
		want  []string // the problems, in order; nil: no error
	}{
		{"one duplicate among fitting rules", []Rule{{Point: "name", Field: "Name", Mode: Overwrite}, {Point: "employees", Field: "NumberOfEmployees", Mode: FillBlank}, {Point: "founded", Field: "Founded__c", Mode: ""},
			{Point: "founded", Field: "Synced__c", Mode: ""}, {Point: "name", Field: "Revenue__c", Mode: ""}, {Point: "revenue", Field: "Name", Mode: ""}, {Point: "vat", Field: "Active__c", Mode: ""}}, []string{"Name: mapped twice (from name and revenue)"}},
		{"all good", []Rule{{Point: "name", Field: "Name", Mode: ""}, {Point: "revenue", Field: "Revenue__c", Mode: ""}, {Point: "founded", Field: "Founded__c", Mode: ""}, {Point: "employees", Field: "Industry", Mode: ""}}, nil},
		{"empty", nil, []string{"no data point is mapped"}},
		{"every problem at once", []Rule{
			{Point: "founded", Field: "Active__c", Mode: Overwrite},
			{Point: "name", Field: "Missing__c", Mode: Overwrite},
			{Point: "name", Field: "name", Mode: Overwrite},
			{Point: "nope", Field: "Industry", Mode: Overwrite},
			{Point: "name", Field: "CreatedDate", Mode: "always"},
			{Point: "employees", Field: "OwnerId", Mode: Overwrite},
			{Point: "revenue", Field: "industry", Mode: Overwrite},
			{Point: "vat", Field: "", Mode: Overwrite},
		}, []string{
			"founded → Active__c: a boolean field can never hold a date value",
			"Missing__c: no such field, or the integration user cannot see it",
			"name: no such field (did you mean Name?)",
			"nope: no such Proff data point",
			`name → CreatedDate: mode "always" is neither "overwrite" nor "fill_blank"`,
			"CreatedDate: not updateable by the integration user",
			"employees → OwnerId: a reference field can never hold a integer value",
			"industry: mapped twice (from nope and revenue)",
			"vat: no Salesforce field named",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Check(tt.rules, kinds, fields)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Check = %v, want a *CheckError", err)
			}
			if !reflect.DeepEqual(ce.Problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", ce.Problems, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want[len(tt.want)-1]) {
				t.Errorf("Error() %q lacks the last problem", err)
			}
		})
	}
}

func TestConvert(t *testing.T) {
	t.Parallel()
	d := DateValue(2024, time.March, 5)
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		v    any
		k    Kind
		f    Field
		want any
		err  string // substring of the error; "" means success
	}{
		{"text trimmed", "  EQUINOR AS ", Text, fText, "EQUINOR AS", ""},
		{"text at length", "0123456789", Text, fText, "0123456789", ""},
		{"text too long", "01234567890", Text, fText, nil, "11 characters, the field holds at most 10"},
		{"length counts characters", "æøåæøåæøåæ", Text, fText, "æøåæøåæøåæ", ""},
		{"no length limit", strings.Repeat("x", 5000), Text, fArea, strings.Repeat("x", 5000), ""},
		{"number into text", 1234.5, Number, fText, "1234.5", ""},
		{"big integer into text", 12345678.0, Integer, fArea, "12345678", ""},
		{"date into text", d, Date, fText, "2024-03-05", ""},
		{"bool into text", true, Boolean, fText, "true", ""},
		{"int64 into text", int64(12), Integer, fText, "12", ""},
		{"-Inf into text", math.Inf(-1), Number, fText, nil, "not finite"},
		{"+Inf into text", math.Inf(1), Number, fText, nil, "not finite"},
		{"length 1", "ab", Text, Field{Type: "string", Length: 1}, nil, "2 characters, the field holds at most 1"},
		{"integer into int", 42.0, Integer, fInt, 42.0, ""},
		{"number with fraction into int", 42.5, Number, fInt, nil, "whole numbers"},
		{"text number into int", " 1 200 ", Text, fInt, 1200.0, ""},
		{"range into int", "10-19", Text, fInt, nil, "not a number"},
		{"words into int", "about ten", Text, fInt, nil, "not a number"},
		{"int precision", 123456789.0, Integer, fInt, nil, "more than the 8 digits"},
		{"int 32 bits", 3e9, Integer, Field{Type: "int"}, nil, "beyond the field's range"},
		{"int32 max", 2147483647.0, Integer, Field{Type: "int"}, 2147483647.0, ""},
		{"int32 min", -2147483648.0, Integer, Field{Type: "int"}, -2147483648.0, ""},
		{"beyond int32 min", -2147483649.0, Integer, Field{Type: "int"}, nil, "beyond the field's range"},
		// Precision 8 holds 99 999 999; 10^8 has nine digits, whatever its sign.
		{"int at precision", 99999999.0, Integer, fInt, 99999999.0, ""},
		{"int precision boundary", 1e8, Integer, fInt, nil, "more than the 8 digits"},
		{"negative int precision boundary", -1e8, Integer, fInt, nil, "more than the 8 digits"},
		{"int without precision", 123456789.0, Integer, Field{Type: "int"}, 123456789.0, ""}, // 0: not reported
		{"int precision 1", 10.0, Integer, Field{Type: "int", Precision: 1}, nil, "more than the 1 digits"},
		{"double rounds to scale", 1234.567, Number, fDouble, 1234.57, ""},
		{"double at limit", 9999.994, Number, fDouble, 9999.99, ""},
		{"double overflow", 10000.0, Number, fDouble, nil, "more than the 4 digits before the decimal point"},
		{"double rounding overflow", 9999.996, Number, fDouble, nil, "more than the 4 digits"},
		{"comma decimal", "12,5", Text, fDouble, 12.5, ""},
		{"ambiguous separators", "1,234.5", Text, fDouble, nil, "not a plain number"},
		{"hex is not a number", "0x10", Text, fDouble, nil, "not a number"},
		{"NaN text", "NaN", Text, fDouble, nil, "not a number"},
		{"infinite", math.Inf(1), Number, fDouble, nil, "not finite"},
		{"minus infinite", math.Inf(-1), Number, fDouble, nil, "not finite"},
		{"three commas", "1,234,5", Text, fDouble, nil, "not a plain number"},
		{"precision 1", 5.4, Number, Field{Type: "double", Precision: 1}, 5.0, ""},
		{"negative scale read as 0", 1234.4, Number, Field{Type: "double", Precision: 4, Scale: -2}, 1234.0, ""},
		// Rounded once at the field's scale: 0.2496 is 0.2, not 0.25 rounded again to 0.3.
		{"rounds once", 0.2496, Number, Field{Type: "double", Precision: 3, Scale: 1}, 0.2, ""},
		// The decimal that goes on the wire is rounded, not its binary neighbour: 0.285 is 0.28499999… as a
		// float, and Salesforce, rounding the decimal it receives, holds 0.29.
		{"half away from zero on the decimal", 0.285, Number, fDouble, 0.29, ""},
		{"half away from zero, negative", -0.285, Number, fDouble, -0.29, ""},
		{"2.675 is 2.68", 2.675, Number, fDouble, 2.68, ""},
		{"1.005 is 1.01", 1.005, Number, fDouble, 1.01, ""},
		{"1234.565 is 1234.57", 1234.565, Number, fDouble, 1234.57, ""},
		{"below half", 0.2849, Number, fDouble, 0.28, ""},
		{"scale 0", 2.5, Number, Field{Type: "currency", Precision: 18, Scale: 0}, 3.0, ""},
		{"scale 0 negative", -2.5, Number, Field{Type: "currency", Precision: 18, Scale: 0}, -3.0, ""},
		{"exact at scale stays", 0.28, Number, fDouble, 0.28, ""},
		{"currency scale 0", 1234.5, Number, fCurrency, 1235.0, ""},
		{"json number", json.Number("17"), Number, fCurrency, 17.0, ""},
		{"no precision: as is", 1.23456, Number, Field{Type: "percent"}, 1.23456, ""},
		{"date", d, Date, fDate, "2024-03-05", ""},
		{"date keeps its calendar day", time.Date(2024, 3, 5, 0, 0, 0, 0, time.FixedZone("CET", 3600)), Date, fDate, "2024-03-05", ""},
		{"date into datetime", d, Date, fDateTime, "2024-03-05T00:00:00.000Z", ""},
		// A date made at midnight in another zone keeps its calendar day; any other time is an instant.
		{"midnight elsewhere into datetime", time.Date(2024, 3, 5, 0, 0, 0, 0, cet), Date, fDateTime, "2024-03-05T00:00:00.000Z", ""},
		{"hour into datetime", time.Date(2024, 3, 5, 10, 0, 0, 0, cet), Date, fDateTime, "2024-03-05T09:00:00.000Z", ""},
		{"minute into datetime", time.Date(2024, 3, 5, 0, 30, 0, 0, cet), Date, fDateTime, "2024-03-04T23:30:00.000Z", ""},
		{"second into datetime", time.Date(2024, 3, 5, 0, 0, 5, 0, cet), Date, fDateTime, "2024-03-04T23:00:05.000Z", ""},
		{"millisecond into datetime", time.Date(2024, 3, 5, 0, 0, 0, 5e8, cet), Date, fDateTime, "2024-03-04T23:00:00.500Z", ""},
		{"text date dd.MM.yyyy", "05.03.2024", Text, fDate, "2024-03-05", ""},
		{"text date iso", "2024-03-05", Text, fDateTime, "2024-03-05T00:00:00.000Z", ""},
		{"text instant", "2024-03-05T10:11:12+02:00", Text, fDateTime, "2024-03-05T08:11:12.000Z", ""},
		{"text not a date", "March 2024", Text, fDate, nil, "not a date"},
		// Unparsed, a datetime must fail the field, never be written as the zero time.
		{"text not a datetime", "March 2024", Text, fDateTime, nil, "not a date or a date and time"},
		{"bool", false, Boolean, fBoolean, false, ""},
		{"text bool", " TRUE ", Text, fBoolean, true, ""},
		{"text not bool", "ja", Text, fBoolean, nil, "neither true nor false"},
		{"restricted picklist", "Energy", Text, fPick, "Energy", ""},
		{"restricted picklist case", "energy", Text, fPick, "Energy", ""},
		{"restricted picklist miss", "Shipping", Text, fPick, nil, "not one of the restricted picklist's values"},
		{"open picklist", "Warm", Text, fPickOpen, "Warm", ""},
		{"open picklist at length", strings.Repeat("x", 40), Text, fPickOpen, strings.Repeat("x", 40), ""},
		{"open picklist too long", strings.Repeat("x", 41), Text, fPickOpen, nil, "41 characters, the field holds at most 40"},
		{"multipicklist", "a; B", Text, fMulti, "A;B", ""},
		{"multipicklist miss", "A;C", Text, fMulti, nil, "restricted picklist"},
		{"never: date into boolean", d, Date, fBoolean, nil, "cannot hold a date value"},
		{"never: unsupported type", "x", Text, fRef, nil, "cannot hold"},
		{"no value", "  ", Text, fText, nil, "no value"},
		{"wrong Go type", []string{"a"}, Number, fDouble, nil, "not a number"},
		{"negative zero", -0.001, Number, fDouble, 0.0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Convert(tt.v, tt.k, tt.f)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Convert = %v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Convert = %#v, want %#v", got, tt.want)
			}
			if f, ok := got.(float64); ok && math.Signbit(f) && f == 0 {
				t.Errorf("Convert returned negative zero")
			}
		})
	}
}

func TestConvertErrorNeverRepeatsTheValue(t *testing.T) {
	t.Parallel()
	secretish := "Proprietary Long Company Name That Does Not Fit"
	for _, f := range []Field{fText, fInt, fDate, fBoolean, fPick} {
		if _, err := Convert(secretish, Text, f); err == nil || strings.Contains(err.Error(), "Proprietary") {
			t.Errorf("%s: error %v", f.Type, err)
		}
	}
}

func TestHasValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want bool
	}{
		{nil, false}, {"", false}, {" \t\n", false}, {[]any{}, false}, {[]string{}, false}, {map[string]any{}, false},
		{math.NaN(), false}, {(*int)(nil), false},
		{"x", true}, {0.0, true}, {false, true}, {time.Time{}, true}, {[]any{nil}, true}, {json.Number("0"), true},
	}
	for _, tt := range tests {
		if got := HasValue(tt.v); got != tt.want {
			t.Errorf("HasValue(%#v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestIsEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want bool
	}{{nil, true}, {"", true}, {"  ", true}, {"a", false}, {0.0, false}, {false, false}}
	for _, tt := range tests {
		if got := IsEmpty(tt.v); got != tt.want {
			t.Errorf("IsEmpty(%#v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cur, new any
		f        Field
		want     bool
	}{
		{"same text", "Equinor ASA", "Equinor ASA", fText, true},
		{"trimmed", " Equinor ASA  ", "Equinor ASA", fText, true},
		{"case matters", "Equinor ASA", "EQUINOR ASA", fText, false},
		{"inner space matters", "Equinor  ASA", "Equinor ASA", fText, false},
		{"null vs value", nil, "x", fText, false},
		{"blank vs value", "  ", "x", fText, false},
		{"null vs blank", nil, "", fText, true},
		{"numbers", 12.0, 12.0, fInt, true},
		{"json number", json.Number("12.50"), 12.5, fDouble, true},
		{"numeric string", "12", 12.0, fInt, true},
		{"different numbers", 12.0, 13.0, fInt, false},
		{"float noise", 0.1 + 0.2, 0.3, fDouble, true},
		// The tolerance is relative and tiny: noise in the 13th digit, never a real difference.
		{"noise at scale", 1000000.0000001, 1000000.0, fDouble, true},
		{"small real difference", 1000000.001, 1000000.0, fDouble, false},
		{"zeros", 0.0, json.Number("0"), fDouble, true},
		{"zero vs tiny", 0.0, 1e-300, fDouble, false},
		// A current value that does not read as a number is no number: not 0.
		{"text in a number field", "n/a", 0.0, fDouble, false},
		{"zero vs null", nil, 0.0, fInt, false},
		{"date", "2024-03-05", "2024-03-05", fDate, true},
		{"date other day", "2024-03-05", "2024-03-06", fDate, false},
		{"date in another form", "05.03.2024", "2024-03-05", fDate, true},
		{"unreadable date", "soon", "0001-01-01", fDate, false},
		{"datetime same instant", "2024-03-05T01:00:00.000+0100", "2024-03-05T00:00:00.000Z", fDateTime, true},
		{"datetime other instant", "2024-03-05T01:00:00.000+0000", "2024-03-05T00:00:00.000Z", fDateTime, false},
		// To the second: the same instant however written, one second apart is a change.
		{"datetime same second, other forms", "2024-03-05T10:11:12Z", "2024-03-05T10:11:12.000+0000", fDateTime, true},
		{"datetime one second apart", "2024-03-05T10:11:12.000Z", "2024-03-05T10:11:13.000Z", fDateTime, false},
		// A current value that does not read as a datetime equals no instant, not even the zero time.
		{"unreadable datetime", "soon", "0001-01-01T00:00:00.000Z", fDateTime, false},
		{"bool", true, true, fBoolean, true},
		{"bool differs", false, true, fBoolean, false},
		{"bool as text", " TRUE ", true, fBoolean, true},
		{"unreadable bool", "ja", false, fBoolean, false},
		{"picklist", "Energy", "Energy", fPick, true},
		{"number in text field", "1234.5", "1234.5", fText, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Equal(tt.cur, tt.new, tt.f); got != tt.want {
				t.Errorf("Equal(%#v, %#v) = %v, want %v", tt.cur, tt.new, got, tt.want)
			}
		})
	}
}

// Every value Convert writes must compare equal to itself as Salesforce gives it back, or an unchanged record
// would be written on every run.
func TestConvertThenEqualIsStable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		v any
		k Kind
		f Field
	}{
		{" A ", Text, fText}, {1234.567, Number, fDouble}, {42.0, Integer, fInt}, {DateValue(2020, 1, 2), Date, fDate},
		{DateValue(2020, 1, 2), Date, fDateTime}, {true, Boolean, fBoolean}, {"energy", Text, fPick},
	}
	for _, c := range cases {
		w, err := Convert(c.v, c.k, c.f)
		if err != nil {
			t.Fatalf("Convert(%v): %v", c.v, err)
		}
		// Round-trip through JSON as the value would come back from a query.
		b, _ := json.Marshal(w)
		var back any
		_ = json.Unmarshal(b, &back)
		if !Equal(back, w, c.f) {
			t.Errorf("%v into %s: %#v not equal to itself after a round trip", c.v, c.f.Type, w)
		}
	}
	if !Equal("2020-01-02T00:00:00.000+0000", "2020-01-02T00:00:00.000Z", fDateTime) {
		t.Errorf("a datetime as Salesforce returns it is not equal to the same instant")
	}
}

// A date is midnight UTC exactly: a nanosecond off and two dates no longer compare with ==.
func TestDatesAreMidnightUTC(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	if got := DateValue(2024, time.March, 5); got != want {
		t.Errorf("DateValue = %v, want %v", got, want)
	}
	got, err := dateOf(time.Date(2024, 3, 5, 23, 59, 59, 999, time.FixedZone("CET", 3600)))
	if err != nil || got != want {
		t.Errorf("dateOf = %v, %v; want %v", got, err, want)
	}
}

func TestPlain(t *testing.T) {
	t.Parallel()
	if got := Plain(json.Number("1.5")); got != 1.5 {
		t.Errorf("Plain(json.Number) = %#v", got)
	}
	if got := Plain("x"); got != "x" {
		t.Errorf("Plain(string) = %#v", got)
	}
}

// Salesforce counts text length in UTF-16 code units and refuses malformed e-mail addresses for the whole
// record: both are caught here, so only that field is left out.
func TestConvertMatchesSalesforceTextRules(t *testing.T) {
	t.Parallel()
	short := Field{Name: "Sic", Type: "string", Length: 4, Updateable: true}
	if _, err := Convert("ab😀", Text, short); err != nil {
		t.Errorf("3 characters, 4 UTF-16 units into 4: %v", err)
	}
	if _, err := Convert("abc😀", Text, short); err == nil {
		t.Error("5 UTF-16 units accepted into a field of 4")
	}
	if _, err := Convert("æøåé", Text, short); err != nil {
		t.Errorf("4 BMP characters into 4: %v", err)
	}
	// The bounds of the Basic Multilingual Plane: U+FFFF is one unit, U+10000 two.
	if _, err := Convert("\uffff\uffff\uffff\uffff", Text, short); err != nil {
		t.Errorf("4 × U+FFFF into 4: %v", err)
	}
	if _, err := Convert("abc\U00010000", Text, short); err == nil {
		t.Error("U+10000 counted as one UTF-16 unit")
	}
	email := Field{Name: "Email__c", Type: "email", Length: 80, Updateable: true}
	for _, ok := range []string{"post@fjordlys.example", " firma.post@example.no "} {
		if _, err := Convert(ok, Text, email); err != nil {
			t.Errorf("Convert(%q) into email: %v", ok, err)
		}
	}
	// The domain's last dot is neither its first nor its last character.
	for _, ok := range []string{"x@y.z", "a@b.no"} {
		if _, err := Convert(ok, Text, email); err != nil {
			t.Errorf("Convert(%q) into email: %v", ok, err)
		}
	}
	for _, bad := range []string{"post at fjordlys.example", "post@", "@example.no", "a@b", "a@@b.no", "two words@example.no",
		"a@.no", "a@example.", "a@b."} {
		if _, err := Convert(bad, Text, email); err == nil {
			t.Errorf("Convert(%q) into an email field accepted", bad)
		}
	}
}
