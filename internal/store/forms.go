package store

import (
	"context"
	"fmt"
)

// The memory of the Proff client's hyphen fallback for SE and FI numbers (proff.FormMemory): which form of
// the organisation number ("digits", "hyphenated") has found a company in a country. It holds no number.

// NumberForms returns the forms that have found a company in the country, oldest first.
func (s *Store) NumberForms(ctx context.Context, country string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT form FROM number_forms WHERE country = $1 ORDER BY found_at, form`, country)
	if err != nil {
		return nil, fmt.Errorf("read number forms of %s: %w", country, s.scrub(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, fmt.Errorf("read number forms of %s: %w", country, s.scrub(err))
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read number forms of %s: %w", country, s.scrub(err))
	}
	return out, nil
}

// SetNumberForm records that form has found a company in the country. Recording it again keeps the first
// time it did, so the order NumberForms returns is the order the forms were learnt.
func (s *Store) SetNumberForm(ctx context.Context, country, form string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO number_forms (country, form, found_at) VALUES ($1, $2, $3)
		ON CONFLICT (country, form) DO NOTHING`, country, form, s.now().UTC())
	if err != nil {
		return fmt.Errorf("remember number form %s of %s: %w", form, country, s.scrub(err))
	}
	return nil
}
