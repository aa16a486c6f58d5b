package massupdate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/proffconnect/proffsync/internal/mapping"
)

// done is one record evaluated: its result, and the write it needs.
type done struct {
	res     RecordResult
	update  *Update
	changes []FieldChange
	// written is the outcome once the write succeeds: updated, or unchanged when only the last-synced field
	// is written.
	written Outcome
}

// evaluate decides a record's outcome and write; ok is false when the record cannot be finished in this run.
func (r *runner) evaluate(it *item) (done, bool) {
	d, ok := r.decide(it)
	if it.note != "" {
		d.res.Reason = joinReason(it.note, d.res.Reason)
	}
	return d, ok
}

// decide is evaluate without the record's note.
func (r *runner) decide(it *item) (done, bool) {
	d := done{res: RecordResult{RecordID: it.rec.ID, OrgNumber: it.org, Country: it.country, Outcome: it.outcome,
		Reason: it.reason, Lookup: lookupOf(it.co)}}
	if it.co == nil {
		return d, true
	}
	if err := it.co.err; err != nil {
		return d, lookupFailed(&d.res, err)
	}
	fields, notes := r.compare(it, &d)
	d.res.Reason = strings.Join(notes, "; ")
	switch {
	case len(fields) > 0:
		d.res.Outcome, d.written = Updated, Updated
	case len(notes) > 0:
		// Nothing could be written and something did not fit: the admin has to see it.
		d.res.Outcome = Failed
		return d, true
	default:
		d.res.Outcome, d.res.Reason = Unchanged, ""
		if !r.e.o.LastSyncedEveryCheck || r.lastSynced == nil {
			return d, true
		}
		d.written = Unchanged
	}
	if r.lastSynced != nil {
		d.res.LastSyncedOld, d.res.LastSyncedSet = mapping.Plain(it.rec.Values[r.lastSynced.Name]), true
		d.res.LastSyncedNew = r.stampLastSynced(fields)
	}
	d.update = &Update{RecordID: it.rec.ID, Fields: fields}
	return d, true
}

// lookupFailed gives a record whose lookup failed its outcome; it returns false when the lookup was not
// finished (the run stopped), so that the record is not either.
func lookupFailed(res *RecordResult, err error) bool {
	switch {
	case errors.Is(err, ErrNotFound):
		res.Outcome, res.Reason = NotFound, "Proff has no company with this organisation number"
	case errors.Is(err, ErrCountryForbidden):
		res.Outcome, res.Reason = Failed, err.Error()
	case errors.Is(err, errAbandoned), errors.Is(err, ErrUnauthorized), errors.Is(err, ErrQuotaExhausted):
		return false
	default:
		// The Proff client names its operation ("proff lookup: …"); the reason says it once.
		res.Outcome, res.Reason = Failed, "Proff lookup failed: "+strings.TrimPrefix(err.Error(), "proff lookup: ")
	}
	return true
}

// compare maps the company's values onto the record's fields: the fields to write (their changes added to d)
// and a note for every value that does not fit its field.
func (r *runner) compare(it *item, d *done) (fields map[string]any, notes []string) {
	fields = map[string]any{}
	values := it.co.values.unpack(len(r.e.rules))
	r.found = true
	for i, rule := range r.e.rules {
		v := values[i]
		if v == nil || !mapping.HasValue(v) {
			continue // a value Proff lacks never clears or changes a field
		}
		r.valued[i] = true
		f := r.fields[rule.Field]
		cur := it.rec.Values[rule.Field]
		if rule.Mode == mapping.FillBlank && !mapping.IsEmpty(cur) {
			continue
		}
		nv, err := mapping.ConvertRule(v, rule, r.e.o.Kinds[rule.Point], f)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s not written: %s", rule.Field, err))
			continue
		}
		if mapping.Equal(cur, nv, f) {
			continue
		}
		fields[rule.Field] = nv
		d.changes = append(d.changes, FieldChange{RecordID: it.rec.ID, Field: rule.Field, Old: mapping.Plain(cur), New: nv})
	}
	return fields, notes
}

// stampLastSynced adds the last-synced field, now, to a record's write, and returns the value written.
func (r *runner) stampLastSynced(fields map[string]any) string {
	now := r.e.o.Clock.Now().UTC()
	v := now.Format("2006-01-02T15:04:05.000Z")
	if r.lastSynced.Type == "date" {
		v = now.Format("2006-01-02")
	}
	fields[r.lastSynced.Name] = v
	return v
}
