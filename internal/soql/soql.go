// Package soql is the one home of the rules a name or a condition from the configuration must pass before
// it may reach a SOQL query: the API-name pattern of an object and of a field, the relationship path that
// reads a parent's field (Account.Org_Number__c on a Contact), and the filter rule that keeps the admin's
// condition inside the parentheses it is wrapped in. config checks the file with these rules and the
// Salesforce adapter checks its options with them again, so the two can never disagree.
//
// What must never happen here: an import beyond the standard library (config and the adapter both depend
// on this package), or a rule that lets a name carry anything but letters, digits, underscores and one dot.
package soql

import (
	"errors"
	"regexp"
	"strings"
)

// name is the API-name pattern Salesforce gives fields and objects: a letter, then letters, digits and
// underscores, 80 characters at most. It covers custom fields and objects (Org_Number__c, Company__c),
// namespaced ones (ns__Org__c) and relationship names (Parent__r).
var name = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)

// IsName reports whether s is a field API name (Org_Number__c, ns__Score__c, BillingCity).
func IsName(s string) bool { return name.MatchString(s) }

// standard are the standard objects whose spelling config corrects (`object: account` means Account), so
// that the query, describe's URL and the messages all name the object as Salesforce does.
var standard = []string{"Account", "Contact", "Lead"}

// Object trims s, corrects the case of a standard object's name and checks the pattern. Whether the org
// knows the object is describe's question, asked before the first read.
func Object(s string) (string, error) {
	s = strings.TrimSpace(s)
	for _, std := range standard {
		if strings.EqualFold(s, std) {
			return std, nil
		}
	}
	if s == "" {
		return "", errors.New("an object API name is required (Account, Lead, Contact or a custom object like Company__c)")
	}
	if !IsName(s) { // objects and fields share the pattern
		return "", errors.New("not an object API name (letters, digits and underscores, like Account or Company__c)")
	}
	return s, nil
}

// Path is a field as a query reads it: a field of the object itself, or a field of a parent reached through
// one relationship (Account.Org_Number__c on a Contact, Parent__r.Org__c on a custom object).
type Path struct {
	Relationship string // "" for the object's own field; the relationship name otherwise (Account, Parent__r)
	Field        string // the field's API name, on the object or on the parent
}

// ParsePath splits s into a Path. A path through a relationship may only be read (the org number and the
// country), never written: Salesforce updates a parent's field only on the parent.
func ParsePath(s string) (Path, bool) {
	rel, field, through := strings.Cut(s, ".")
	if !through {
		return Path{Field: s}, IsName(s)
	}
	if !IsName(rel) || !IsName(field) {
		return Path{}, false
	}
	return Path{Relationship: rel, Field: field}, true
}

// IsPath reports whether s is a field name or one relationship hop to a parent's field.
func IsPath(s string) bool {
	_, ok := ParsePath(s)
	return ok
}

// String is the path as SOQL spells it.
func (p Path) String() string {
	if p.Relationship == "" {
		return p.Field
	}
	return p.Relationship + "." + p.Field
}

// CheckFilter makes sure the admin's condition cannot break out of the parentheses it is wrapped in (which
// would let it OR away the opt-in condition) nor end the statement: quotes closed, parentheses balanced and
// never closed early, no ';'.
func CheckFilter(f string) error {
	depth := 0
	inStr := false
	for i := 0; i < len(f); i++ {
		ch := f[i]
		switch {
		case inStr && ch == '\\':
			i++
		case ch == '\'':
			inStr = !inStr
		case inStr:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
			if depth < 0 {
				return errors.New("a closing parenthesis has no opening one")
			}
		case ch == ';':
			return errors.New("a SOQL condition cannot contain ';'")
		}
	}
	if inStr {
		return errors.New("a string literal is not closed")
	}
	if depth != 0 {
		return errors.New("parentheses are not balanced")
	}
	return nil
}
