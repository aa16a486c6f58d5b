package mapping

import (
	"strings"
	"testing"
)

func TestLastSyncedProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    Field
		want []string
	}{
		{Field{Name: "S", Type: "datetime", Updateable: true}, nil},
		{Field{Name: "S", Type: "date", Updateable: true}, nil},
		{Field{Name: "S", Type: "string", Updateable: true}, []string{"not a datetime or date"}},
		{Field{Name: "S", Type: "datetime"}, []string{"not updateable"}},
		{Field{Name: "S", Type: "boolean"}, []string{"not a datetime or date", "not updateable"}},
	} {
		got := LastSyncedProblems(tc.f)
		if len(got) != len(tc.want) {
			t.Errorf("%+v: %q, want %d problems", tc.f, got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%+v: problem %q lacks %q", tc.f, got[i], w)
			}
		}
	}
}
