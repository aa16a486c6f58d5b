package salesforce_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/salesforce"
	"github.com/proffconnect/proffsync/internal/sfemu"
	"github.com/proffconnect/proffsync/internal/transport"
)

const (
	clientID     = "3MVG9-test-client-id"
	clientSecret = "CS-5ecret-d0nt-leak-7731"
	username     = "integration@example.com"
	password     = "PW-pa55word-d0nt-leak-4410"
)

// env is an emulator, a client against it, and everything the client emitted: calls, log lines, sleeps.
type env struct {
	emu   *sfemu.Server
	c     *salesforce.Client
	opts  salesforce.Options
	mu    sync.Mutex
	calls []transport.Call
	clock *clocktest.Clock // retries wait on it: they are recorded, never slept
	logs  bytes.Buffer
}

func (e *env) Calls() []transport.Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]transport.Call(nil), e.calls...)
}

func (e *env) Sleeps() []time.Duration { return e.clock.Sleeps() }

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func setup(t *testing.T, emuOpts sfemu.Options, mod func(*salesforce.Options)) *env {
	t.Helper()
	if emuOpts.ClientID == "" {
		emuOpts.ClientID, emuOpts.ClientSecret, emuOpts.Username, emuOpts.Password = clientID, clientSecret, username, password
	}
	// The clock starts at the wall clock's time: the emulator checks a JWT's expiry on its own (real) clock.
	e := &env{emu: sfemu.New(emuOpts), clock: clocktest.At(time.Now())}
	t.Cleanup(e.emu.Close)
	e.opts = salesforce.Options{
		LoginURL: e.emu.URL(), ClientID: clientID, ClientSecret: clientSecret, Username: username, Password: password,
		APIVersion: "62.0", Object: "Account", OrgNumberField: "Org_Number__c", CountryField: "Country_Code__c",
		OptInField: "Proff_Mass_Update__c", Fields: []string{"Name", "BillingPostalCode", "NumberOfEmployees"},
		LastSyncedField: "Proff_Last_Synced__c", ReservePercent: 10,
		Recorder: transport.RecorderFunc(func(_ context.Context, c transport.Call) {
			e.mu.Lock()
			e.calls = append(e.calls, c)
			e.mu.Unlock()
		}),
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&e.mu, &e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:  e.clock,
	}
	if mod != nil {
		mod(&e.opts)
	}
	c, err := salesforce.New(e.opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.c = c
	return e
}

func (e *env) add(n int, fields func(i int) map[string]any) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.emu.AddRecord("Account", fields(i))
	}
	return ids
}

func optedIn(i int) map[string]any {
	return map[string]any{"Name": fmt.Sprintf("Company %d", i), "Org_Number__c": fmt.Sprintf("9%08d", i),
		"Country_Code__c": "NO", "Proff_Mass_Update__c": true}
}

func readAll(t *testing.T, c *salesforce.Client, afterID string) ([]massupdate.Record, []int) {
	t.Helper()
	var recs []massupdate.Record
	var sizes []int
	err := c.Records(context.Background(), afterID, func(p []massupdate.Record) error {
		recs = append(recs, p...)
		sizes = append(sizes, len(p))
		return nil
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	return recs, sizes
}

func queries(reqs []sfemu.Request) []sfemu.Request {
	var out []sfemu.Request
	for _, r := range reqs {
		if strings.Contains(r.Path, "/query") {
			out = append(out, r)
		}
	}
	return out
}

func TestRecordsOneQueryPagedThroughNextRecordsURL(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.PageSize = 200
		o.Filter = "Type = 'Customer' OR Type = 'Partner'"
	})
	ids := e.add(450, func(i int) map[string]any {
		f := optedIn(i)
		f["Type"] = []string{"Customer", "Partner"}[i%2]
		return f
	})
	e.add(30, func(i int) map[string]any {
		f := optedIn(i)
		f["Proff_Mass_Update__c"] = false
		f["Type"] = "Customer"
		return f
	})
	e.add(30, func(i int) map[string]any { f := optedIn(i); f["Type"] = "Prospect"; return f })
	e.emu.AddRecord("Account", map[string]any{"Name": "Blank org", "Org_Number__c": "  ", "Proff_Mass_Update__c": true, "Type": "Customer"})

	recs, sizes := readAll(t, e.c, "")
	if want := []int{200, 200, 51}; !reflect.DeepEqual(sizes, want) {
		t.Fatalf("page sizes %v, want %v", sizes, want)
	}
	for i, id := range ids {
		if recs[i].ID != id {
			t.Fatalf("record %d: id %s, want %s (Id order)", i, recs[i].ID, id)
		}
	}
	r0 := recs[0]
	if r0.OrgNumber != "900000000" || r0.Country != "NO" {
		t.Errorf("org/country = %q/%q", r0.OrgNumber, r0.Country)
	}
	wantVals := map[string]any{"Name": "Company 0", "BillingPostalCode": nil, "NumberOfEmployees": nil, "Proff_Last_Synced__c": nil}
	if !reflect.DeepEqual(r0.Values, wantVals) {
		t.Errorf("values %v, want %v", r0.Values, wantVals)
	}
	if last := recs[len(recs)-1]; last.OrgNumber != "" || last.Country != "" {
		t.Errorf("blank org number/country read as %q/%q, want empty", last.OrgNumber, last.Country)
	}

	qs := queries(e.emu.Requests())
	if len(qs) != 3 { // the query and two nextRecordsUrl pages
		t.Fatalf("%d query requests, want 3", len(qs))
	}
	first, _ := url.ParseQuery(qs[0].RawQuery)
	wantSOQL := "SELECT Id, Org_Number__c, Country_Code__c, Name, BillingPostalCode, NumberOfEmployees, Proff_Last_Synced__c FROM Account " +
		"WHERE Proff_Mass_Update__c = true AND (Type = 'Customer' OR Type = 'Partner') ORDER BY Id"
	if got := first.Get("q"); got != wantSOQL {
		t.Errorf("SOQL\n got %s\nwant %s", got, wantSOQL)
	}
	for i, q := range qs {
		if got := q.Header.Get("Sforce-Query-Options"); got != "batchSize=200" {
			t.Errorf("query %d: Sforce-Query-Options %q", i, got)
		}
		if i > 0 && (q.RawQuery != "" || !strings.HasPrefix(q.Path, "/services/data/v62.0/query/01g")) {
			t.Errorf("page %d requested %s?%s, want the nextRecordsUrl", i, q.Path, q.RawQuery)
		}
	}

	// Resuming after an Id re-queries with Id > that Id.
	rest, _ := readAll(t, e.c, ids[399])
	if len(rest) != 51 || rest[0].ID != ids[400] {
		t.Fatalf("after %s: %d records starting %s", ids[399], len(rest), rest[0].ID)
	}
	qs = queries(e.emu.Requests())
	last, _ := url.ParseQuery(qs[len(qs)-1].RawQuery)
	if !strings.Contains(last.Get("q"), "AND Id > '"+ids[399]+"' ORDER BY Id") {
		t.Errorf("resume SOQL %s", last.Get("q"))
	}

	n, err := e.c.Count(context.Background())
	if err != nil || n != 451 {
		t.Fatalf("Count = %d, %v; want 451", n, err)
	}
}

