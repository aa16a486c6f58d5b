package sfemu_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/sfemu"
)

func newEmu(t *testing.T, o sfemu.Options) *sfemu.Server {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret, o.Username, o.Password = "cid", "csecret", "user@example.com", "pw"
	}
	s := sfemu.New(o)
	t.Cleanup(s.Close)
	return s
}

func login(t *testing.T, s *sfemu.Server) string {
	t.Helper()
	status, body, _ := do(t, s, "", http.MethodPost, "/services/oauth2/token", "application/x-www-form-urlencoded",
		"grant_type=client_credentials&client_id=cid&client_secret=csecret")
	if status != 200 {
		t.Fatalf("login %d %s", status, body)
	}
	var tok struct{ AccessToken, InstanceURL string }
	var m map[string]string
	_ = json.Unmarshal(body, &m)
	tok.AccessToken, tok.InstanceURL = m["access_token"], m["instance_url"]
	if tok.AccessToken == "" || tok.InstanceURL != s.URL() || m["token_type"] != "Bearer" || m["issued_at"] == "" {
		t.Fatalf("token answer %s", body)
	}
	return tok.AccessToken
}

func do(t *testing.T, s *sfemu.Server, token, method, path, ctype, body string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

type queryResult struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

func query(t *testing.T, s *sfemu.Server, tok, soql string) (int, queryResult, []byte) {
	t.Helper()
	status, body, _ := do(t, s, tok, http.MethodGet, "/services/data/v62.0/query?q="+url.QueryEscape(soql), "", "")
	var r queryResult
	if status == 200 {
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
	}
	return status, r, body
}

func seed(s *sfemu.Server) []string {
	rows := []map[string]any{
		{"Name": "Equinor ASA", "Type": "Customer", "NumberOfEmployees": 21000, "Proff_Mass_Update__c": true, "BillingCity": "Stavanger"},
		{"Name": "DNB Bank", "Type": "Partner", "NumberOfEmployees": 9000, "Proff_Mass_Update__c": true},
		{"Name": "Telenor", "Type": "Customer", "Proff_Mass_Update__c": false, "BillingCity": "Fornebu"},
		{"Name": "Kid's Shop", "Type": "Prospect", "NumberOfEmployees": 3, "Proff_Mass_Update__c": true, "BillingCity": ""},
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, s.AddRecord("Account", r))
	}
	return ids
}

func names(r queryResult) []string {
	var out []string
	for _, rec := range r.Records {
		n, _ := rec["Name"].(string)
		out = append(out, n)
	}
	return out
}

