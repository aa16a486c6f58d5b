package cli

// historycsv.go writes `history show --csv`: a run's records and changes as the CSV files Data Loader users
// work with, so that the records a run could not update can be fixed in a spreadsheet and imported again.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/safetext"
)

// csvFields are the header names of the record columns that come from Salesforce fields: the API names
// the run read them from, so that Data Loader maps them to the fields by name.
type csvFields struct{ orgNumber, country string }

// csvFieldNames reads the org number and country field names from a run's stored settings; a run without
// them (older, or a country field not configured) gets neutral names.
func csvFieldNames(settings json.RawMessage) csvFields {
	f := csvFields{orgNumber: "OrgNumber", country: "Country"}
	var s struct {
		OrgNumberField string `json:"org_number_field"`
		CountryField   string `json:"country_field"`
	}
	if json.Unmarshal(settings, &s) == nil {
		if s.OrgNumberField != "" {
			f.orgNumber = s.OrgNumberField
		}
		if s.CountryField != "" {
			f.country = s.CountryField
		}
	}
	return f
}

// writeRecordsCSV writes the records not updated or unchanged: Id, org number, country, Outcome, Error, Data.
func writeRecordsCSV(w io.Writer, records []massupdate.RecordResult, f csvFields) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"Id", csvCell(f.orgNumber), csvCell(f.country), "Outcome", "Error", "Data"})
	for _, r := range records {
		if r.Outcome == massupdate.Updated {
			continue // an error CSV: the records to fix and load again
		}
		_ = cw.Write([]string{csvCell(r.RecordID), csvCell(r.OrgNumber), csvCell(r.Country), string(r.Outcome),
			csvCell(oneLine(r.Reason)), r.Lookup})
	}
	cw.Flush()
	return cw.Error()
}

// writeChangesCSV writes every field change: Id, Field, Old, New, values as Salesforce holds them (null is
// an empty cell).
func writeChangesCSV(w io.Writer, changes []massupdate.FieldChange) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"Id", "Field", "Old", "New"})
	for _, c := range changes {
		_ = cw.Write([]string{csvCell(c.RecordID), csvCell(c.Field), csvCell(csvValue(c.Old)), csvCell(csvValue(c.New))})
	}
	cw.Flush()
	return cw.Error()
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// csvCell makes a value from Salesforce or Proff safe in a CSV that is printed on a terminal and opened in a
// spreadsheet: control characters escaped (README: Contract, "Text output"), and a text that a spreadsheet
// would run as a formula (=, +, -, @ first) prefixed with ' unless it is a number.
func csvCell(s string) string {
	s = safetext.Escape(s)
	if s == "" || !strings.ContainsRune("=+-@", rune(s[0])) {
		return s
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	return "'" + s
}