// A query cursor Salesforce dropped (15 idle minutes while a page's lookups ran, or an eleventh cursor of
// the same user) does not end the read: the query is issued again after the last record read, and every
// record comes exactly once, in Id order.
func TestRecordsGoOnWhenTheQueryLocatorExpires(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.PageSize = 200 })
	ids := e.add(650, optedIn)
	var recs []massupdate.Record
	err := e.c.Records(context.Background(), "", func(p []massupdate.Record) error {
		recs = append(recs, p...)
		if len(recs) == 200 || len(recs) == 400 {
			e.emu.ExpireQueryLocators()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	if len(recs) != len(ids) {
		t.Fatalf("%d records read, want %d", len(recs), len(ids))
	}
	for i, id := range ids {
		if recs[i].ID != id {
			t.Fatalf("record %d: id %s, want %s", i, recs[i].ID, id)
		}
	}
	var soql []string
	for _, q := range queries(e.emu.Requests()) {
		v, _ := url.ParseQuery(q.RawQuery)
		if s := v.Get("q"); s != "" {
			soql = append(soql, s)
		}
	}
	if len(soql) != 3 || strings.Contains(soql[0], "Id >") || !strings.Contains(soql[1], "AND Id > '"+ids[199]+"' ORDER BY Id") ||
		!strings.Contains(soql[2], "AND Id > '"+ids[399]+"' ORDER BY Id") {
		t.Fatalf("queries %q, want the first, then again after %s and after %s", soql, ids[199], ids[399])
	}

	// Every cursor dropped right after its first page: each page still comes once.
	n := 0
	err = e.c.Records(context.Background(), "", func(p []massupdate.Record) error {
		n++
		e.emu.ExpireQueryLocators()
		return nil
	})
	if err != nil || n != 4 {
		t.Fatalf("expiring after every page: %v after %d pages, want 4 pages", err, n)
	}
}

// nextRecordsUrl is a path in Salesforce's answers; an absolute URL on the instance itself is followed too,
// and one on any other host is refused (the token must not travel there).
func TestRecordsFollowAnAbsoluteNextRecordsURLOnTheInstanceOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		prefix func(self string) string
		ok     bool
	}{
		{"same instance", func(self string) string { return self }, true},
		{"other host", func(string) string { return "https://evil.example.com" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
			defer emu.Close()
			var self string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				emu.Handler().ServeHTTP(rec, r)
				body := rec.Body.String()
				if strings.Contains(r.URL.Path, "/query") {
					body = strings.ReplaceAll(body, `"nextRecordsUrl":"/services`, `"nextRecordsUrl":"`+tc.prefix(self)+`/services`)
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = io.WriteString(w, body)
			}))
			defer srv.Close()
			self = srv.URL
			for i := 0; i < 450; i++ {
				emu.AddRecord("Account", optedIn(i))
			}
			c, err := salesforce.New(salesforce.Options{LoginURL: srv.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
				Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", PageSize: 200})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = c.Records(context.Background(), "", func(p []massupdate.Record) error { n += len(p); return nil })
			if tc.ok && (err != nil || n != 450) {
				t.Fatalf("read %d records, %v; want 450", n, err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "refusing to follow nextRecordsUrl") || n != 200) {
				t.Fatalf("read %d records, %v; want the first page, then the URL refused", n, err)
			}
		})
	}
}

// A converted lead keeps its opt-in but can never be written (CANNOT_UPDATE_CONVERTED_LEAD): it is neither
// read nor counted, so it does not fail again on every run.
func TestConvertedLeadsAreNotSelected(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.Object = "Lead"
		o.Fields = []string{"Company", "PostalCode"}
	})
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, e.emu.AddRecord("Lead", map[string]any{"LastName": fmt.Sprintf("L%d", i), "Company": fmt.Sprintf("Company %d", i),
			"Org_Number__c": fmt.Sprintf("9%08d", i), "Proff_Mass_Update__c": true}))
	}
	e.emu.ConvertLead(ids[1])
	recs, _ := readAll(t, e.c, "")
	if len(recs) != 2 || recs[0].ID != ids[0] || recs[1].ID != ids[2] {
		t.Fatalf("read %+v, want the two leads not converted", recs)
	}
	if n, err := e.c.Count(context.Background()); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2", n, err)
	}
	// What selecting it would cost: a failed record on every run.
	res, err := e.c.Write(context.Background(), []massupdate.Update{{RecordID: ids[1], Fields: map[string]any{"Company": "x"}}})
	if err != nil || len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "CANNOT_UPDATE_CONVERTED_LEAD") {
		t.Fatalf("write to a converted lead: %+v, %v", res, err)
	}
}

