package sfemu

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The SOQL subset the emulator understands: enough to evaluate what proffsync sends and the filters admins
// typically write. SELECT field list or COUNT(), FROM one object, WHERE with AND/OR/NOT and parentheses
// (AND and OR may not be mixed without parentheses, as in Salesforce), = != <> < > <= >= LIKE IN NOT IN,
// string/number/boolean/null/date literals, ORDER BY with ASC/DESC and NULLS FIRST/LAST, LIMIT, OFFSET.

// apiError is an error Salesforce answers as [{"message","errorCode"}] with an HTTP status.
type apiError struct {
	Status int
	Code   string
	Msg    string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Msg }

func malformed(format string, a ...any) *apiError {
	return &apiError{Status: 400, Code: "MALFORMED_QUERY", Msg: fmt.Sprintf(format, a...)}
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tDate
	tPunct
)

type token struct {
	kind tokKind
	text string // identifier as written, unquoted string, number, punctuation
	pos  int
}

func lex(q string) ([]token, *apiError) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(q) {
				if q[j] == '\\' && j+1 < len(q) {
					switch q[j+1] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default: // \' \" \\ \% \_ keep their meaning; LIKE escapes are kept for the matcher
						if q[j+1] == '%' || q[j+1] == '_' {
							b.WriteByte('\\')
						}
						b.WriteByte(q[j+1])
					}
					j += 2
					continue
				}
				if q[j] == '\'' {
					closed = true
					break
				}
				b.WriteByte(q[j])
				j++
			}
			if !closed {
				return nil, malformed("unexpected token: '%s'", q[i:])
			}
			toks = append(toks, token{tString, b.String(), i})
			i = j + 1
		case c >= '0' && c <= '9' || (c == '-' || c == '+' || c == '.') && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || q[j] == '.') {
				j++
			}
			if j-i == 4 && j < len(q) && q[j] == '-' { // a date or datetime literal: 2024-01-31[T10:00:00Z]
				for j < len(q) && (unicode.IsDigit(rune(q[j])) || strings.IndexByte("-:T.Z+", q[j]) >= 0) {
					j++
				}
				toks = append(toks, token{tDate, q[i:j], i})
			} else {
				toks = append(toks, token{tNumber, q[i:j], i})
			}
			i = j
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == '.' || unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j]))) {
				j++
			}
			toks = append(toks, token{tIdent, q[i:j], i})
			i = j
		default:
			for _, p := range []string{"!=", "<>", "<=", ">=", "=", "<", ">", "(", ")", ","} {
				if strings.HasPrefix(q[i:], p) {
					toks = append(toks, token{tPunct, p, i})
					i += len(p)
					goto next
				}
			}
			return nil, malformed("unexpected token: '%c'", c)
		next:
		}
	}
	return append(toks, token{kind: tEOF, pos: len(q)}), nil
}

type query struct {
	obj     *object
	fields  []*fieldDef // select list in order; a parent's field is its relCol's path
	rels    map[*fieldDef]*relCol
	count   bool
	where   cond
	orderBy []orderKey
	limit   int // -1: none
	offset  int
}

type orderKey struct {
	field      *fieldDef
	desc       bool
	nullsFirst bool
}

type cond interface {
	eval(values map[string]any) bool
}

type andCond []cond
type orCond []cond
type notCond struct{ c cond }

func (a andCond) eval(v map[string]any) bool {
	for _, c := range a {
		if !c.eval(v) {
			return false
		}
	}
	return true
}
func (o orCond) eval(v map[string]any) bool {
	for _, c := range o {
		if c.eval(v) {
			return true
		}
	}
	return false
}
func (n notCond) eval(v map[string]any) bool { return !n.c.eval(v) }

type compareCond struct {
	field *fieldDef
	op    string
	lit   literal
}

type inCond struct {
	field *fieldDef
	not   bool
	lits  []literal
}

type likeCond struct {
	field *fieldDef
	re    *regexp.Regexp
}

type literal struct {
	null bool
	val  any // string, float64, bool, time.Time
}

