package soql_test

import (
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/soql"
)

func TestIsName(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"BillingCity":           true,
		"Org_Number__c":         true,
		"ns__Score__c":          true,
		"Parent__r":             true,
		"A":                     true,
		strings.Repeat("a", 80): true,
		strings.Repeat("a", 81): false,
		"":                      false,
		"1Field":                false,
		"_Field":                false,
		"Name, Phone":           false,
		"Name--":                false,
		"Account.Name":          false, // a path, not a name
		"Name FROM User":        false,
	} {
		if got := soql.IsName(s); got != want {
			t.Errorf("IsName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestObject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"account":        "Account",
		" LEAD ":         "Lead",
		"contact":        "Contact",
		"Company__c":     "Company__c",
		"ns__Company__c": "ns__Company__c",
	} {
		got, err := soql.Object(in)
		if err != nil || got != want {
			t.Errorf("Object(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Account WHERE", "Account.Name", "1x", "Acc;ount"} {
		if got, err := soql.Object(in); err == nil {
			t.Errorf("Object(%q) = %q, want an error", in, got)
		}
	}
}

func TestParsePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]soql.Path{
		"Org_Number__c":            {Field: "Org_Number__c"},
		"Account.Org_Number__c":    {Relationship: "Account", Field: "Org_Number__c"},
		"Parent__r.BillingCountry": {Relationship: "Parent__r", Field: "BillingCountry"},
	} {
		got, ok := soql.ParsePath(in)
		if !ok || got != want || got.String() != in {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", in, got, ok, want)
		}
	}
	// One hop only: describe of the parent is what checks the field, and a deeper path has no describe here.
	for _, in := range []string{"", ".Name", "Account.", "Account.Owner.Name", "Account .Name", "Account.Name)", "a.1b"} {
		if got, ok := soql.ParsePath(in); ok || soql.IsPath(in) {
			t.Errorf("ParsePath(%q) = %+v, ok; want refused", in, got)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"",
		"Type = 'Customer' OR Type = 'Partner'",
		"(Type = 'a (b' OR Name LIKE 'x\\'y%') AND NOT (Phone = null)",
		"Name = 'a;b'", // inside a literal a ';' ends nothing
	} {
		if err := soql.CheckFilter(ok); err != nil {
			t.Errorf("CheckFilter(%q) = %v, want nil", ok, err)
		}
	}
	for f, msg := range map[string]string{
		"Type = 'x') OR (Name != null": "closing parenthesis",
		"Name = 'x":                    "not closed",
		"Name = 'x'; DELETE":           "';'",
		"(Name = 'x'":                  "not balanced",
		"Name = 'x\\'":                 "not closed",
	} {
		err := soql.CheckFilter(f)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("CheckFilter(%q) = %v, want an error about %s", f, err, msg)
		}
	}
}
