package sandbox

import (
	"context"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/proff"
)

func TestLargeDocumentIsServedAndRead(t *testing.T) {
	t.Parallel()
	s := Start(Options{})
	defer s.Close()
	if s.Large.OrgNumber == "" || s.Large.Country != "NO" {
		t.Fatalf("no large document seeded: %+v", s.Large)
	}
	req, _ := http.NewRequest(http.MethodGet, s.Proff.URL()+"/api/companies/register/NO/"+s.Large.OrgNumber, nil)
	req.Header.Set("Authorization", "Token "+s.proffToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) < 420<<10 {
		t.Fatalf("status %d, %d KB; want about 450 KB", resp.StatusCode, len(body)>>10)
	}
	// proffsync reads it with its default body cap.
	c, err := proff.New(proff.Options{BaseURL: s.Proff.URL(), Token: s.proffToken,
		Points: []proff.DataPoint{{Name: "name", Kind: mapping.Text}}})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := c.Lookup(context.Background(), "NO", s.Large.OrgNumber)
	if err != nil || vals["name"] != s.Large.Name {
		t.Errorf("lookup of the large document: %v %v", vals, err)
	}
	if int64(len(body)) > proff.DefaultMaxBody/4 {
		t.Errorf("the large document (%d KB) is near the client's cap (%d KB)", len(body)>>10, proff.DefaultMaxBody>>10)
	}
}

func TestIndustriesInTheCountrysWords(t *testing.T) {
	t.Parallel()
	s := &Sandbox{}
	r := rand.New(rand.NewPCG(1, 2))
	used := map[string]bool{}
	for _, cc := range []string{"SE", "DK", "FI"} {
		for i := 0; i < 40; i++ {
			n := s.company(r, cc, i, used).NaceCategories[0]
			if slices.Contains(naces["NO"], n) {
				t.Errorf("%s company with the Norwegian industry text %q", cc, n)
			}
		}
	}
}

func TestChangeDayFeedsTheNorwegianChanges(t *testing.T) {
	t.Parallel()
	s := Start(Options{})
	defer s.Close()
	at := time.Now().Add(-time.Hour)
	changed := s.ChangeDay(at, 6, 25)
	if len(changed) != 6 {
		t.Fatalf("%d changed", len(changed))
	}
	c, err := proff.New(proff.Options{BaseURL: s.Proff.URL(), Token: s.proffToken,
		Points: []proff.DataPoint{{Name: "visitorAddress.addressLine", Kind: mapping.Text}}})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	res, err := c.Changes(context.Background(), "NO", at.Add(-24*time.Hour),
		proff.FeedOptions{Fields: proff.FeedFields([]string{"visitorAddress.addressLine"})},
		func(ch proff.Change) error { listed[ch.OrgNumber] = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	norwegian := 0
	for _, co := range changed {
		vals, err := c.Lookup(context.Background(), co.Country, co.OrgNumber)
		if err != nil || vals["visitorAddress.addressLine"] != co.AddressLine {
			t.Errorf("%s %s: %v %v, want the new street %q", co.Country, co.OrgNumber, vals, err, co.AddressLine)
		}
		if co.Country == "NO" {
			norwegian++
			if !listed[co.OrgNumber] {
				t.Errorf("NO %s changed but is not in the feed", co.OrgNumber)
			}
		}
	}
	// The noise rotates over paths: some of it is under /visitorAddress too, the rest is filtered out.
	if norwegian == 0 || res.Changes <= norwegian || res.Changes >= norwegian+25 {
		t.Errorf("the feed listed %d, for %d Norwegian changes and 25 noise entries on several paths", res.Changes, norwegian)
	}
	if next := s.ChangeDay(at, 1, 0); len(next) != 1 || next[0].OrgNumber == changed[0].OrgNumber {
		t.Errorf("the next day changed %+v again", next)
	}
}

// The benchmarks ask for a CRM where Norway, the country with a change feed, is 40 %: the seed deals the
// countries in that mix, spread evenly, and still seeds the large Norwegian document.
func TestSharesMixTheCountries(t *testing.T) {
	t.Parallel()
	shares, err := ParseShares("NO=40, se=20,DK=20,FI=20")
	if err != nil {
		t.Fatal(err)
	}
	s := Start(Options{Companies: 200, Shares: shares})
	defer s.Close()
	want := map[string]int{"NO": 80, "SE": 40, "DK": 40, "FI": 40}
	if !maps.Equal(s.seededBy, want) {
		t.Errorf("seeded %v, want %v", s.seededBy, want)
	}
	// Any stretch of twenty companies has the mix, within one.
	order := countryOrder(shares)
	for i := 0; i+20 <= len(order); i += 7 {
		no := 0
		for _, cc := range order[i : i+20] {
			if cc == "NO" {
				no++
			}
		}
		if no < 7 || no > 9 {
			t.Errorf("companies %d to %d: %d Norwegian, want about 8", i, i+20, no)
		}
	}
	if s.Large.Country != "NO" || s.Large.AccountYears != 28 {
		t.Errorf("large document %s %s with %d years", s.Large.Country, s.Large.OrgNumber, s.Large.AccountYears)
	}
	// Without shares the order is the one the sandbox always had, so its expectations hold.
	if got := countryOrder(nil); !slices.Equal(got, []string{"NO", "SE", "DK", "FI"}) {
		t.Errorf("default order %v", got)
	}
	for _, bad := range []string{"NO=50,SE=40", "NO=40,SE=20,DK=20,DE=20", "NO=40,NO=60", "NO", "NO=x,SE=100", "NO=-10,SE=110"} {
		if _, err := ParseShares(bad); err == nil {
			t.Errorf("ParseShares(%q) accepted", bad)
		}
	}
}
