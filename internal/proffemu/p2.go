package proffemu

import (
	"fmt"
	"net/url"
	"regexp"
)

var feedDate = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// FeedQueryProblems checks the query of a change-feed request a client sent against what it may carry
// (README: Privacy P2): since (a date), types (ADDED, MUTATED, REMOVED), fields among allowed, or, for a
// next page, the server's scrollId alone. It lists every parameter that is something else; none: the query
// carries nothing from the client's own data. Tests of the client call it on the requests Requests recorded.
func FeedQueryProblems(rawQuery string, allowed map[string]bool) []string {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return []string{fmt.Sprintf("query %q: %v", rawQuery, err)}
	}
	var problems []string
	for k, vs := range q {
		for _, v := range vs {
			ok := false
			switch k {
			case "since":
				ok = feedDate.MatchString(v)
			case "types":
				ok = v == "ADDED" || v == "MUTATED" || v == "REMOVED"
			case "fields":
				ok = allowed[v]
			case "scrollId":
				ok = len(q) == 1
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("%s=%q", k, v))
			}
		}
	}
	return problems
}