type parser struct {
	toks []token
	i    int
	q    string
	objs map[string]*object
	obj  *object
	// rels are the parents' fields the query names, by the path's synthetic field and by lower-case path.
	rels   map[*fieldDef]*relCol
	byPath map[string]*fieldDef
}

// relCol is a parent's field reached through a lookup, one hop, as SOQL allows: Account.Org_Number__c on a
// Contact. The query sees it as a field named by its path whose value is the parent record's.
type relCol struct {
	path   *fieldDef // the parent field's describe under the path's name, never updateable
	ref    *fieldDef // the lookup on the queried object (AccountId)
	parent *object
	field  *fieldDef // the field on the parent
}

// parentRec is the record r's lookup points at, or nil (no parent, or one in the recycle bin).
func (rc *relCol) parentRec(r *record) *record {
	id, _ := r.values[rc.ref.Name].(string)
	pr := rc.parent.recs[id]
	if pr == nil || pr.deleted {
		return nil
	}
	return pr
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }
func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}
func (p *parser) isPunct(s string) bool { t := p.peek(); return t.kind == tPunct && t.text == s }
func (p *parser) unexpected() *apiError {
	t := p.peek()
	if t.kind == tEOF {
		return malformed("unexpected end of query")
	}
	return malformed("\n%s\n%s^\nERROR at Row:1:Column:%d\nunexpected token: '%s'", p.q, strings.Repeat(" ", t.pos), t.pos+1, t.text)
}
func (p *parser) expectKeyword(kw string) *apiError {
	if !p.isKeyword(kw) {
		return p.unexpected()
	}
	p.i++
	return nil
}
func (p *parser) expectPunct(s string) *apiError {
	if !p.isPunct(s) {
		return p.unexpected()
	}
	p.i++
	return nil
}

func parseSOQL(q string, objs map[string]*object) (*query, *apiError) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, q: q, objs: objs, rels: map[*fieldDef]*relCol{}, byPath: map[string]*fieldDef{}}
	if err := p.expectKeyword("SELECT"); err != nil {
		return nil, err
	}
	// The select list names fields of an object not known yet: collect names first, resolve after FROM.
	var names []token
	count := false
	if p.isKeyword("COUNT") && p.toks[p.i+1].kind == tPunct && p.toks[p.i+1].text == "(" {
		p.i += 2
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		count = true
	} else {
		for {
			t := p.next()
			if t.kind != tIdent || strings.EqualFold(t.text, "FROM") {
				p.i--
				return nil, p.unexpected()
			}
			names = append(names, t)
			if !p.isPunct(",") {
				break
			}
			p.i++
		}
	}
	if err := p.expectKeyword("FROM"); err != nil {
		return nil, err
	}
	ot := p.next()
	if ot.kind != tIdent {
		p.i--
		return nil, p.unexpected()
	}
	obj := objs[strings.ToLower(ot.text)]
	if obj == nil {
		return nil, &apiError{400, "INVALID_TYPE", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nsObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", q, strings.Repeat(" ", ot.pos), ot.pos+1, ot.text)}
	}
	p.obj = obj
	qu := &query{obj: obj, count: count, limit: -1}
	seen := map[*fieldDef]bool{}
	for _, n := range names {
		f, err := p.resolve(n)
		if err != nil {
			return nil, err
		}
		if seen[f] {
			return nil, malformed("duplicate field selected: %s", n.text)
		}
		seen[f] = true
		qu.fields = append(qu.fields, f)
	}
	if p.isKeyword("WHERE") {
		p.i++
		c, err := p.parseCond()
		if err != nil {
			return nil, err
		}
		qu.where = c
	}
	if p.isKeyword("ORDER") {
		p.i++
		if err := p.expectKeyword("BY"); err != nil {
			return nil, err
		}
		for {
			t := p.next()
			if t.kind != tIdent {
				p.i--
				return nil, p.unexpected()
			}
			f, err := p.resolve(t)
			if err != nil {
				return nil, err
			}
			if p.rels[f] != nil {
				return nil, malformed("the emulator does not order by a parent's field: %s", t.text)
			}
			k := orderKey{field: f}
			if p.isKeyword("ASC") {
				p.i++
			} else if p.isKeyword("DESC") {
				p.i++
				k.desc = true
			}
			k.nullsFirst = !k.desc // Salesforce's default: nulls first ascending, last descending
			if p.isKeyword("NULLS") {
				p.i++
				switch {
				case p.isKeyword("FIRST"):
					k.nullsFirst = true
				case p.isKeyword("LAST"):
					k.nullsFirst = false
				default:
					return nil, p.unexpected()
				}
				p.i++
			}
			qu.orderBy = append(qu.orderBy, k)
			if !p.isPunct(",") {
				break
			}
			p.i++
		}
	}
	if p.isKeyword("LIMIT") {
		p.i++
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			p.i--
			return nil, p.unexpected()
		}
		qu.limit = n
	}
	if p.isKeyword("OFFSET") {
		p.i++
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if t.kind != tNumber || err != nil || n < 0 {
			p.i--
			return nil, p.unexpected()
		}
		if n > 2000 {
			return nil, &apiError{400, "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"}
		}
		qu.offset = n
	}
	if p.peek().kind != tEOF {
		return nil, p.unexpected()
	}
	if len(p.rels) > 0 {
		qu.rels = p.rels
	}
	return qu, nil
}

