package salesforce_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

func writeBodies(reqs []sfemu.Request) string {
	var b strings.Builder
	for _, r := range reqs {
		if strings.HasSuffix(r.Path, "/composite/sobjects") {
			b.Write(r.Body)
		}
	}
	return b.String()
}

// A Contact whose company identity lives on its Account: the org number and country are read through the
// Account relationship (selected, described on Account, nested in the answer), and a write carries only the
// Contact's own configured fields. A Contact without an Account is read with no org number.
func TestContactThroughRelationship(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.Object, o.OrgNumberField, o.CountryField = "contact", "Account.Org_Number__c", "Account.Country_Code__c"
		o.Fields = []string{"Title", "Description"}
	})
	ctx := context.Background()
	acc := e.emu.AddRecord("Account", map[string]any{"Name": "Oseberg AS", "Org_Number__c": "923 609 016", "Country_Code__c": "NO"})
	with := e.emu.AddRecord("Contact", map[string]any{"LastName": "Nordmann", "AccountId": acc, "Title": "CEO", "Proff_Mass_Update__c": true})
	without := e.emu.AddRecord("Contact", map[string]any{"LastName": "Alone", "Proff_Mass_Update__c": true})
	e.emu.AddRecord("Contact", map[string]any{"LastName": "Out", "AccountId": acc})

	d, err := e.c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := d["Account.Org_Number__c"]; !ok || f.Updateable || f.Type != "string" {
		t.Fatalf("the parent's field in describe: %+v %v", f, ok)
	}
	if err := e.c.ValidateFields(d); err != nil {
		t.Fatal(err)
	}
	if n, err := e.c.Count(ctx); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2", n, err)
	}
	recs, _ := readAll(t, e.c, "")
	if len(recs) != 2 || recs[0].ID != with || recs[0].OrgNumber != "923 609 016" || recs[0].Country != "NO" ||
		recs[0].Values["Title"] != "CEO" || recs[1].ID != without || recs[1].OrgNumber != "" || recs[1].Country != "" {
		t.Fatalf("records %+v", recs)
	}
	if _, ok := recs[0].Values["Account.Org_Number__c"]; ok {
		t.Fatal("the parent's field is among the writable values")
	}
	q := queries(e.emu.Requests())
	if len(q) == 0 || !strings.Contains(q[len(q)-1].RawQuery, url.QueryEscape("Account.Org_Number__c")) {
		t.Fatalf("query %v", q)
	}

	e.emu.ResetRequests()
	res, err := e.c.Write(ctx, []massupdate.Update{{RecordID: with, Fields: map[string]any{"Title": "Chair", "Proff_Last_Synced__c": "2026-12-01T10:00:00Z"}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("Write: %v %+v", err, res)
	}
	body := writeBodies(e.emu.Requests())
	if !strings.Contains(body, `"type":"Contact"`) || !strings.Contains(body, `"Title":"Chair"`) || strings.Contains(body, "Account") || strings.Contains(body, "Org_Number") {
		t.Fatalf("write body %s", body)
	}
	if e.emu.Record("Contact", with)["Title"] != "Chair" {
		t.Fatal("not written")
	}
	for _, field := range []string{"Account.Org_Number__c", "Account", "Org_Number__c"} {
		if _, err := e.c.Write(ctx, []massupdate.Update{{RecordID: with, Fields: map[string]any{field: "1"}}}); err == nil {
			t.Errorf("Write accepted %s, which is read, never written", field)
		}
	}
	if e.emu.Record("Account", acc)["Org_Number__c"] != "923 609 016" {
		t.Fatal("the parent changed")
	}
}

// A custom object, and a custom lookup's relationship (Parent_Account__r).
func TestCustomObject(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.Object, o.CountryField = "Company__c", "Parent_Account__r.Country_Code__c"
		o.Fields = []string{"City__c", "Revenue__c"}
	})
	ctx := context.Background()
	acc := e.emu.AddRecord("Account", map[string]any{"Name": "Oseberg AS", "Country_Code__c": "SE"})
	id := e.emu.AddRecord("Company__c", map[string]any{"Name": "Oseberg", "Org_Number__c": "5560000001", "Parent_Account__c": acc, "Proff_Mass_Update__c": true})
	recs, _ := readAll(t, e.c, "")
	if len(recs) != 1 || recs[0].ID != id || recs[0].OrgNumber != "5560000001" || recs[0].Country != "SE" {
		t.Fatalf("records %+v", recs)
	}
	res, err := e.c.Write(ctx, []massupdate.Update{{RecordID: id, Fields: map[string]any{"City__c": "Göteborg", "Revenue__c": 1250000.0}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("Write: %v %+v", err, res)
	}
	if r := e.emu.Record("Company__c", id); r["City__c"] != "Göteborg" || r["Revenue__c"] != 1250000.0 {
		t.Fatalf("written %v", r)
	}
}

// A relationship or a parent's field that is not there is named before any record is read.
func TestRelationshipPathProblems(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		org        string
		hide       bool
		hideLookup bool
		want       string
	}{
		"no such relationship": {org: "Acount.Org_Number__c", want: "org number field Acount.Org_Number__c: Contact has no relationship Acount"},
		"no such parent field": {org: "Account.Org_Nummer__c", want: "Org_Nummer__c does not exist on Account (the parent through Contact.Account)"},
		"parent field hidden":  {org: "Account.Org_Number__c", hide: true, want: "Org_Number__c does not exist on Account (the parent through Contact.Account) or the integration user cannot read it"},
		"not a lookup":         {org: "Title.Org_Number__c", want: "Contact has no relationship Title"},
		// Field-level security on the lookup itself: describe leaves AccountId out, and the relationship with it.
		"lookup hidden": {org: "Account.Org_Number__c", hideLookup: true, want: "Contact has no relationship Account"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
				o.Object, o.OrgNumberField, o.CountryField, o.Fields = "Contact", tc.org, "", []string{"Title"}
			})
			if tc.hide {
				e.emu.HideField("Account", "Org_Number__c")
			}
			if tc.hideLookup {
				e.emu.HideField("Contact", "AccountId")
			}
			e.emu.AddRecord("Contact", map[string]any{"LastName": "x", "Proff_Mass_Update__c": true})
			err := e.c.Records(context.Background(), "", func([]massupdate.Record) error { return nil })
			var fe *salesforce.FieldsError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if q := queries(e.emu.Requests()); len(q) != 0 {
				t.Fatalf("%d queries before the fields were checked", len(q))
			}
		})
	}
}

