package sfemu_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/sfemu"
)

// A Contact reads its Account's org number through the Account relationship, nested as Salesforce nests it,
// null when the lookup is empty, and filters on it; the custom object answers the same way through its
// custom relationship (Parent_Account__r).
func TestParentFieldsThroughRelationships(t *testing.T) {
	t.Parallel()
	s := newEmu(t, sfemu.Options{})
	tok := login(t, s)
	acc := s.AddRecord("Account", map[string]any{"Name": "Oseberg AS", "Org_Number__c": "923609016", "BillingCountry": "Norway"})
	with := s.AddRecord("Contact", map[string]any{"LastName": "Nordmann", "FirstName": "Kari", "AccountId": acc, "Proff_Mass_Update__c": true})
	s.AddRecord("Contact", map[string]any{"LastName": "Alone", "Proff_Mass_Update__c": true})

	status, r, body := query(t, s, tok, "SELECT Id, Account.Org_Number__c, Title, Account.BillingCountry FROM Contact WHERE Proff_Mass_Update__c = true ORDER BY Id")
	if status != 200 || r.TotalSize != 2 {
		t.Fatalf("query: %d %s", status, body)
	}
	want := `"Account":{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/` + acc + `"},"Org_Number__c":"923609016","BillingCountry":"Norway"},"Title":null}`
	if !strings.Contains(string(body), want) || !strings.Contains(string(body), `"Account":null,"Title":null}`) {
		t.Fatalf("nested parent fields: %s", body)
	}
	if r.Records[0]["Id"] != with || s.Record("Contact", with)["Name"] != "Kari Nordmann" {
		t.Fatalf("records %v", r.Records)
	}

	_, r, body = query(t, s, tok, "SELECT Id FROM Contact WHERE Account.Org_Number__c = '923609016'")
	if r.TotalSize != 1 || r.Records[0]["Id"] != with {
		t.Fatalf("WHERE on a parent's field: %s", body)
	}
	_, r, _ = query(t, s, tok, "SELECT COUNT() FROM Contact WHERE Account.Org_Number__c = null")
	if r.TotalSize != 1 {
		t.Fatalf("COUNT with an empty lookup: %d", r.TotalSize)
	}

	co := s.AddRecord("Company__c", map[string]any{"Name": "Oseberg", "Parent_Account__c": acc, "Proff_Mass_Update__c": true})
	_, r, body = query(t, s, tok, "SELECT Id, Name, Parent_Account__r.Org_Number__c FROM Company__c WHERE Proff_Mass_Update__c = true")
	if r.TotalSize != 1 || r.Records[0]["Id"] != co || !strings.Contains(string(body), `"Parent_Account__r":{"attributes":{"type":"Account"`) {
		t.Fatalf("custom object through a custom relationship: %s", body)
	}

	for q, msg := range map[string]string{
		"SELECT Id, Acount.Org_Number__c FROM Contact":       "Didn't understand relationship 'Acount'",
		"SELECT Id, Account.Org_Nummer__c FROM Contact":      "No such column 'Org_Nummer__c' on entity 'Account'",
		"SELECT Id, Account.Owner.Name FROM Contact":         "Didn't understand relationship",
		"SELECT Id FROM Contact ORDER BY Account.Name":       "order by a parent's field",
		"SELECT Id, Account.Name, account.name FROM Contact": "duplicate field",
	} {
		status, _, body := query(t, s, tok, q)
		if status != 400 || !strings.Contains(string(body), msg) {
			t.Errorf("%s: %d %s, want %q", q, status, body, msg)
		}
	}
}

// Describe names a lookup's parent and relationship, which is how a client finds the parent to describe.
func TestDescribeRelationships(t *testing.T) {
	t.Parallel()
	s := newEmu(t, sfemu.Options{})
	tok := login(t, s)
	for path, want := range map[string][2]string{
		"/services/data/v62.0/sobjects/Contact/describe":    {"AccountId", "Account"},
		"/services/data/v62.0/sobjects/Company__c/describe": {"Parent_Account__c", "Parent_Account__r"},
		"/services/data/v62.0/sobjects/Account/describe":    {"ParentId", "Parent"},
	} {
		status, body, _ := do(t, s, tok, http.MethodGet, path, "", "")
		var d struct {
			Custom bool `json:"custom"`
			Fields []struct {
				Name             string   `json:"name"`
				ReferenceTo      []string `json:"referenceTo"`
				RelationshipName *string  `json:"relationshipName"`
			} `json:"fields"`
		}
		if status != 200 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		found := false
		for _, f := range d.Fields {
			if f.Name == want[0] {
				found = len(f.ReferenceTo) == 1 && f.ReferenceTo[0] == "Account" && f.RelationshipName != nil && *f.RelationshipName == want[1]
			} else if f.RelationshipName != nil || len(f.ReferenceTo) != 0 {
				t.Errorf("%s: %s has a relationship", path, f.Name)
			}
		}
		if !found || d.Custom != strings.HasSuffix(path, "__c/describe") {
			t.Errorf("%s: lookup %s → %s not described (custom %v)", path, want[0], want[1], d.Custom)
		}
	}
}

// A write to a Contact reaches its own fields; a parent's field in a write body is refused, as Salesforce
// refuses it.
func TestContactWrites(t *testing.T) {
	t.Parallel()
	s := newEmu(t, sfemu.Options{})
	tok := login(t, s)
	acc := s.AddRecord("Account", map[string]any{"Name": "Oseberg AS", "Org_Number__c": "923609016"})
	c := s.AddRecord("Contact", map[string]any{"LastName": "Nordmann", "AccountId": acc})
	status, body, _ := do(t, s, tok, http.MethodPatch, "/services/data/v62.0/composite/sobjects", "application/json",
		`{"allOrNone":false,"records":[{"attributes":{"type":"Contact"},"id":"`+c+`","Title":"CEO"}]}`)
	if status != 200 || !strings.Contains(string(body), `"success":true`) || s.Record("Contact", c)["Title"] != "CEO" {
		t.Fatalf("write: %d %s", status, body)
	}
	status, body, _ = do(t, s, tok, http.MethodPatch, "/services/data/v62.0/composite/sobjects", "application/json",
		`{"allOrNone":false,"records":[{"attributes":{"type":"Contact"},"id":"`+c+`","Account.Org_Number__c":"1"}]}`)
	if status == 200 && strings.Contains(string(body), `"success":true`) {
		t.Fatalf("a parent's field was written through the child: %s", body)
	}
	if s.Record("Account", acc)["Org_Number__c"] != "923609016" {
		t.Fatal("the parent changed")
	}
}