func (p *parser) resolve(t token) (*fieldDef, *apiError) {
	if rel, name, ok := strings.Cut(t.text, "."); ok {
		return p.resolveParent(t, rel, name)
	}
	f := p.obj.field(t.text)
	if f == nil {
		return nil, &apiError{400, "INVALID_FIELD", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nNo such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", p.q, strings.Repeat(" ", t.pos), t.pos+1, t.text, p.obj.name)}
	}
	return f, nil
}

// resolveParent resolves rel.name: rel is the relationshipName of one of the object's lookups, name a field
// of the object it refers to. Salesforce's own messages tell a wrong relationship from a wrong field.
func (p *parser) resolveParent(t token, rel, name string) (*fieldDef, *apiError) {
	var ref *fieldDef
	for _, f := range p.obj.fields {
		if f.RelationshipName != "" && strings.EqualFold(f.RelationshipName, rel) {
			ref = f
			break
		}
	}
	parent := (*object)(nil)
	if ref != nil {
		parent = p.objs[strings.ToLower(ref.ReferenceTo)]
	}
	if parent == nil || strings.Contains(name, ".") { // the emulator follows one hop
		return nil, &apiError{400, "INVALID_FIELD", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nDidn't understand relationship '%s' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.", p.q, strings.Repeat(" ", t.pos), t.pos+1, rel)}
	}
	pf := parent.field(name)
	if pf == nil {
		return nil, &apiError{400, "INVALID_FIELD", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nNo such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", p.q, strings.Repeat(" ", t.pos), t.pos+1, name, parent.name)}
	}
	key := strings.ToLower(ref.RelationshipName + "." + pf.Name)
	if f := p.byPath[key]; f != nil {
		return f, nil
	}
	path := &fieldDef{Field: pf.Field, Label: pf.Label}
	path.Name, path.Updateable = ref.RelationshipName+"."+pf.Name, false
	p.byPath[key] = path
	p.rels[path] = &relCol{path: path, ref: ref, parent: parent, field: pf}
	return path, nil
}

// parseCond parses conditions joined by one kind of connective: Salesforce rejects AND and OR mixed at the
// same level without parentheses.
func (p *parser) parseCond() (cond, *apiError) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	var conn string
	parts := []cond{first}
	for p.isKeyword("AND") || p.isKeyword("OR") {
		kw := strings.ToUpper(p.peek().text)
		if conn != "" && kw != conn {
			return nil, p.unexpected()
		}
		conn = kw
		p.i++
		c, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		parts = append(parts, c)
	}
	switch conn {
	case "AND":
		return andCond(parts), nil
	case "OR":
		return orCond(parts), nil
	}
	return first, nil
}

func (p *parser) parseUnary() (cond, *apiError) {
	if p.isKeyword("NOT") {
		p.i++
		c, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	}
	if p.isPunct("(") {
		p.i++
		c, err := p.parseCond()
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		return c, nil
	}
	t := p.next()
	if t.kind != tIdent {
		p.i--
		return nil, p.unexpected()
	}
	f, err := p.resolve(t)
	if err != nil {
		return nil, err
	}
	switch {
	case p.isKeyword("LIKE"):
		p.i++
		lt := p.next()
		if lt.kind != tString {
			p.i--
			return nil, p.unexpected()
		}
		if !isText(f.Type) {
			return nil, &apiError{400, "INVALID_FIELD", fmt.Sprintf("invalid operator on %s field: %s", f.Type, f.Name)}
		}
		return likeCond{f, likePattern(lt.text)}, nil
	case p.isKeyword("IN"), p.isKeyword("NOT") && p.toks[p.i+1].kind == tIdent && strings.EqualFold(p.toks[p.i+1].text, "IN"):
		not := p.isKeyword("NOT")
		if not {
			p.i++
		}
		p.i++
		if err := p.expectPunct("("); err != nil {
			return nil, err
		}
		var lits []literal
		for {
			l, err := p.parseLiteral(f)
			if err != nil {
				return nil, err
			}
			lits = append(lits, l)
			if !p.isPunct(",") {
				break
			}
			p.i++
		}
		if err := p.expectPunct(")"); err != nil {
			return nil, err
		}
		return inCond{f, not, lits}, nil
	}
	op := p.peek()
	if op.kind != tPunct || !strings.Contains(" = != <> < > <= >= ", " "+op.text+" ") {
		return nil, p.unexpected()
	}
	p.i++
	l, err := p.parseLiteral(f)
	if err != nil {
		return nil, err
	}
	o := op.text
	if o == "<>" {
		o = "!="
	}
	if l.null && o != "=" && o != "!=" {
		return nil, malformed("invalid operator for null: %s", op.text)
	}
	return compareCond{f, o, l}, nil
}

func (p *parser) parseLiteral(f *fieldDef) (literal, *apiError) {
	t := p.next()
	mismatch := func(want string, quoted bool) *apiError {
		how := "should not be enclosed in quotes"
		if quoted {
			how = "should be enclosed in quotes"
		}
		return &apiError{400, "INVALID_FIELD", fmt.Sprintf("\n%s\n%s^\nERROR at Row:1:Column:%d\nvalue of filter criterion for field '%s' must be of type %s and %s", p.q, strings.Repeat(" ", t.pos), t.pos+1, f.Name, want, how)}
	}
	if t.kind == tIdent && strings.EqualFold(t.text, "null") {
		return literal{null: true}, nil
	}
	switch f.Type {
	case "boolean":
		if t.kind == tIdent && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")) {
			return literal{val: strings.EqualFold(t.text, "true")}, nil
		}
		return literal{}, mismatch("boolean", false)
	case "int", "double", "currency", "percent":
		if t.kind == tNumber {
			n, err := strconv.ParseFloat(t.text, 64)
			if err == nil {
				return literal{val: n}, nil
			}
		}
		want := "double"
		if f.Type == "int" {
			want = "integer"
		}
		return literal{}, mismatch(want, false)
	case "date", "datetime":
		if t.kind == tDate {
			if tm, ok := parseTime(t.text); ok {
				return literal{val: tm}, nil
			}
		}
		if t.kind == tIdent { // date literals such as TODAY are not evaluated by the emulator
			return literal{}, malformed("date literal %s is not supported by the emulator", t.text)
		}
		return literal{}, mismatch(f.Type, false)
	default:
		if t.kind == tString {
			return literal{val: t.text}, nil
		}
		if t.kind == tEOF || t.kind == tPunct {
			p.i--
			return literal{}, p.unexpected()
		}
		return literal{}, mismatch("string", true)
	}
}

func isText(t string) bool {
	switch t {
	case "string", "textarea", "url", "phone", "email", "picklist", "multipicklist", "id", "reference", "combobox":
		return true
	}
	return false
}

func likePattern(s string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteString(regexp.QuoteMeta(string(s[i])))
		case c == '%':
			b.WriteString(".*")
		case c == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

var timeLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// compare orders a stored value against a literal of the same field: -1, 0, 1. Text compares without case,
// as SOQL does; ids compare exactly.
func compare(f *fieldDef, v any, l any) int {
	switch lv := l.(type) {
	case float64:
		n, _ := v.(float64)
		switch {
		case n < lv:
			return -1
		case n > lv:
			return 1
		}
		return 0
	case bool:
		b, _ := v.(bool)
		if b == lv {
			return 0
		}
		if !b {
			return -1
		}
		return 1
	case time.Time:
		s, _ := v.(string)
		t, _ := parseTime(s)
		if f.Type == "date" {
			t = t.Truncate(24 * time.Hour)
		}
		return t.Compare(lv)
	case string:
		s, _ := v.(string)
		if f.Type == "id" || f.Type == "reference" {
			return strings.Compare(s, lv)
		}
		return strings.Compare(strings.ToLower(s), strings.ToLower(lv))
	}
	return 0
}

func (c compareCond) eval(v map[string]any) bool {
	val := v[c.field.Name]
	if c.lit.null {
		if c.op == "=" {
			return val == nil
		}
		return val != nil
	}
	if val == nil {
		return c.op == "!="
	}
	r := compare(c.field, val, c.lit.val)
	switch c.op {
	case "=":
		return r == 0
	case "!=":
		return r != 0
	case "<":
		return r < 0
	case ">":
		return r > 0
	case "<=":
		return r <= 0
	case ">=":
		return r >= 0
	}
	return false
}

func (c inCond) eval(v map[string]any) bool {
	val := v[c.field.Name]
	found := false
	for _, l := range c.lits {
		if l.null && val == nil || !l.null && val != nil && compare(c.field, val, l.val) == 0 {
			found = true
			break
		}
	}
	return found != c.not
}

func (c likeCond) eval(v map[string]any) bool {
	s, ok := v[c.field.Name].(string)
	return ok && c.re.MatchString(s)
}

// orderedByID reports whether the query's order is the Id order the store keeps, which lets a cursor resume
// after the last Id it returned instead of re-sorting.
func (q *query) orderedByID() bool {
	return len(q.orderBy) == 0 || len(q.orderBy) == 1 && q.orderBy[0].field.Type == "id" && !q.orderBy[0].desc
}

func (q *query) match(r *record) bool {
	return !r.deleted && (q.where == nil || q.where.eval(q.values(r)))
}

// values are the record's fields as the conditions see them: its own, plus each parent's field the query
// names, under its path.
func (q *query) values(r *record) map[string]any {
	if len(q.rels) == 0 {
		return r.values
	}
	v := maps.Clone(r.values)
	for path, rc := range q.rels {
		v[path.Name] = nil
		if pr := rc.parentRec(r); pr != nil {
			v[path.Name] = rc.parent.value(pr, rc.field)
		}
	}
	return v
}

func (q *query) sort(recs []*record) {
	sort.SliceStable(recs, func(i, j int) bool {
		for _, k := range q.orderBy {
			a, b := recs[i].values[k.field.Name], recs[j].values[k.field.Name]
			if a == nil || b == nil {
				if a == nil && b == nil {
					continue
				}
				return (a == nil) == k.nullsFirst
			}
			r := compareValues(k.field, a, b)
			if r == 0 {
				continue
			}
			return (r < 0) != k.desc
		}
		return false
	})
}

func compareValues(f *fieldDef, a, b any) int {
	switch av := a.(type) {
	case float64:
		bv, _ := b.(float64)
		return cmpFloat(av, bv)
	case bool:
		return compare(f, a, b)
	case string:
		bv, _ := b.(string)
		if f.Type == "date" || f.Type == "datetime" {
			ta, _ := parseTime(av)
			tb, _ := parseTime(bv)
			return ta.Compare(tb)
		}
		return compare(f, av, bv)
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b || math.IsNaN(a):
		return -1
	case a > b:
		return 1
	}
	return 0
}