func TestUnknownObject(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Object = "Widget__c" })
	_, err := e.c.Describe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "the org has no object Widget__c") {
		t.Fatalf("err %v", err)
	}
}

// CheckSelection sends the read's own query with LIMIT 1: a filter Salesforce refuses shows in `check`.
func TestCheckSelection(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.Object, o.OrgNumberField, o.Fields = "Contact", "Account.Org_Number__c", []string{"Title"}
		o.CountryField, o.Filter = "", "Account.Org_Number__c != null"
	})
	e.emu.AddRecord("Contact", map[string]any{"LastName": "x", "Proff_Mass_Update__c": true})
	if err := e.c.CheckSelection(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := queries(e.emu.Requests())
	if len(q) != 1 || !strings.HasSuffix(q[0].RawQuery, url.QueryEscape(" LIMIT 1")) {
		t.Fatalf("queries %v", q)
	}

	bad := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Filter = "No_Such_Field__c = 'x'" })
	err := bad.c.CheckSelection(context.Background())
	var api *salesforce.APIError
	if !errors.As(err, &api) || !strings.Contains(err.Error(), "No_Such_Field__c") {
		t.Fatalf("err %v, want the query's INVALID_FIELD", err)
	}
}

func TestParseJWTKey(t *testing.T) {
	t.Parallel()
	for name, key := range map[string][]byte{
		"empty":   nil,
		"not PEM": []byte("-----BEGIN NOTHING"),
		"not RSA": []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
	} {
		if err := salesforce.ParseJWTKey(key); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := salesforce.ParseJWTKey(pemKey(testKey(t))); err != nil {
		t.Fatalf("a PKCS#8 RSA key: %v", err)
	}
}

// check compares the org's currency with the companies': OrgCurrency reads it from Organization.
func TestOrgCurrency(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ctx := context.Background()
	if cur, err := e.c.OrgCurrency(ctx); err != nil || cur != "NOK" {
		t.Fatalf("OrgCurrency = %q, %v", cur, err)
	}
	e.emu.SetOrgCurrency("EUR")
	if cur, err := e.c.OrgCurrency(ctx); err != nil || cur != "EUR" {
		t.Fatalf("OrgCurrency = %q, %v", cur, err)
	}
	e.emu.SetOrgCurrency("<script>")
	if cur, err := e.c.OrgCurrency(ctx); err == nil {
		t.Fatalf("OrgCurrency accepted %q", cur)
	}
}
