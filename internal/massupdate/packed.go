package massupdate

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/proffconnect/proffsync/internal/incremental"
	"github.com/proffconnect/proffsync/internal/mapping"
)

// PackedVersion is the version of the packed format below, part of the key of the mapping stored values
// were packed under (incremental.MappingKeyOf): a change to the format makes every company due once instead
// of misreading its stored bytes. Bump it with any change to the tags or their encoding.
const PackedVersion = "packed=1"

// mappingKey is the key of the mapping a run packs its values under.
func mappingKey(version string, rules []mapping.Rule, kinds map[string]mapping.Kind) string {
	points := make([]incremental.MappedPoint, len(rules))
	for i, r := range rules {
		points[i] = incremental.MappedPoint{Point: r.Point, Kind: string(kinds[r.Point])}
	}
	return incremental.MappingKeyOf(version+";"+PackedVersion, points)
}

// packed holds one company's mapped values, one slot per rule, in a single byte slice: a run keeps one per
// distinct company, and a map of interfaces costs several times as much (an allocation per value, the map's
// buckets). Tags: 0 no value, 1 text, 2 number, 3 true, 4 false, 5 date (its calendar date, as midnight UTC).
type packed []byte

const (
	tagNone = iota
	tagText
	tagNumber
	tagTrue
	tagFalse
	tagDate
)

// pack keeps the values of the rules' points, in rule order. Values of other types than the catalogue's
// (string, float64, bool, time.Time) are not kept: they could not be converted anyway.
func pack(rules []mapping.Rule, vals map[string]any) packed {
	n := 0
	for _, r := range rules {
		n++
		if s, ok := vals[r.Point].(string); ok {
			n += binary.MaxVarintLen64 + len(s)
		} else {
			n += 8
		}
	}
	b := make([]byte, 0, n)
	for _, r := range rules {
		v, ok := vals[r.Point]
		if !ok || !mapping.HasValue(v) {
			b = append(b, tagNone)
			continue
		}
		switch x := v.(type) {
		case string:
			b = append(b, tagText)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case float64:
			b = append(b, tagNumber)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		case bool:
			if x {
				b = append(b, tagTrue)
			} else {
				b = append(b, tagFalse)
			}
		case time.Time:
			// A data point's time is a date (mapping.Date): keep its own calendar date, not the UTC instant.
			y, m, d := x.Date()
			b = append(b, tagDate)
			b = binary.AppendVarint(b, mapping.DateValue(y, m, d).Unix())
		default:
			b = append(b, tagNone)
		}
	}
	// Trim the slack: this slice lives as long as the run.
	return packed(append([]byte(nil), b...))
}

// unpack returns the values slot by slot (nil for no value).
func (p packed) unpack(n int) []any {
	out := make([]any, n)
	b := []byte(p)
	for i := 0; i < n && len(b) > 0; i++ {
		tag := b[0]
		b = b[1:]
		switch tag {
		case tagText:
			l, k := binary.Uvarint(b)
			b = b[k:]
			out[i] = string(b[:l])
			b = b[l:]
		case tagNumber:
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			b = b[8:]
		case tagTrue:
			out[i] = true
		case tagFalse:
			out[i] = false
		case tagDate:
			s, k := binary.Varint(b)
			b = b[k:]
			out[i] = time.Unix(s, 0).UTC()
		}
	}
	return out
}