func TestSOQL(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	ids := seed(s)
	tok := login(t, s)
	cases := []struct {
		soql string
		want []string
	}{
		{"SELECT Id, Name FROM Account", []string{"Equinor ASA", "DNB Bank", "Telenor", "Kid's Shop"}},
		{"select name from account where proff_mass_update__c = TRUE order by name", []string{"DNB Bank", "Equinor ASA", "Kid's Shop"}},
		{"SELECT Name FROM Account WHERE Proff_Mass_Update__c = true AND (Type = 'Customer' OR Type = 'Partner') ORDER BY Id", []string{"Equinor ASA", "DNB Bank"}},
		{"SELECT Name FROM Account WHERE NOT (Type = 'customer') ORDER BY Name DESC", []string{"Kid's Shop", "DNB Bank"}},
		{"SELECT Name FROM Account WHERE Type IN ('Partner', 'Prospect')", []string{"DNB Bank", "Kid's Shop"}},
		{"SELECT Name FROM Account WHERE Type NOT IN ('Partner', 'Prospect')", []string{"Equinor ASA", "Telenor"}},
		{"SELECT Name FROM Account WHERE Name LIKE '%NOR%' AND Name != 'Telenor'", []string{"Equinor ASA"}},
		{`SELECT Name FROM Account WHERE Name LIKE 'Kid\'s%'`, []string{"Kid's Shop"}},
		{"SELECT Name FROM Account WHERE NumberOfEmployees >= 9000 ORDER BY NumberOfEmployees", []string{"DNB Bank", "Equinor ASA"}},
		{"SELECT Name FROM Account WHERE NumberOfEmployees < 9000", []string{"Kid's Shop"}},
		{"SELECT Name FROM Account WHERE NumberOfEmployees = null", []string{"Telenor"}},
		{"SELECT Name FROM Account WHERE BillingCity = null ORDER BY Name", []string{"DNB Bank", "Kid's Shop"}}, // blank is null
		{"SELECT Name FROM Account WHERE BillingCity <> null", []string{"Equinor ASA", "Telenor"}},
		{"SELECT Name FROM Account ORDER BY BillingCity NULLS LAST, Name LIMIT 3", []string{"Telenor", "Equinor ASA", "DNB Bank"}},
		{"SELECT Name FROM Account WHERE Id > '" + ids[1] + "' ORDER BY Id", []string{"Telenor", "Kid's Shop"}},
		{"SELECT Name FROM Account WHERE CreatedDate > 2000-01-01T00:00:00Z LIMIT 1", []string{"Equinor ASA"}},
		{"SELECT Name FROM Account ORDER BY Id LIMIT 2 OFFSET 1", []string{"DNB Bank", "Telenor"}},
	}
	for _, c := range cases {
		status, r, body := query(t, s, tok, c.soql)
		if status != 200 {
			t.Errorf("%s: %d %s", c.soql, status, body)
			continue
		}
		if got := names(r); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s\n got %q\nwant %q", c.soql, got, c.want)
		}
		if r.TotalSize != len(c.want) || !r.Done {
			t.Errorf("%s: totalSize %d done %v", c.soql, r.TotalSize, r.Done)
		}
	}
	_, r, _ := query(t, s, tok, "SELECT COUNT() FROM Account WHERE Proff_Mass_Update__c = true")
	if r.TotalSize != 3 || len(r.Records) != 0 {
		t.Errorf("COUNT() = %+v", r)
	}
	_, r, _ = query(t, s, tok, "SELECT Id, Name, NumberOfEmployees FROM Account LIMIT 1")
	rec := r.Records[0]
	attrs, _ := rec["attributes"].(map[string]any)
	if attrs["type"] != "Account" || attrs["url"] != "/services/data/v62.0/sobjects/Account/"+ids[0] || rec["NumberOfEmployees"] != 21000.0 || rec["Id"] != ids[0] {
		t.Errorf("record shape %v", rec)
	}
	if len(ids[0]) != 18 || !strings.HasPrefix(ids[0], "001") || ids[0] >= ids[1] {
		t.Errorf("ids %v", ids)
	}
}

func TestSOQLErrors(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	tok := login(t, s)
	cases := map[string]string{
		"SELECT Id, Nope__c FROM Account":                                       "INVALID_FIELD",
		"SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Phone = 'c'": "MALFORMED_QUERY",
		"SELECT Id FROM Account WHERE Name = 'a":                                "MALFORMED_QUERY",
		"SELECT Id FROM Account WHERE (Name = 'a'":                              "MALFORMED_QUERY",
		"SELECT Id FROM Accountz":                                               "INVALID_TYPE",
		"SELECT Id FROM Account WHERE Proff_Mass_Update__c = 'true'":            "INVALID_FIELD",
		"SELECT Id FROM Account WHERE NumberOfEmployees = '5'":                  "INVALID_FIELD",
		"SELECT Id FROM Account WHERE Name = 5":                                 "INVALID_FIELD",
		"SELECT Id, Id FROM Account":                                            "MALFORMED_QUERY",
		"SELECT Id FROM Account; DELETE":                                        "MALFORMED_QUERY",
		"SELECT Owner.Name FROM Account":                                        "INVALID_FIELD",
		"":                                                                      "MALFORMED_QUERY",
	}
	for soql, code := range cases {
		status, _, body := query(t, s, tok, soql)
		var errs []struct{ Message, ErrorCode string }
		if err := json.Unmarshal(body, &errs); err != nil || status != 400 || len(errs) != 1 || errs[0].ErrorCode != code {
			t.Errorf("%q: %d %s, want 400 %s", soql, status, body, code)
		}
	}
}

