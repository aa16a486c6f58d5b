package salesforce_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

// A run over Contacts whose company is their Account's (Account.Org_Number__c), end to end: the real
// engine, Proff client, store and both emulators. The Contact with an Account is looked up by its Account's
// number and gets its own mapped fields written; one without an Account has no org number; nothing is ever
// written to an Account.
func TestRunOverContactsThroughTheirAccount(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.Object, o.OrgNumberField, o.CountryField = "Contact", "Account.Org_Number__c", "Account.Country_Code__c"
		o.Fields = []string{"Title", "MailingCity"}
	})
	pe := proffemu.New(proffemu.Options{Token: "tok"})
	t.Cleanup(pe.Close)

	const fjordlys = "912345688"
	acc := e.emu.AddRecord("Account", map[string]any{"Name": "Kunde 1", "Org_Number__c": fjordlys, "Country_Code__c": "NO"})
	gone := e.emu.AddRecord("Account", map[string]any{"Name": "Kunde 2", "Org_Number__c": "984851006"})
	with := e.emu.AddRecord("Contact", map[string]any{"LastName": "Nordmann", "AccountId": acc, "Proff_Mass_Update__c": true})
	e.emu.AddRecord("Contact", map[string]any{"LastName": "Alone", "Proff_Mass_Update__c": true})
	e.emu.AddRecord("Contact", map[string]any{"LastName": "Elsewhere", "AccountId": gone, "Proff_Mass_Update__c": true})
	e.emu.AddRecord("Contact", map[string]any{"LastName": "Out", "AccountId": acc})

	var points []proff.DataPoint
	var rules []mapping.Rule
	kinds := map[string]mapping.Kind{}
	for point, field := range map[string]string{"name": "Title", "visitorAddress.postPlace": "MailingCity"} {
		dp, err := proff.ResolvePoint(point)
		if err != nil {
			t.Fatal(err)
		}
		points, kinds[dp.Name] = append(points, dp), dp.Kind
		rules = append(rules, mapping.Rule{Point: dp.Name, Field: field, Mode: mapping.Overwrite})
	}
	pc, err := proff.New(proff.Options{BaseURL: pe.URL(), Token: "tok", RatePerSecond: 1000, Points: points})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := massupdate.New(massupdate.Options{Source: e.c, Lookup: pc, Writer: e.c, Store: storetest.New(t),
		Rules: rules, Kinds: kinds, DefaultCountry: "NO", LastSyncedField: "Proff_Last_Synced__c", Concurrency: 2,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.emu.ResetRequests()
	run, err := eng.Run(context.Background(), massupdate.RunRequest{Trigger: massupdate.Manual})
	if err != nil {
		t.Fatal(err)
	}
	c := run.Counts
	if run.Status != massupdate.Succeeded || c.Selected != 3 || c.Updated != 1 || c.MissingOrgNumber != 1 || c.NotFound != 1 {
		t.Fatalf("run %s, counts %+v", run.Status, c)
	}
	if r := e.emu.Record("Contact", with); r["Title"] != "FJORDLYS TEKNOLOGI AS" || r["MailingCity"] != "Oslo" || r["Proff_Last_Synced__c"] == nil {
		t.Fatalf("the Contact: %v", r)
	}
	if r := e.emu.Record("Account", acc); r["Name"] != "Kunde 1" || r["Org_Number__c"] != fjordlys {
		t.Fatalf("the Account changed: %v", r)
	}
	body := writeBodies(e.emu.Requests())
	if body == "" || strings.Contains(body, `"type":"Account"`) || strings.Contains(body, "Org_Number__c") || strings.Contains(body, "Country_Code__c") {
		t.Fatalf("write bodies %s", body)
	}
}