func TestRecordsStopsOnPageError(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.PageSize = 200 })
	e.add(500, optedIn)
	stop := errors.New("stop")
	pages := 0
	err := e.c.Records(context.Background(), "", func([]massupdate.Record) error { pages++; return stop })
	if !errors.Is(err, stop) || pages != 1 {
		t.Fatalf("err %v after %d pages, want stop after 1", err, pages)
	}
	if n := len(queries(e.emu.Requests())); n != 1 {
		t.Fatalf("%d queries after the callback failed, want 1", n)
	}
}

func TestNewRejectsInjection(t *testing.T) {
	t.Parallel()
	base := salesforce.Options{LoginURL: "https://example.my.salesforce.com", ClientID: "id", ClientSecret: "s", APIVersion: "62.0",
		Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c"}
	cases := map[string]func(o *salesforce.Options){
		"field with quote":                   func(o *salesforce.Options) { o.Fields = []string{"Name'"} },
		"field with SOQL":                    func(o *salesforce.Options) { o.Fields = []string{"Name FROM Account WHERE Id != null --"} },
		"field with comma":                   func(o *salesforce.Options) { o.Fields = []string{"Name,Phone"} },
		"org field two hops":                 func(o *salesforce.Options) { o.OrgNumberField = "Account.Owner.Name" },
		"org field relation injection":       func(o *salesforce.Options) { o.OrgNumberField = "Account.Name FROM User" },
		"mapped field through a relation":    func(o *salesforce.Options) { o.Fields = []string{"Account.Name"} },
		"opt-in through a relation":          func(o *salesforce.Options) { o.OptInField = "Account.Proff_Mass_Update__c" },
		"last synced through a relation":     func(o *salesforce.Options) { o.LastSyncedField = "Account.Proff_Last_Synced__c" },
		"opt-in OR":                          func(o *salesforce.Options) { o.OptInField = "Proff_Mass_Update__c = true OR Id" },
		"filter breaks out":                  func(o *salesforce.Options) { o.Filter = "Type = 'x') OR (Name != null" },
		"filter open string":                 func(o *salesforce.Options) { o.Filter = "Name = 'x" },
		"filter semicolon":                   func(o *salesforce.Options) { o.Filter = "Name = 'x'; DELETE" },
		"object":                             func(o *salesforce.Options) { o.Object = "Account WHERE" },
		"version with v":                     func(o *salesforce.Options) { o.APIVersion = "v62.0" },
		"version before sObject Collections": func(o *salesforce.Options) { o.APIVersion = "41.0" },
		"plain http":                         func(o *salesforce.Options) { o.LoginURL = "http://login.salesforce.com" },
		"page size":                          func(o *salesforce.Options) { o.PageSize = 5000 },
		"jwt without key":                    func(o *salesforce.Options) { o.Flow = "jwt"; o.Username = "u" },
		"unknown flow":                       func(o *salesforce.Options) { o.Flow = "soap" },
		"last synced bad name":               func(o *salesforce.Options) { o.LastSyncedField = "x y" },
	}
	for name, mod := range cases {
		o := base
		mod(&o)
		if _, err := salesforce.New(o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := salesforce.New(base); err != nil {
		t.Fatalf("base options rejected: %v", err)
	}
	for _, v := range []string{"42.0", "66.0", "100.0"} {
		o := base
		o.APIVersion = v
		if _, err := salesforce.New(o); err != nil {
			t.Errorf("API version %s rejected: %v", v, err)
		}
	}
	o := base
	o.Filter = "(Type = 'a (b' OR Name LIKE 'x\\'y%') AND NOT (Phone = null)"
	if _, err := salesforce.New(o); err != nil {
		t.Fatalf("a well-formed filter rejected: %v", err)
	}
}

func TestRecordsRejectsBadAfterID(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	err := e.c.Records(context.Background(), "001' OR Name != '", func([]massupdate.Record) error { return nil })
	if err == nil {
		t.Fatal("an afterID with a quote was accepted")
	}
	if n := len(e.emu.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

func TestValidateFieldsListsEveryProblem(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.Fields = []string{"Name", "Missing__c", "CreatedDate", "Hidden__c", "BillingAddress"}
		o.LastSyncedField = "Proff_Last_Synced__c"
		o.OptInField = "Org_Number__c" // a string, not a checkbox
		o.CountryField = "No_Country__c"
	})
	e.emu.SetField("Account", mapping.Field{Name: "Proff_Last_Synced__c", Type: "string", Length: 30, Updateable: false})
	e.emu.SetField("Account", mapping.Field{Name: "Hidden__c", Type: "string", Length: 30, Updateable: true})
	e.emu.HideField("Account", "Hidden__c")
	d, err := e.c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = e.c.ValidateFields(d)
	var fe *salesforce.FieldsError
	if !errors.As(err, &fe) {
		t.Fatalf("err %v, want *FieldsError", err)
	}
	// BillingAddress is a compound field: it exists, read-only; it is written through BillingStreet, ….
	want := []string{"Missing__c does not exist", "CreatedDate is not updateable", "Hidden__c does not exist", "BillingAddress is not updateable",
		"Org_Number__c is a string, not a checkbox", "No_Country__c does not exist",
		"Proff_Last_Synced__c is a string, not a datetime", "Proff_Last_Synced__c is not updateable"}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
	if len(fe.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %q", len(fe.Problems), len(want), fe.Problems)
	}
	// A read with unchecked fields describes, refuses, and never sends SOQL.
	err = e.c.Records(context.Background(), "", func([]massupdate.Record) error { return nil })
	if !errors.As(err, &fe) {
		t.Fatalf("Records err %v, want *FieldsError", err)
	}
	if n := len(queries(e.emu.Requests())); n != 0 {
		t.Fatalf("%d queries sent with bad fields", n)
	}
	// The good configuration passes.
	good := setup(t, sfemu.Options{}, nil)
	d, err = good.c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := good.c.ValidateFields(d); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if f := d["NumberOfEmployees"]; f.Type != "int" || !f.Updateable || f.Precision != 8 {
		t.Errorf("describe NumberOfEmployees = %+v", f)
	}
	if f := d["Industry"]; len(f.PicklistValues) == 0 || f.Type != "picklist" {
		t.Errorf("describe Industry = %+v", f)
	}
}

// P4: the set of field names in every recorded write body is Id/id, attributes and the given fields.
func TestWriteSendsOnlyTheGivenFields(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ids := e.add(3, optedIn)
	synced := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	ups := []massupdate.Update{
		{RecordID: ids[0], Fields: map[string]any{"Name": "EQUINOR ASA"}},
		{RecordID: ids[1], Fields: map[string]any{"BillingPostalCode": "4035", "NumberOfEmployees": 21000.0, "Proff_Last_Synced__c": synced}},
		{RecordID: ids[2], Fields: map[string]any{"Proff_Last_Synced__c": synced}},
	}
	if _, err := e.c.Describe(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := e.c.Write(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.RecordID != ups[i].RecordID || r.Err != nil {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	writes := 0
	for _, r := range e.emu.Requests() {
		if r.Method != http.MethodPatch {
			continue
		}
		writes++
		if r.Path != "/services/data/v62.0/composite/sobjects" {
			t.Fatalf("write to %s", r.Path)
		}
		if got := r.Header.Get("Sforce-Duplicate-Rule-Header"); got != "allowSave=true" {
			t.Errorf("Sforce-Duplicate-Rule-Header = %q: duplicate rules set to Allow would fail every write", got)
		}
		var body struct {
			AllOrNone *bool                        `json:"allOrNone"`
			Records   []map[string]json.RawMessage `json:"records"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.AllOrNone == nil || *body.AllOrNone {
			t.Errorf("allOrNone %v, want false", body.AllOrNone)
		}
		for i, rec := range body.Records {
			got := keys(rec)
			want := []string{"attributes", "id"}
			for k := range ups[i].Fields {
				want = append(want, k)
			}
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("record %d carries %v, want %v", i, got, want)
			}
			if string(rec["attributes"]) != `{"type":"Account"}` {
				t.Errorf("attributes %s", rec["attributes"])
			}
		}
	}
	if writes != 1 {
		t.Fatalf("%d writes, want 1", writes)
	}
	if got := e.emu.Record("Account", ids[1]); got["BillingPostalCode"] != "4035" || got["NumberOfEmployees"] != 21000.0 ||
		got["Proff_Last_Synced__c"] != "2026-11-29T02:00:00.000+0000" || got["Name"] != "Company 1" {
		t.Errorf("stored %v", got)
	}

	// A field that is not configured never leaves: refused before any request.
	before := len(e.emu.Requests())
	_, err = e.c.Write(context.Background(), []massupdate.Update{{RecordID: ids[0], Fields: map[string]any{"Name": "x", "Phone": "+47 1"}}})
	if err == nil || !strings.Contains(err.Error(), "Phone") {
		t.Fatalf("unconfigured field: err %v", err)
	}
	if len(e.emu.Requests()) != before {
		t.Fatal("a request was sent with an unconfigured field")
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestWritePartialFailuresAttributedToTheirRecords(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Fields = append(o.Fields, "Sic") })
	ids := e.add(6, optedIn)
	e.emu.FailValidation(ids[1], "Org number must have 9 digits")
	e.emu.DeleteRecord("Account", ids[3])
	e.emu.SetField("Account", mapping.Field{Name: "Sic", Type: "string", Length: 20, Updateable: false, Nillable: true})
	ups := []massupdate.Update{
		{RecordID: ids[0], Fields: map[string]any{"Name": "A"}},
		{RecordID: ids[1], Fields: map[string]any{"Name": "B"}},
		{RecordID: ids[2], Fields: map[string]any{"BillingPostalCode": strings.Repeat("9", 21)}},
		{RecordID: ids[3], Fields: map[string]any{"Name": "D"}},
		{RecordID: ids[4], Fields: map[string]any{"Sic": "1234", "BillingPostalCode": strings.Repeat("8", 25)}},
		{RecordID: ids[5], Fields: map[string]any{"Name": "F"}},
	}
	res, err := e.c.Write(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"", "FIELD_CUSTOM_VALIDATION_EXCEPTION: Org number must have 9 digits",
		"STRING_TOO_LONG: Billing Zip/Postal Code: data value too large: 999999999999999999999 (max length=20)",
		"ENTITY_IS_DELETED: entity is deleted",
		"STRING_TOO_LONG: Billing Zip/Postal Code: data value too large: 8888888888888888888888888 (max length=20); INVALID_FIELD_FOR_INSERT_UPDATE: Unable to create/update fields: Sic. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
		""}
	for i, r := range res {
		got := ""
		if r.Err != nil {
			got = r.Err.Error()
		}
		if r.RecordID != ids[i] || got != want[i] {
			t.Errorf("result %d = %s %q, want %s %q", i, r.RecordID, got, ids[i], want[i])
		}
	}
	if e.emu.Record("Account", ids[0])["Name"] != "A" || e.emu.Record("Account", ids[5])["Name"] != "F" {
		t.Error("the good records were not written")
	}
	if e.emu.Record("Account", ids[1])["Name"] != "Company 1" {
		t.Error("the refused record was written")
	}
	if s := e.Sleeps(); len(s) != 0 {
		t.Errorf("permanent failures were retried: sleeps %v", s)
	}
}

func TestWriteRetriesLockedRowsOnly(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ids := e.add(4, optedIn)
	e.emu.LockRow(ids[1], 2)  // free on the third try
	e.emu.LockRow(ids[2], 99) // never free
	ups := make([]massupdate.Update, len(ids))
	for i, id := range ids {
		ups[i] = massupdate.Update{RecordID: id, Fields: map[string]any{"Name": fmt.Sprintf("N%d", i)}}
	}
	res, err := e.c.Write(context.Background(), ups)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 3} {
		if res[i].Err != nil {
			t.Errorf("record %d: %v", i, res[i].Err)
		}
	}
	var re *salesforce.RecordError
	if !errors.As(res[2].Err, &re) || re.Code() != "UNABLE_TO_LOCK_ROW" {
		t.Fatalf("record 2: %v, want UNABLE_TO_LOCK_ROW", res[2].Err)
	}
	var bodies [][]string
	for _, r := range e.emu.Requests() {
		if r.Method == http.MethodPatch {
			var b struct{ Records []struct{ ID string } }
			_ = json.Unmarshal(r.Body, &b)
			var got []string
			for _, x := range b.Records {
				got = append(got, x.ID)
			}
			bodies = append(bodies, got)
		}
	}
	want := [][]string{ids, {ids[1], ids[2]}, {ids[1], ids[2]}, {ids[2]}}
	if !reflect.DeepEqual(bodies, want) {
		t.Fatalf("write bodies %v, want %v", bodies, want)
	}
	if s := e.Sleeps(); !reflect.DeepEqual(s, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}) {
		t.Errorf("backoff %v", s)
	}
}

func TestSessionExpiryMidReadCostsOneLogin(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.PageSize = 200 })
	e.add(600, optedIn)
	pages := 0
	err := e.c.Records(context.Background(), "", func(p []massupdate.Record) error {
		pages++
		if pages == 2 {
			e.emu.ExpireSessions()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 3 || e.emu.Logins() != 2 {
		t.Fatalf("%d pages, %d logins; want 3 pages, 2 logins", pages, e.emu.Logins())
	}
}

func TestSessionExpiryMidWriteCostsOneLoginEvenWhenConcurrent(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ids := e.add(8, optedIn)
	if err := e.c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.emu.ExpireSessions()
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.c.Write(context.Background(), []massupdate.Update{{RecordID: id, Fields: map[string]any{"Name": "x"}}})
			if err == nil && res[0].Err != nil {
				err = res[0].Err
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if n := e.emu.Logins(); n != 2 {
		t.Fatalf("%d logins, want 2 (the first and one re-login)", n)
	}
}

func TestSecondSessionRejectionIsUnauthorized(t *testing.T) {
	t.Parallel()
	var emu *sfemu.Server
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		// Every session dies as soon as it is issued.
		o.Recorder = transport.RecorderFunc(func(_ context.Context, c transport.Call) {
			if c.Endpoint == "POST /services/oauth2/token" {
				emu.ExpireSessions()
			}
		})
	})
	emu = e.emu
	_, err := e.c.Describe(context.Background())
	if !errors.Is(err, massupdate.ErrUnauthorized) {
		t.Fatalf("err %v, want ErrUnauthorized", err)
	}
	if n := e.emu.Logins(); n != 2 {
		t.Fatalf("%d logins, want 2", n)
	}
}

func TestQuotaExhausted(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ids := e.add(2, optedIn)
	e.emu.SetRequestLimitExceeded(true)
	_, err := e.c.Write(context.Background(), []massupdate.Update{{RecordID: ids[0], Fields: map[string]any{"Name": "x"}}})
	if !errors.Is(err, massupdate.ErrQuotaExhausted) || !strings.Contains(err.Error(), "REQUEST_LIMIT_EXCEEDED") {
		t.Fatalf("err %v, want ErrQuotaExhausted", err)
	}
	if s := e.Sleeps(); len(s) != 0 {
		t.Errorf("REQUEST_LIMIT_EXCEEDED was retried: %v", s)
	}
}

// REQUEST_LIMIT_EXCEEDED also names the org's limit on concurrent long-running requests, which passes as
// they finish: it is retried like a 503, not taken at once for the spent daily allocation.
func TestConcurrentRequestLimitRetried(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ids := e.add(1, optedIn)
	if err := e.c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.emu.FailNextWith(2, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
	res, err := e.c.Write(context.Background(), []massupdate.Update{{RecordID: ids[0], Fields: map[string]any{"Name": "x"}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("Write = %+v, %v; want the record written after the limit passed", res, err)
	}
	if s := e.Sleeps(); !reflect.DeepEqual(s, []time.Duration{time.Second, 2 * time.Second}) {
		t.Fatalf("sleeps %v, want 1s, 2s", s)
	}
	// Still there after every try: the run stops, resumable, saying which limit it was.
	e.emu.FailNextWith(10, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded.")
	_, err = e.c.Describe(context.Background())
	if !errors.Is(err, massupdate.ErrQuotaExhausted) || !strings.Contains(err.Error(), "concurrent request limit") ||
		!strings.Contains(err.Error(), "ConcurrentRequests") || strings.Contains(err.Error(), "daily") {
		t.Fatalf("err %v, want ErrQuotaExhausted naming the concurrent limit", err)
	}
}

func TestReserveStopsBeforeTheAllocationRunsLow(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{APIUsed: 8997, APIMax: 10000}, func(o *salesforce.Options) { o.PageSize = 200 })
	e.add(1000, optedIn)
	d, err := e.c.Describe(context.Background()) // 8998 used: 1002 left, the reserve is 1000
	if err != nil {
		t.Fatal(err)
	}
	if err := e.c.ValidateFields(d); err != nil {
		t.Fatal(err)
	}
	pages := 0
	err = e.c.Records(context.Background(), "", func([]massupdate.Record) error { pages++; return nil })
	if !errors.Is(err, massupdate.ErrQuotaExhausted) || !strings.Contains(err.Error(), "below the 10 % reserve") {
		t.Fatalf("err %v, want the reserve", err)
	}
	if used, _ := e.emu.APIUsage(); used != 9000 || pages != 2 {
		t.Fatalf("used %d after %d pages; want 9000 after 2 (stopped with the reserve untouched)", used, pages)
	}
	u, m, ok := e.c.APIUsage()
	if !ok || u != 9000 || m != 10000 {
		t.Fatalf("APIUsage = %d/%d %v", u, m, ok)
	}
	// Limits still answers below the reserve: `check` needs it then.
	used, max, err := e.c.Limits(context.Background())
	if err != nil || used != 9001 || max != 10000 {
		t.Fatalf("Limits = %d/%d %v", used, max, err)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{APIUsed: 25, APIMax: 5000}, nil)
	used, max, err := e.c.Limits(context.Background())
	if err != nil || used != 26 || max != 5000 {
		t.Fatalf("Limits = %d/%d %v, want 26/5000", used, max, err)
	}
}

// A Client describes once: the mapping check before a run and the run read the same answer, and a caller
// that changes the map it got does not change what the next caller reads.
func TestDescribeOncePerClient(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	ctx := context.Background()
	first, err := e.c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	delete(first, "Name")
	second, err := e.c.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := second["Name"]; !ok {
		t.Error("a caller's change to its describe map reached the next caller")
	}
	n := 0
	for _, rq := range e.emu.Requests() {
		if strings.HasSuffix(rq.Path, "/describe") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d describe requests for two Describe calls, want 1", n)
	}
}

func TestServerErrorsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, nil)
	if err := e.c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.emu.FailNext(1, 503)
	if _, err := e.c.Describe(context.Background()); err != nil {
		t.Fatalf("after one 503: %v", err)
	}
	e.emu.FailNext(2, 502) // an HTML body from a proxy
	e.c.ForgetDescribe()
	if _, err := e.c.Describe(context.Background()); err != nil {
		t.Fatalf("after two 502: %v", err)
	}
	e.emu.FailNext(10, 500)
	e.c.ForgetDescribe()
	_, err := e.c.Describe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "UNKNOWN_EXCEPTION") {
		t.Fatalf("after four 500: %v", err)
	}
	want := []time.Duration{time.Second, time.Second, 2 * time.Second, time.Second, 2 * time.Second, 4 * time.Second}
	if s := e.Sleeps(); !reflect.DeepEqual(s, want) {
		t.Fatalf("sleeps %v, want %v", s, want)
	}
	var attempts []int
	for _, c := range e.Calls() {
		if strings.HasSuffix(c.Endpoint, "/describe") {
			attempts = append(attempts, c.Attempt)
		}
	}
	if !reflect.DeepEqual(attempts, []int{1, 2, 1, 2, 3, 1, 2, 3, 4}) {
		t.Fatalf("attempts %v", attempts)
	}
}

func TestLoginFlows(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	t.Run("client_credentials", func(t *testing.T) {
		e := setup(t, sfemu.Options{}, nil)
		if err := e.c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
		form := tokenForm(t, e.emu)
		if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != clientID || form.Has("username") {
			t.Fatalf("form %v", redact(form))
		}
	})
	t.Run("password", func(t *testing.T) {
		e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Flow = salesforce.FlowPassword })
		if err := e.c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
		if form := tokenForm(t, e.emu); form.Get("grant_type") != "password" || form.Get("username") != username {
			t.Fatalf("form %v", redact(form))
		}
	})
	t.Run("jwt", func(t *testing.T) {
		e := setup(t, sfemu.Options{JWTPublicKey: &key.PublicKey}, func(o *salesforce.Options) {
			o.Flow = salesforce.FlowJWT
			o.ClientSecret, o.Password = "", ""
			o.JWTKey = pemKey(key)
		})
		if err := e.c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Describe(context.Background()); err != nil {
			t.Fatal(err)
		}
		if form := tokenForm(t, e.emu); form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || form.Get("assertion") == "" {
			t.Fatalf("form %v", redact(form))
		}
	})
	t.Run("jwt with another key", func(t *testing.T) {
		other := testKey(t)
		e := setup(t, sfemu.Options{JWTPublicKey: &other.PublicKey}, func(o *salesforce.Options) {
			o.Flow = salesforce.FlowJWT
			o.JWTKey = pemKey(key)
		})
		err := e.c.Login(context.Background())
		if !errors.Is(err, massupdate.ErrUnauthorized) || !strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("err %v", err)
		}
	})
}

func tokenForm(t *testing.T, emu *sfemu.Server) url.Values {
	t.Helper()
	for _, r := range emu.Requests() {
		if r.Path == "/services/oauth2/token" {
			if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				t.Fatalf("token request %s %s", r.Method, r.Header.Get("Content-Type"))
			}
			f, err := url.ParseQuery(string(r.Body))
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatal("no token request")
	return nil
}

func redact(f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		if k == "client_secret" || k == "password" || k == "assertion" {
			v = []string{"…"}
		}
		out[k] = v
	}
	return out
}

func TestInstanceURLMustPassThePolicy(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"00Dxx!tok","instance_url":"http://na1.example.com","token_type":"Bearer","extra":1}`)
	}))
	defer srv.Close()
	c, err := salesforce.New(salesforce.Options{LoginURL: srv.URL, ClientID: "id", ClientSecret: "secret-1234", APIVersion: "62.0",
		Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c"})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Login(context.Background())
	if err == nil || !strings.Contains(err.Error(), "instance_url") || !strings.Contains(err.Error(), "https") {
		t.Fatalf("err %v, want the instance URL refused", err)
	}
}

func TestContextCancelsAnInFlightCall(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 10)
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
		o.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			started <- struct{}{}
			return http.DefaultTransport.RoundTrip(r)
		})
	})
	if err := e.c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-started
	e.emu.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := e.c.Describe(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	calls := e.Calls()
	if last := calls[len(calls)-1]; last.ErrorClass != transport.ClassCanceled || !strings.HasSuffix(last.Endpoint, "/describe") {
		t.Fatalf("last call %+v", last)
	}
	if s := e.Sleeps(); len(s) != 0 {
		t.Fatalf("a cancelled call was retried: %v", s)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// P7: every request carries a fresh Correlation-ID, and the technical-log Call of that request has it.
func TestCorrelationIDsJoinTheTechnicalLog(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.PageSize = 200 })
	ids := e.add(250, optedIn)
	ctx := runctx.WithRunID(context.Background(), "run-42")
	e.emu.FailNext(1, 503)
	readAllCtx(t, e.c, ctx)
	e.emu.ExpireSessions()
	if _, err := e.c.Write(ctx, []massupdate.Update{{RecordID: ids[0], Fields: map[string]any{"Name": "x"}}}); err != nil {
		t.Fatal(err)
	}
	reqs, calls := e.emu.Requests(), e.Calls()
	if len(reqs) != len(calls) || len(reqs) < 7 {
		t.Fatalf("%d requests, %d calls", len(reqs), len(calls))
	}
	seen := map[string]bool{}
	for i, r := range reqs {
		id := r.Header.Get("Correlation-ID")
		if id == "" || seen[id] {
			t.Fatalf("request %d: correlation id %q (empty or reused)", i, id)
		}
		seen[id] = true
		c := calls[i]
		if c.CorrelationID != id || c.Service != "salesforce" || c.Method != r.Method || c.RunID != "run-42" {
			t.Errorf("request %d %s %s: call %+v", i, r.Method, r.Path, c)
		}
		if strings.Contains(c.Endpoint, "001") || strings.Contains(c.Endpoint, "01g") {
			t.Errorf("endpoint %q holds an id", c.Endpoint)
		}
	}
	var eps []string
	for _, c := range calls {
		eps = append(eps, fmt.Sprintf("%s %d %d", c.Endpoint, c.Status, c.Attempt))
	}
	want := []string{
		"POST /services/oauth2/token 503 1", "POST /services/oauth2/token 200 2",
		"GET /services/data/v{version}/sobjects/{object}/describe 200 1",
		"GET /services/data/v{version}/query 200 1", "GET /services/data/v{version}/query/{locator} 200 1",
		"PATCH /services/data/v{version}/composite/sobjects 401 1", "POST /services/oauth2/token 200 1",
		"PATCH /services/data/v{version}/composite/sobjects 200 2",
	}
	if !reflect.DeepEqual(eps, want) {
		t.Fatalf("calls\n%s\nwant\n%s", strings.Join(eps, "\n"), strings.Join(want, "\n"))
	}
}

func readAllCtx(t *testing.T, c *salesforce.Client, ctx context.Context) {
	t.Helper()
	if err := c.Records(ctx, "", func([]massupdate.Record) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// P1: no secret and no access token in any error, technical-log Call or log line, on success and failure.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Flow = salesforce.FlowPassword; o.PageSize = 200 })
	ids := e.add(300, optedIn)
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	ctx := context.Background()
	collect(e.c.Login(ctx))
	readAllCtx(t, e.c, ctx)
	e.emu.ExpireSessions()
	e.emu.FailNext(1, 500)
	res, err := e.c.Write(ctx, []massupdate.Update{{RecordID: ids[0], Fields: map[string]any{"Name": strings.Repeat("x", 300)}}})
	collect(err)
	if len(res) == 1 {
		collect(res[0].Err)
	}
	e.emu.FailNext(10, 503)
	_, err = e.c.Describe(ctx)
	collect(err)
	e.emu.SetRequestLimitExceeded(true)
	_, err = e.c.Count(ctx)
	collect(err)

	// Login failures of every flow, with the wrong secret.
	for _, flow := range []string{salesforce.FlowClientCredentials, salesforce.FlowPassword} {
		bad := setup(t, sfemu.Options{}, func(o *salesforce.Options) {
			o.Flow = flow
			o.ClientSecret = "WRONG-" + clientSecret
			o.Password = "WRONG-" + password
		})
		err := bad.c.Login(ctx)
		if !errors.Is(err, massupdate.ErrUnauthorized) || !strings.Contains(err.Error(), "invalid_client: invalid client credentials") {
			t.Fatalf("%s: err %v, want Salesforce's error and description", flow, err)
		}
		collect(err)
		for _, c := range bad.Calls() {
			e.calls = append(e.calls, c)
		}
		e.logs.Write(bad.logs.Bytes())
	}
	wrongUser := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Flow = salesforce.FlowPassword; o.Password = "WRONG-" + password })
	err = wrongUser.c.Login(ctx)
	if !errors.Is(err, massupdate.ErrUnauthorized) || !strings.Contains(err.Error(), "invalid_grant: authentication failure") {
		t.Fatalf("err %v", err)
	}
	collect(err)

	if len(errs) < 5 {
		t.Fatalf("only %d errors collected: %v", len(errs), errs)
	}
	var tokens []string
	for _, r := range e.emu.Requests() {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tokens = append(tokens, tok)
		}
	}
	if len(tokens) == 0 {
		t.Fatal("no access token seen")
	}
	var hay strings.Builder
	for _, err := range errs {
		hay.WriteString(err.Error() + "\n")
	}
	for _, c := range e.Calls() {
		fmt.Fprintf(&hay, "%+v\n", c)
	}
	hay.WriteString(e.logs.String())
	for _, secret := range append([]string{clientSecret, password, "Bearer "}, tokens...) {
		if strings.Contains(hay.String(), secret) {
			t.Errorf("%q leaked into errors, calls or logs", secret)
		}
	}
	if !strings.Contains(e.logs.String(), "logging in again") {
		t.Errorf("the re-login was not logged: %s", e.logs.String())
	}
}

