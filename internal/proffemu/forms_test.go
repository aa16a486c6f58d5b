package proffemu_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/proffconnect/proffsync/internal/proffemu"
)

// NumberForms decides which forms of an SE or FI number the lookup answers to; by default only the digits.
func TestNumberForms(t *testing.T) {
	t.Parallel()
	s := proffemu.New(proffemu.Options{Token: "tok"})
	t.Cleanup(s.Close)
	status := func(path string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/companies/register/"+path, nil)
		req.Header.Set("Authorization", "Token tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	check := func(when string, want map[string]int) {
		t.Helper()
		for path, code := range want {
			if got := status(path); got != code {
				t.Errorf("%s: %s answered %d, want %d", when, path, got, code)
			}
		}
	}
	check("default", map[string]int{"SE/5569990004": 200, "SE/556999-0004": 404, "FI/31234563": 200, "FI/3123456-3": 404})
	s.NumberForms("SE", false, true)
	s.NumberForms("FI", true, true)
	check("switched", map[string]int{"SE/5569990004": 404, "SE/556999-0004": 200, "SE/55699-90004": 404,
		"FI/31234563": 200, "FI/3123456-3": 200, "NO/912345688": 200})
}
