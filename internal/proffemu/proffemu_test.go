package proffemu_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/proffemu"
)

func get(t *testing.T, url, auth string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestAnswers(t *testing.T) {
	s := proffemu.New(proffemu.Options{Token: "tok", Countries: []string{"NO", "SE", "FI"}})
	defer s.Close()
	reg := s.URL() + "/api/companies/register/"
	cases := []struct {
		path, auth string
		status     int
	}{
		{"NO/912345688", "Token tok", 200},
		{"NO/984851006", "Token tok", 404},
		{"NO/912345688", "Token wrong", 401},
		{"NO/912345688", "", 401},
		{"NO/912345688", "Bearer tok", 401},
		{"DK/39999900", "Token tok", 403},
		{"no/912345688", "Token tok", 400},
		{"DE/912345688", "Token tok", 400},
	}
	for _, tc := range cases {
		if st, _, _ := get(t, reg+tc.path, tc.auth); st != tc.status {
			t.Errorf("GET %s with %q: %d, want %d", tc.path, tc.auth, st, tc.status)
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req, _ := http.NewRequest(m, reg+"NO/912345688", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Token tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, resp.StatusCode)
		}
	}
	reqs := s.Requests()
	if len(reqs) != len(cases)+4 || reqs[len(reqs)-1].Method != http.MethodDelete || string(reqs[len(reqs)-1].Body) != "{}" {
		t.Errorf("request log: %d entries, last %+v", len(reqs), reqs[len(reqs)-1])
	}
}

func TestDocumentHasTheRealShape(t *testing.T) {
	s := proffemu.New(proffemu.Options{Token: "tok"})
	defer s.Close()
	st, _, body := get(t, s.URL()+"/api/companies/register/NO/912345688", "Token tok")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "organisationNumber", "homePage", "naceCategories", "numberOfEmployees",
		"visitorAddress", "postalAddress", "location", "registrationDate", "establishedDate", "personRoles",
		"shareholders", "annualAccounts", "revenue", "profit"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("document lacks %s", k)
		}
	}
	if _, ok := doc["yearsInOperation"]; ok {
		t.Error("document carries yearsInOperation, which Proff stopped sending")
	}
	if doc["name"] != "FJORDLYS TEKNOLOGI AS" || doc["numberOfEmployees"] != "69" || doc["revenue"] != "112934" {
		t.Errorf("values: %v %v %v", doc["name"], doc["numberOfEmployees"], doc["revenue"])
	}
	// Empty fields are null, as Proff sends them.
	d := proffemu.Document(proffemu.Company{Country: "NO", OrgNumber: "912345688"})
	json.Unmarshal(d, &doc)
	if doc["name"] != nil || doc["homePage"] != nil {
		t.Errorf("empty values should be null: %v %v", doc["name"], doc["homePage"])
	}
}

func TestSeedCoversEveryCountryWithValidNumbers(t *testing.T) {
	per := map[string]int{}
	for _, c := range proffemu.Seed() {
		cc, _ := orgnr.ParseCountry(c.Country)
		if !orgnr.Valid(cc, c.OrgNumber) {
			t.Errorf("%s %s is not a valid canonical number", c.Country, c.OrgNumber)
		}
		per[c.Country]++
	}
	for _, cc := range []string{"NO", "SE", "DK", "FI"} {
		if per[cc] < 2 {
			t.Errorf("%s has %d seeded companies", cc, per[cc])
		}
	}
}