func TestTimeoutsRetried(t *testing.T) {
	t.Parallel()
	e := setup(t, sfemu.Options{}, func(o *salesforce.Options) { o.Timeout = 30 * time.Millisecond })
	if err := e.c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.emu.SetLatency(time.Hour) // the emulator gives up when the client goes away
	_, err := e.c.Describe(context.Background())
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want a timeout", err)
	}
	var got []string
	for _, c := range e.Calls() {
		if strings.HasSuffix(c.Endpoint, "/describe") {
			class := c.ErrorClass
			if class == transport.ClassNetwork { // a timed-out request can also surface as a reset connection
				class = transport.ClassTimeout
			}
			got = append(got, fmt.Sprintf("%d %d %s", c.Attempt, c.Status, class))
		}
	}
	if want := []string{"1 0 timeout", "2 0 timeout", "3 0 timeout", "4 0 timeout"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
}

// P6: over TLS with the emulator on an https listener; the instance_url from the token answer is https too.
func TestOverTLS(t *testing.T) {
	t.Parallel()
	emu := sfemu.New(sfemu.Options{ClientID: clientID, ClientSecret: clientSecret})
	defer emu.Close()
	ts := httptest.NewTLSServer(emu.Handler())
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	c, err := salesforce.New(salesforce.Options{LoginURL: ts.URL, ClientID: clientID, ClientSecret: clientSecret, APIVersion: "62.0",
		Object: "Lead", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c", Fields: []string{"Company"}, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	emu.AddRecord("Lead", map[string]any{"LastName": "Nordmann", "Company": "Acme AS", "Org_Number__c": "923609016", "Proff_Mass_Update__c": true})
	recs, _ := readAll(t, c, "")
	if len(recs) != 1 || recs[0].Values["Company"] != "Acme AS" || recs[0].OrgNumber != "923609016" || !strings.HasPrefix(recs[0].ID, "00Q") {
		t.Fatalf("records %+v", recs)
	}
	for _, r := range emu.Requests() {
		if r.Header.Get("Authorization") != "" && !strings.HasPrefix(r.Path, "/services/data/v62.0/") {
			t.Errorf("unexpected request %s", r.Path)
		}
	}
}

// The JWT's audience is the authorization server Salesforce names (login or test), never the My Domain the
// assertion is posted to: a real org refuses that with "audience is invalid".
func TestJWTAudience(t *testing.T) {
	t.Parallel()
	key := testKey(t)
	for login, want := range map[string]string{
		"https://acme.my.salesforce.com":               "https://login.salesforce.com",
		"https://login.salesforce.com":                 "https://login.salesforce.com",
		"https://acme--uat.sandbox.my.salesforce.com":  "https://test.salesforce.com",
		"https://test.salesforce.com":                  "https://test.salesforce.com",
		"https://ACME--Dev.Sandbox.My.Salesforce.com/": "https://test.salesforce.com",
	} {
		var aud any
		var posted string
		c, err := salesforce.New(salesforce.Options{LoginURL: login, Flow: salesforce.FlowJWT, ClientID: clientID, Username: username,
			JWTKey: pemKey(key), APIVersion: "62.0", Object: "Account", OrgNumberField: "Org_Number__c", OptInField: "Proff_Mass_Update__c",
			Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				posted = r.URL.Scheme + "://" + r.URL.Host
				body, _ := io.ReadAll(r.Body)
				form, _ := url.ParseQuery(string(body))
				parts := strings.Split(form.Get("assertion"), ".")
				if len(parts) == 3 {
					raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
					var claims map[string]any
					_ = json.Unmarshal(raw, &claims)
					aud = claims["aud"]
				}
				return &http.Response{StatusCode: 400, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
					Body: io.NopCloser(strings.NewReader(`{"error":"invalid_grant","error_description":"audience is invalid"}`))}, nil
			})})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Login(context.Background())
		if aud != want || !strings.EqualFold(posted, strings.TrimSuffix(login, "/")) {
			t.Errorf("login URL %s: aud %v posted to %s, want aud %s posted to the login URL", login, aud, posted, want)
		}
	}
}
