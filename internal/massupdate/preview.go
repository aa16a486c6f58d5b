package massupdate

import (
	"context"
	"fmt"
)

// Preview is what a run would meet, from Salesforce alone (contract.md `preview --json`).
type Preview struct {
	Selected         int `json:"selected"`
	MissingOrgNumber int `json:"missing_org_number"`
	InvalidOrgNumber int `json:"invalid_org_number"`
	// Duplicates counts the records that share their (country, org number) with another record, as
	// contract.md words it: two records with one number count 2. Their company is looked up once.
	Duplicates int `json:"duplicates"`
	// Lookups is the Proff calls a run would make: one per distinct valid (country, org number).
	Lookups int `json:"lookups"`
	// EstimatedSeconds is Lookups at the configured rate (0 when no rate is set).
	EstimatedSeconds float64 `json:"estimated_seconds"`
}

// Preview reads the selected records and counts what a run would meet. It makes no Proff call and writes
// nothing. Its memory grows with the distinct org numbers only.
func (e *Engine) Preview(ctx context.Context) (Preview, error) {
	var p Preview
	seen := map[companyKey]int32{}
	err := e.o.Source.Records(ctx, "", func(page []Record) error {
		for _, rec := range page {
			p.Selected++
			it := e.classify(rec)
			switch it.outcome {
			case MissingOrgNumber:
				p.MissingOrgNumber++
			case InvalidOrgNumber:
				p.InvalidOrgNumber++
			default:
				seen[companyKey{it.country, it.org}]++
			}
		}
		return nil
	})
	if err != nil {
		return Preview{}, fmt.Errorf("read the selected records: %w", err)
	}
	p.Lookups = len(seen)
	for _, n := range seen {
		if n > 1 {
			p.Duplicates += int(n)
		}
	}
	if e.o.RatePerSecond > 0 {
		p.EstimatedSeconds = float64(p.Lookups) / e.o.RatePerSecond
	}
	return p, nil
}