func TestQueryPaging(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	for i := 0; i < 450; i++ {
		s.AddRecord("Account", map[string]any{"Name": "n", "Proff_Mass_Update__c": i%10 != 0})
	}
	tok := login(t, s)
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/services/data/v62.0/query?q="+url.QueryEscape("SELECT Id FROM Account WHERE Proff_Mass_Update__c = true ORDER BY Id"), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Sforce-Query-Options", "batchSize=200")
	var pages []int
	var last string
	for {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var r queryResult
		_ = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if r.TotalSize != 405 {
			t.Fatalf("totalSize %d", r.TotalSize)
		}
		for _, rec := range r.Records {
			if id := rec["Id"].(string); id <= last {
				t.Fatalf("ids out of order: %s after %s", id, last)
			} else {
				last = id
			}
		}
		pages = append(pages, len(r.Records))
		if r.Done {
			if r.NextRecordsURL != "" {
				t.Fatal("done with a nextRecordsUrl")
			}
			break
		}
		if !strings.HasPrefix(r.NextRecordsURL, "/services/data/v62.0/query/01g") {
			t.Fatalf("nextRecordsUrl %q", r.NextRecordsURL)
		}
		req, _ = http.NewRequest(http.MethodGet, s.URL()+r.NextRecordsURL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if !reflect.DeepEqual(pages, []int{200, 200, 5}) {
		t.Fatalf("pages %v", pages)
	}
}

func TestAuthAndLimits(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	s := newEmu(t, sfemu.Options{JWTPublicKey: &key.PublicKey, APIUsed: 10, APIMax: 12})
	for form, want := range map[string]string{
		"grant_type=client_credentials&client_id=cid&client_secret=nope":                    "invalid_client",
		"grant_type=client_credentials&client_id=nope&client_secret=csecret":                "invalid_client_id",
		"grant_type=password&client_id=cid&client_secret=csecret&username=user@example.com": "invalid_grant",
		"grant_type=authorization_code":                                                     "unsupported_grant_type",
		"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=a.b.c":            "invalid_grant",
	} {
		status, body, _ := do(t, s, "", http.MethodPost, "/services/oauth2/token", "application/x-www-form-urlencoded", form)
		var e map[string]string
		if json.Unmarshal(body, &e) != nil || status != 400 || e["error"] != want || e["error_description"] == "" {
			t.Errorf("%s: %d %s, want 400 %s", form, status, body, want)
		}
	}
	// A signed assertion logs in when its audience is the authorization server; the host it is posted to
	// (a My Domain, here the emulator's URL) is not an audience Salesforce accepts.
	jwtLogin := func(aud string) (int, []byte) {
		enc := base64.RawURLEncoding
		claims, _ := json.Marshal(map[string]any{"iss": "cid", "sub": "user@example.com", "aud": aud, "exp": time.Now().Add(time.Minute).Unix()})
		signing := enc.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + enc.EncodeToString(claims)
		sum := sha256.Sum256([]byte(signing))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
		status, body, _ := do(t, s, "", http.MethodPost, "/services/oauth2/token", "application/x-www-form-urlencoded",
			"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion="+signing+"."+enc.EncodeToString(sig))
		return status, body
	}
	if status, body := jwtLogin("https://login.salesforce.com"); status != 200 {
		t.Fatalf("jwt login: %d %s", status, body)
	}
	for _, aud := range []string{s.URL(), "https://acme.my.salesforce.com"} {
		if status, body := jwtLogin(aud); status != 400 || !strings.Contains(string(body), `"error":"invalid_grant"`) || !strings.Contains(string(body), "audience") {
			t.Errorf("jwt login with aud %s: %d %s, want 400 invalid_grant (audience)", aud, status, body)
		}
	}

	tok := login(t, s)
	status, body, h := do(t, s, tok, http.MethodGet, "/services/data/v62.0/limits", "", "")
	if status != 200 || h.Get("Sforce-Limit-Info") != "api-usage=11/12; api-bursts=1/750" || !strings.Contains(string(body), `"DailyApiRequests":{"Max":12,"Remaining":1}`) {
		t.Fatalf("limits %d %s %s", status, h.Get("Sforce-Limit-Info"), body)
	}
	status, _, h = do(t, s, "bad", http.MethodGet, "/services/data/v62.0/limits", "", "")
	if status != 401 || h.Get("Sforce-Limit-Info") != "" {
		t.Fatalf("bad token: %d", status)
	}
	do(t, s, tok, http.MethodGet, "/services/data/v62.0/limits", "", "") // 12 of 12
	status, body, _ = do(t, s, tok, http.MethodGet, "/services/data/v62.0/limits", "", "")
	if status != 403 || !strings.Contains(string(body), `"errorCode":"REQUEST_LIMIT_EXCEEDED"`) {
		t.Fatalf("over the limit: %d %s", status, body)
	}
	s.SetAPIUsage(0, 100)
	s.ExpireSessions()
	status, body, _ = do(t, s, tok, http.MethodGet, "/services/data/v62.0/limits", "", "")
	if status != 401 || !strings.Contains(string(body), `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`) {
		t.Fatalf("expired: %d %s", status, body)
	}
	status, _, _ = do(t, s, login(t, s), http.MethodGet, "/services/data/62.0/limits", "", "")
	if status != 404 {
		t.Fatalf("version without v: %d", status)
	}
	// sObject Collections came with 42.0.
	status, body, _ = do(t, s, login(t, s), http.MethodPatch, "/services/data/v41.0/composite/sobjects", "application/json", `{"records":[]}`)
	if status != 404 || !strings.Contains(string(body), "NOT_FOUND") {
		t.Fatalf("collections in v41.0: %d %s", status, body)
	}
}

func TestWrites(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	ids := seed(s)
	tok := login(t, s)
	s.SetField("Account", mapping.Field{Name: "Sic", Type: "string", Length: 20, Updateable: false, Nillable: true})
	s.FailValidation(ids[1], "Name must not be shouted")
	s.LockRow(ids[2], 1)
	s.DeleteRecord("Account", ids[3])
	body := `{"allOrNone":false,"records":[
		{"attributes":{"type":"Account"},"id":"` + ids[0] + `","Name":"EQUINOR ASA","NumberOfEmployees":22000,"BillingPostalCode":"4035"},
		{"attributes":{"type":"Account"},"id":"` + ids[1] + `","Name":"DNB"},
		{"attributes":{"type":"Account"},"id":"` + ids[2] + `","Name":"x"},
		{"attributes":{"type":"Account"},"id":"` + ids[3] + `","Name":"x"},
		{"attributes":{"type":"Account"},"id":"` + ids[0] + `","Sic":"1","BillingCity":"` + strings.Repeat("a", 41) + `"}]}`
	status, resp, _ := do(t, s, tok, http.MethodPatch, "/services/data/v62.0/composite/sobjects", "application/json", body)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	var res []struct {
		ID      string `json:"id"`
		Success bool   `json:"success"`
		Errors  []struct {
			StatusCode string   `json:"statusCode"`
			Message    string   `json:"message"`
			Fields     []string `json:"fields"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(resp, &res); err != nil {
		t.Fatal(err)
	}
	codes := make([]string, len(res))
	for i, r := range res {
		for _, e := range r.Errors {
			codes[i] += e.StatusCode + " "
		}
		if r.ID == "" || r.Success != (codes[i] == "") {
			t.Errorf("result %d %+v", i, r)
		}
	}
	want := []string{"", "FIELD_CUSTOM_VALIDATION_EXCEPTION ", "UNABLE_TO_LOCK_ROW ", "ENTITY_IS_DELETED ", "STRING_TOO_LONG INVALID_FIELD_FOR_INSERT_UPDATE "}
	if !reflect.DeepEqual(codes, want) {
		t.Fatalf("codes %q, want %q", codes, want)
	}
	if !bytes.Contains(resp, []byte(`"message":"Billing City: data value too large: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (max length=40)","fields":["BillingCity"]`)) {
		t.Errorf("STRING_TOO_LONG shape: %s", resp)
	}
	if got := s.Record("Account", ids[0]); got["Name"] != "EQUINOR ASA" || got["NumberOfEmployees"] != 22000.0 || got["BillingCity"] != "Stavanger" {
		t.Errorf("stored %v", got)
	}
	// The lock was for one write only.
	status, _, _ = do(t, s, tok, http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+ids[2], "application/json", `{"Name":"Telenor ASA"}`)
	if status != 204 || s.Record("Account", ids[2])["Name"] != "Telenor ASA" {
		t.Fatalf("single PATCH: %d", status)
	}
	// Whole-request refusals.
	for b, code := range map[string]string{
		`{"allOrNone":false,"records":[{"attributes":{"type":"Account"},"id":"` + ids[0] + `","Nope__c":"x"}]}`:                                                                      "INVALID_FIELD",
		`{"allOrNone":false,"records":[{"attributes":{"type":"Account"},"id":"` + ids[0] + `","NumberOfEmployees":"many"}]}`:                                                         "JSON_PARSER_ERROR",
		`{"allOrNone":false,"records":[{"id":"` + ids[0] + `","Name":"x"}]}`:                                                                                                         "INVALID_TYPE",
		`{"allOrNone":false,"records":[` + strings.Repeat(`{"attributes":{"type":"Account"},"id":"`+ids[0]+`"},`, 200) + `{"attributes":{"type":"Account"},"id":"` + ids[0] + `"}]}`: "EXCEEDED_ID_LIMIT",
	} {
		status, resp, _ := do(t, s, tok, http.MethodPatch, "/services/data/v62.0/composite/sobjects", "application/json", b)
		if status != 400 || !strings.Contains(string(resp), `"errorCode":"`+code+`"`) {
			t.Errorf("%.80s…: %d %s, want 400 %s", b, status, resp, code)
		}
	}
	status, resp, _ = do(t, s, tok, http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+ids[3], "application/json", `{"Name":"x"}`)
	if status != 404 || !strings.Contains(string(resp), "ENTITY_IS_DELETED") {
		t.Errorf("PATCH deleted: %d %s", status, resp)
	}
}

func TestFaultsAndRequestLog(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	tok := login(t, s)
	s.FailNext(2, 503)
	for i := 0; i < 2; i++ {
		if status, _, _ := do(t, s, tok, http.MethodGet, "/services/data/v62.0/limits", "", ""); status != 503 {
			t.Fatalf("FailNext: %d", status)
		}
	}
	s.FailNext(1, 502)
	status, body, _ := do(t, s, tok, http.MethodGet, "/services/data/v62.0/limits", "", "")
	if status != 502 || !strings.HasPrefix(string(body), "<html>") {
		t.Fatalf("502: %d %s", status, body)
	}
	if status, _, _ := do(t, s, tok, http.MethodGet, "/services/data/v62.0/sobjects/Lead/describe", "", ""); status != 200 {
		t.Fatalf("after the faults: %d", status)
	}
	reqs := s.Requests()
	if len(reqs) != 5 || reqs[0].Path != "/services/oauth2/token" || !strings.Contains(string(reqs[0].Body), "client_secret=csecret") ||
		reqs[4].Path != "/services/data/v62.0/sobjects/Lead/describe" || reqs[4].Header.Get("Authorization") != "Bearer "+tok {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestDescribe(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	tok := login(t, s)
	s.SetField("Lead", mapping.Field{Name: "Company", Type: "string", Length: 255, Updateable: false})
	s.SetField("Lead", mapping.Field{Name: "Revenue_Band__c", Type: "picklist", Updateable: true, PicklistValues: []string{"S", "M"}, RestrictedPicklist: true})
	status, body, _ := do(t, s, tok, http.MethodGet, "/services/data/v62.0/sobjects/Lead/describe", "", "")
	if status != 200 {
		t.Fatal(status)
	}
	var d struct {
		Name   string
		Fields []struct {
			Name, Type               string
			Updateable               bool
			Length                   int
			Precision, Scale, Digits int
			Custom                   bool
			PicklistValues           []struct {
				Active bool
				Value  string
			}
		}
	}
	_ = json.Unmarshal(body, &d)
	got := map[string]string{}
	for _, f := range d.Fields {
		got[f.Name] = f.Type
		switch f.Name {
		case "Company":
			if f.Updateable {
				t.Error("Company still updateable")
			}
		case "Revenue_Band__c":
			if !f.Custom || len(f.PicklistValues) != 2 || !f.PicklistValues[0].Active {
				t.Errorf("custom picklist %+v", f)
			}
		case "NumberOfEmployees": // as Salesforce describes an int: its size in digits, precision and scale 0
			if f.Digits != 8 || f.Precision != 0 || f.Scale != 0 {
				t.Errorf("int field %+v, want digits 8, precision 0, scale 0", f)
			}
		case "Address": // compound: read-only, written through Street, City, …
			if f.Updateable {
				t.Error("Address updateable")
			}
		case "AnnualRevenue":
			if f.Precision != 18 || f.Digits != 0 {
				t.Errorf("currency field %+v, want precision 18, digits 0", f)
			}
		}
	}
	for name, typ := range map[string]string{"Id": "id", "Company": "string", "PostalCode": "string", "NumberOfEmployees": "int",
		"AnnualRevenue": "currency", "Org_Number__c": "string", "Country_Code__c": "string", "Proff_Mass_Update__c": "boolean",
		"Proff_Last_Synced__c": "datetime", "Website": "url", "Phone": "phone", "Description": "textarea", "Industry": "picklist",
		"Address": "address"} {
		if got[name] != typ {
			t.Errorf("%s: type %q, want %q", name, got[name], typ)
		}
	}
}

// Query cursors end as Salesforce's do: after 15 idle minutes, when an eleventh is opened (the oldest goes),
// and on ExpireQueryLocators; nextRecordsUrl then answers 400 INVALID_QUERY_LOCATOR.
func TestQueryLocatorsExpire(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := newEmu(t, sfemu.Options{Now: clock})
	for i := 0; i < 2001; i++ {
		s.AddRecord("Account", map[string]any{"Name": "n"})
	}
	tok := login(t, s)
	open := func() string {
		status, r, body := query(t, s, tok, "SELECT Id FROM Account ORDER BY Id")
		if status != 200 || r.Done || r.NextRecordsURL == "" {
			t.Fatalf("query: %d %s", status, body[:min(len(body), 200)])
		}
		return r.NextRecordsURL
	}
	more := func(next string) (int, string) {
		status, body, _ := do(t, s, tok, http.MethodGet, next, "", "")
		return status, string(body[:min(len(body), 200)])
	}
	invalid := func(what string, status int, body string) {
		t.Helper()
		if status != 400 || !strings.Contains(body, `"errorCode":"INVALID_QUERY_LOCATOR"`) {
			t.Errorf("%s: %d %s, want 400 INVALID_QUERY_LOCATOR", what, status, body)
		}
	}

	next := open()
	advance(14 * time.Minute)
	if status, body := more(next); status != 200 {
		t.Fatalf("after 14 idle minutes: %d %s", status, body)
	}
	next = open()
	advance(16 * time.Minute)
	status, body := more(next)
	invalid("after 16 idle minutes", status, body)

	first := open()
	for i := 0; i < 10; i++ {
		open()
	}
	status, body = more(first)
	invalid("the oldest of eleven cursors", status, body)

	next = open()
	s.ExpireQueryLocators()
	status, body = more(next)
	invalid("after ExpireQueryLocators", status, body)
}

// A compound address reads as an object of its components, or null when they are all empty.
func TestCompoundAddress(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	s.AddRecord("Account", map[string]any{"Name": "a", "BillingCity": "Oslo", "BillingPostalCode": "0150"})
	s.AddRecord("Account", map[string]any{"Name": "b"})
	tok := login(t, s)
	status, r, body := query(t, s, tok, "SELECT Id, BillingAddress, ShippingAddress FROM Account ORDER BY Id")
	if status != 200 || len(r.Records) != 2 {
		t.Fatalf("query: %d %s", status, body)
	}
	want := map[string]any{"city": "Oslo", "postalCode": "0150", "street": nil, "state": nil, "country": nil,
		"geocodeAccuracy": nil, "latitude": nil, "longitude": nil}
	if got := r.Records[0]["BillingAddress"]; !reflect.DeepEqual(got, want) {
		t.Errorf("BillingAddress %v, want %v", got, want)
	}
	if v, ok := r.Records[1]["BillingAddress"]; !ok || v != nil {
		t.Errorf("empty BillingAddress %v (present %v), want null", v, ok)
	}
	if v := r.Records[0]["ShippingAddress"]; v != nil {
		t.Errorf("ShippingAddress %v, want null", v)
	}
}

// A converted lead stays queryable with IsConverted true, and refuses every write.
func TestConvertedLead(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	id := s.AddRecord("Lead", map[string]any{"LastName": "Nordmann", "Company": "Acme"})
	other := s.AddRecord("Lead", map[string]any{"LastName": "Hansen", "Company": "Beta"})
	s.ConvertLead(id)
	tok := login(t, s)
	status, r, body := query(t, s, tok, "SELECT Id FROM Lead WHERE IsConverted = true")
	if status != 200 || len(r.Records) != 1 || r.Records[0]["Id"] != id {
		t.Fatalf("converted: %d %s", status, body)
	}
	status, r, body = query(t, s, tok, "SELECT Id FROM Lead WHERE IsConverted = false")
	if status != 200 || len(r.Records) != 1 || r.Records[0]["Id"] != other {
		t.Fatalf("not converted: %d %s", status, body)
	}
	status, body, _ = do(t, s, tok, http.MethodPatch, "/services/data/v62.0/composite/sobjects", "application/json",
		`{"allOrNone":false,"records":[{"attributes":{"type":"Lead"},"id":"`+id+`","Company":"X"},{"attributes":{"type":"Lead"},"id":"`+other+`","Company":"Y"}]}`)
	if status != 200 || !strings.Contains(string(body), `"statusCode":"CANNOT_UPDATE_CONVERTED_LEAD"`) || s.Record("Lead", id)["Company"] != "Acme" ||
		s.Record("Lead", other)["Company"] != "Y" {
		t.Fatalf("write: %d %s", status, body)
	}
}

// An email field takes only an email address: anything else fails the record with INVALID_EMAIL_ADDRESS,
// and none of its fields is written.
func TestEmailFieldValidated(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	id := s.AddRecord("Lead", map[string]any{"LastName": "Nordmann", "Company": "Acme"})
	tok := login(t, s)
	for email, ok := range map[string]bool{"post@firma.no": true, "ola.nordmann+crm@sub.firma-as.no": true,
		"post@firma": false, "post firma@firma.no": false, "www.firma.no": false, "post@@firma.no": false} {
		status, body, _ := do(t, s, tok, http.MethodPatch, "/services/data/v62.0/composite/sobjects", "application/json",
			`{"allOrNone":false,"records":[{"attributes":{"type":"Lead"},"id":"`+id+`","Email":"`+email+`","City":"`+email+`"}]}`)
		written := s.Record("Lead", id)["Email"] == email && s.Record("Lead", id)["City"] == email
		refused := strings.Contains(string(body), `"statusCode":"INVALID_EMAIL_ADDRESS"`)
		if status != 200 || written != ok || refused == ok {
			t.Errorf("%q: %d %s (written %v), want accepted %v", email, status, body, written, ok)
		}
	}
}

// A field's length is counted in UTF-16 code units, as Salesforce (Java) counts: a character outside the
// Basic Multilingual Plane takes two of a 20-character field's places, Nordic letters one.
func TestFieldLengthInUTF16Units(t *testing.T) {
	s := newEmu(t, sfemu.Options{})
	id := s.AddRecord("Account", map[string]any{"Name": "a"})
	tok := login(t, s)
	for value, ok := range map[string]bool{strings.Repeat("ø", 20): true, strings.Repeat("😀", 10): true,
		strings.Repeat("😀", 10) + "x": false, strings.Repeat("𠮟", 11): false} {
		status, body, _ := do(t, s, tok, http.MethodPatch, "/services/data/v62.0/composite/sobjects", "application/json",
			`{"allOrNone":false,"records":[{"attributes":{"type":"Account"},"id":"`+id+`","BillingPostalCode":"`+value+`"}]}`)
		refused := strings.Contains(string(body), `"statusCode":"STRING_TOO_LONG"`)
		if status != 200 || refused == ok || (s.Record("Account", id)["BillingPostalCode"] == value) != ok {
			t.Errorf("%q: %d %s, want accepted %v", value, status, body, ok)
		}
	}
}

// The emulator sends each documented form of Sforce-Limit-Info; the default is a real org's "; " form.
func TestLimitInfoForms(t *testing.T) {
	t.Parallel()
	s := newEmu(t, sfemu.Options{APIUsed: 905, APIMax: 1000})
	tok := login(t, s)
	for _, tc := range []struct {
		form sfemu.LimitInfoForm
		want string
	}{
		{sfemu.LimitInfoBursts, "api-usage=906/1000; api-bursts=1/750"},
		{sfemu.LimitInfoPerApp, "api-usage=907/1000; per-app-api-usage=17/250(appName=proffsync)"},
		{sfemu.LimitInfoPlain, "api-usage=908/1000"},
		{sfemu.LimitInfoComma, "api-usage=909/1000, api-bursts=1/750"},
	} {
		s.SetLimitInfoForm(tc.form)
		_, _, h := do(t, s, tok, http.MethodGet, "/services/data/v62.0/limits", "", "")
		if got := h.Get("Sforce-Limit-Info"); got != tc.want {
			t.Errorf("form %d: Sforce-Limit-Info %q, want %q", tc.form, got, tc.want)
		}
	}
}

func TestCorruptNextRecord(t *testing.T) {
	t.Parallel()
	s := newEmu(t, sfemu.Options{})
	for i := 0; i < 2; i++ {
		s.AddRecord("Account", map[string]any{"Name": fmt.Sprintf("C%d", i)})
	}
	tok := login(t, s)
	s.CorruptNextRecord("null")
	q := "/services/data/v62.0/query?q=" + url.QueryEscape("SELECT Id, Name FROM Account ORDER BY Id")
	_, body, _ := do(t, s, tok, http.MethodGet, q, "", "")
	var page struct{ Records []json.RawMessage }
	if err := json.Unmarshal(body, &page); err != nil || len(page.Records) != 2 || string(page.Records[0]) != "null" ||
		!strings.Contains(string(page.Records[1]), `"Name":"C1"`) {
		t.Fatalf("corrupted page %s (%v), want null in place of the first record", body, err)
	}
	_, body, _ = do(t, s, tok, http.MethodGet, q, "", "")
	if strings.Contains(string(body), "null") {
		t.Fatalf("the fault outlived its page: %s", body)
	}
}