func TestFaults(t *testing.T) {
	s := proffemu.New(proffemu.Options{Token: "tok"})
	defer s.Close()
	url := s.URL() + "/api/companies/register/NO/912345688"
	s.FailNext(2, http.StatusTooManyRequests, "5")
	s.FailNext(1, http.StatusBadGateway, "")
	want := []int{429, 429, 502, 200}
	for i, w := range want {
		st, h, _ := get(t, url, "Token tok")
		if st != w {
			t.Errorf("request %d: %d, want %d", i, st, w)
		}
		if w == 429 && h.Get("Retry-After") != "5" {
			t.Errorf("request %d: Retry-After %q", i, h.Get("Retry-After"))
		}
	}
	s.FailOrg("NO", "920000010", 1, http.StatusServiceUnavailable, "")
	if st, _, _ := get(t, s.URL()+"/api/companies/register/NO/920000010", "Token tok"); st != 503 {
		t.Errorf("per-org fault: %d", st)
	}
	if st, _, _ := get(t, url, "Token tok"); st != 200 {
		t.Errorf("other org during per-org fault: %d", st)
	}
	s.Malformed("NO", "912345688")
	_, _, body := get(t, url, "Token tok")
	var v any
	if json.Unmarshal(body, &v) == nil {
		t.Error("Malformed left the document valid")
	}
	s.ForbidCountry("SE")
	if st, _, _ := get(t, s.URL()+"/api/companies/register/SE/5569990004", "Token tok"); st != 403 {
		t.Errorf("forbidden country: %d", st)
	}
	s.SetLatency(20 * time.Millisecond)
	start := time.Now()
	get(t, url, "Token tok")
	if time.Since(start) < 20*time.Millisecond {
		t.Error("latency not applied")
	}
	s.SetLatency(0)
	s.RevokeToken()
	if st, _, _ := get(t, url, "Token tok"); st != 401 {
		t.Errorf("revoked token: %d", st)
	}
}

func TestTokenInformation(t *testing.T) {
	s := proffemu.New(proffemu.Options{Token: "tok", CallLimitPerMinute: 90})
	defer s.Close()
	get(t, s.URL()+"/api/companies/register/NO/912345688", "Token tok")
	st, _, body := get(t, s.URL()+"/api/service/tokeninformation", "Token tok")
	var ti struct {
		TokenString    string
		CallLimit      struct{ PerMinute, PerDay int }
		CallsPerformed struct{ LastMinute int }
	}
	if err := json.Unmarshal(body, &ti); err != nil || st != 200 {
		t.Fatalf("%d %v", st, err)
	}
	if ti.TokenString != "tok" || ti.CallLimit.PerMinute != 90 || ti.CallLimit.PerDay != 90*60*24 || ti.CallsPerformed.LastMinute != 2 {
		t.Errorf("token information %+v", ti)
	}
	if st, _, _ := get(t, s.URL()+"/api/service/tokeninformation", "Token nope"); st != 401 {
		t.Errorf("wrong token: %d", st)
	}
}

func TestEnforcedLimit(t *testing.T) {
	now := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	s := proffemu.New(proffemu.Options{Token: "tok", CallLimitPerMinute: 3, EnforceLimit: true, Now: func() time.Time { return now }})
	defer s.Close()
	var got []int
	for i := 0; i < 4; i++ {
		st, h, _ := get(t, s.URL()+"/api/companies/register/NO/912345688", "Token tok")
		got = append(got, st)
		if st == 429 && h.Get("Retry-After") != "" {
			t.Errorf("Retry-After %q; the enforced limit sends none", h.Get("Retry-After"))
		}
	}
	now = now.Add(61 * time.Second)
	st, _, _ := get(t, s.URL()+"/api/companies/register/NO/912345688", "Token tok")
	got = append(got, st)
	if fmt.Sprint(got) != "[200 200 200 429 200]" {
		t.Errorf("statuses %v; want three answered, the fourth refused, and one after the minute", got)
	}
	// Not enforced (the default), the limit is only reported.
	u := proffemu.New(proffemu.Options{Token: "tok", CallLimitPerMinute: 1})
	defer u.Close()
	for i := 0; i < 3; i++ {
		if st, _, _ := get(t, u.URL()+"/api/companies/register/NO/912345688", "Token tok"); st != 200 {
			t.Errorf("unenforced limit answered %d", st)
		}
	}
}
