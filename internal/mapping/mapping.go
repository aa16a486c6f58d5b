// Package mapping holds the admin's mapping from Proff data points to Salesforce fields and the rules that
// turn a Proff value into a Salesforce value: type compatibility (checked against describe before the first
// write), conversion, "no value", "empty" and equality as README: Contract ("Data points and conversion") defines them.
//
// Nothing here does I/O. Nothing here may ever widen what is written: a rule names exactly one field.
package mapping

import "time"

// Kind is the type of a Proff data point, as the catalogue declares it.
type Kind string

const (
	Text    Kind = "text"
	Number  Kind = "number"  // any number; Go value float64
	Integer Kind = "integer" // a whole number; Go value float64 with no fraction
	Date    Kind = "date"    // a calendar date; Go value time.Time at 00:00 UTC
	Boolean Kind = "boolean" // Go value bool
)

// Mode says when a rule may write.
type Mode string

const (
	Overwrite Mode = "overwrite"  // write a value that differs from the field's
	FillBlank Mode = "fill_blank" // write only into a field that is null or blank
)

// Field is what describe says about one Salesforce field: enough to decide whether and how a value fits.
type Field struct {
	Name               string   `json:"name"`
	Type               string   `json:"type"` // string, textarea, url, phone, email, int, double, currency, percent, date, datetime, boolean, picklist, …
	Updateable         bool     `json:"updateable"`
	Nillable           bool     `json:"nillable"`
	Length             int      `json:"length"`
	Precision          int      `json:"precision"`
	Scale              int      `json:"scale"`
	PicklistValues     []string `json:"picklistValues,omitempty"` // active values only
	RestrictedPicklist bool     `json:"restrictedPicklist"`
}

// Rule is one line of the admin's mapping.
type Rule struct {
	Point string // Proff data point, as the catalogue names it (canonical spelling)
	Field string // Salesforce field API name
	Mode  Mode
	// Format reshapes a text value before conversion (`format: title`); AsSent for none. Only text points
	// take a format: Check refuses it on any other kind.
	Format Format
}

// DateValue builds the Go value of a Date-kind data point.
func DateValue(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// LastSyncedProblems says why f cannot be the last-synced field (none: it can): a datetime or date the
// integration user may update. It is the one home of that rule, which the Salesforce adapter's field check
// and the engine's both apply.
func LastSyncedProblems(f Field) []string {
	var problems []string
	if f.Type != "datetime" && f.Type != "date" {
		problems = append(problems, "is a "+f.Type+", not a datetime or date")
	}
	if !f.Updateable {
		problems = append(problems, "is not updateable for the integration user (field-level security)")
	}
	return problems
}
