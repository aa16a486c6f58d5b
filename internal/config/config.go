// Package config loads proffsync's one configuration: the YAML file for non-secret settings and the
// environment (with _FILE variants) for secrets and endpoints. It is loaded once and validated once; every
// problem is reported with the key and the file, as an *Error that the CLI turns into exit code 78.
//
// What must never happen here: a secret in an error message or in anything String/Describe returns.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/proffconnect/proffsync/internal/mapping"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/notify"
	"github.com/proffconnect/proffsync/internal/orgnr"
	"github.com/proffconnect/proffsync/internal/soql"
	"github.com/proffconnect/proffsync/internal/store"
)

// Config is the whole configuration.
type Config struct {
	Path       string     `yaml:"-"` // the file it came from
	Salesforce Salesforce `yaml:"salesforce"`
	Mapping    []Rule     `yaml:"mapping"`
	Proff      Proff      `yaml:"proff"`
	Schedule   Schedule   `yaml:"schedule"`
	Sync       Sync       `yaml:"sync"`
	Notify     Notify     `yaml:"notify"`
	Logs       Logs       `yaml:"logs"`
	Serve      Serve      `yaml:"serve"`
	Env        Env        `yaml:"-"`
	present    map[string]bool
}

// Salesforce says which records are selected and how they are written.
type Salesforce struct {
	Object               string `yaml:"object"`
	OrgNumberField       string `yaml:"org_number_field"`
	CountryField         string `yaml:"country_field"`
	DefaultCountry       string `yaml:"default_country"`
	OptInField           string `yaml:"opt_in_field"`
	Filter               string `yaml:"filter"`
	LastSyncedField      string `yaml:"last_synced_field"`
	LastSyncedEveryCheck bool   `yaml:"last_synced_every_check"`
	APIReservePercent    int    `yaml:"api_reserve_percent"`
}

// Rule maps one Proff data point to one Salesforce field.
type Rule struct {
	Proff string `yaml:"proff"`
	Field string `yaml:"field"`
	Mode  string `yaml:"mode"`
	// Format reshapes a text value before it is written (`format: title`); AsSent when not set.
	Format mapping.Format `yaml:"format"`
	// Type is the type hint of a top-level key the catalogue does not know (Proff adds fields); "" when
	// not set. It is the point's kind only there: for a known point the catalogue's kind stands.
	Type mapping.Kind `yaml:"type"`
	Line int          `yaml:"-"`
}

// Proff tunes the lookups.
type Proff struct {
	RateLimitPerSecond float64 `yaml:"rate_limit_per_second"`
	Concurrency        int     `yaml:"concurrency"`
}

// Schedule is the admin-enabled nightly sync.
type Schedule struct {
	Enabled  bool   `yaml:"enabled"`
	Cron     string `yaml:"cron"`
	Timezone string `yaml:"timezone"`
}

// Sync says which companies a run looks up in Proff (README: Contract, "Config file").
type Sync struct {
	// ChangeFeed: where Proff publishes a change feed, look up only the companies it lists since their
	// last lookup.
	ChangeFeed bool `yaml:"change_feed"`
	// RefreshDays: elsewhere, look a company up again once its last lookup is this many days old; 0 means
	// every run.
	RefreshDays int `yaml:"refresh_days"`
	// MaxLookups caps the Proff lookups of one run, stalest first; 0 means no cap.
	MaxLookups int `yaml:"max_lookups"`
}

// Notify says which run endings are posted to NOTIFY_WEBHOOK_URL.
type Notify struct {
	// On lists the statuses that notify; the default is the runs someone has to act on. An empty list
	// (`on: []`) turns notifications off while the URL stays set.
	On []massupdate.Status `yaml:"on"`
}

// MaxRetentionDays caps logs.retention_days at a hundred years, far below the 106752 days at which the
// retention overflows time.Duration (an overflowed cut-off lands in the future and a prune would delete
// every run and log row). The store owns the bound, which prune --retention-days shares.
const MaxRetentionDays = store.MaxRetentionDays

// Logs sets retention.
type Logs struct {
	RetentionDays int `yaml:"retention_days"`
}

// Serve configures the long-running worker.
type Serve struct {
	HTTPAddr string `yaml:"http_addr"`
}

// Error is a configuration error: exit code 78, nothing done.
type Error struct {
	Source string   // the file or "environment"
	Issues []string // each names its key
}

func (e *Error) Error() string {
	if len(e.Issues) == 1 {
		return e.Source + ": " + e.Issues[0]
	}
	return e.Source + ": " + strings.Join(e.Issues, "; ")
}

// IsError reports whether err is a configuration error.
func IsError(err error) bool {
	var ce *Error
	return errors.As(err, &ce)
}

// Defaults returns the configuration before the file is applied.
func Defaults() Config {
	return Config{
		Salesforce: Salesforce{Object: "Account", APIReservePercent: 10},
		Proff:      Proff{RateLimitPerSecond: massupdate.DefaultRatePerSecond, Concurrency: massupdate.DefaultConcurrency},
		Schedule:   Schedule{Cron: "0 2 * * *", Timezone: "Europe/Oslo"},
		Sync:       Sync{ChangeFeed: true},
		Notify:     Notify{On: slices.Clone(notify.DefaultOn)},
		Logs:       Logs{RetentionDays: 90},
		Serve:      Serve{HTTPAddr: "127.0.0.1:8080"},
	}
}

// DefaultPath is where the config file is looked for when neither --config nor PROFFSYNC_CONFIG say.
const DefaultPath = "proffsync.yaml"

// Load reads and validates the file at path. Environment problems are not checked here: see LoadEnv.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Source: path, Issues: []string{"config file not found (set --config or PROFFSYNC_CONFIG)"}}
		}
		return nil, &Error{Source: path, Issues: []string{"cannot read config file: " + rootCause(err)}}
	}
	return Parse(path, b)
}

func rootCause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse parses and validates YAML read from the file named path.
func Parse(path string, data []byte) (*Config, error) {
	c := Defaults()
	c.Path = path
	c.present = map[string]bool{}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) { // no document at all
			return nil, &Error{Source: path, Issues: []string{"the file is empty: salesforce and mapping are required"}}
		}
		return nil, &Error{Source: path, Issues: []string{"not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var issues []string
	if len(doc.Content) > 0 {
		issues = decodeInto(doc.Content[0], reflect.ValueOf(&c).Elem(), "", c.present)
	}
	if len(issues) == 0 {
		issues = c.validate()
	}
	if len(issues) > 0 {
		return nil, &Error{Source: path, Issues: issues}
	}
	return &c, nil
}

// decodeInto walks a YAML mapping into a struct, so that an unknown key or a bad value is reported with its
// full dotted key and its line.
func decodeInto(n *yaml.Node, v reflect.Value, prefix string, present map[string]bool) []string {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		where := prefix
		if where == "" {
			where = "the top level"
		}
		return []string{fmt.Sprintf("line %d: %s must be a mapping of keys to values", n.Line, where)}
	}
	t := v.Type()
	var issues []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(prefix, k.Value)
		fi := fieldByTag(t, k.Value)
		if fi < 0 {
			issues = append(issues, fmt.Sprintf("line %d: unknown key %q (known keys%s: %s)", k.Line, key, under(prefix), strings.Join(knownKeys(t), ", ")))
			continue
		}
		if present[key] {
			issues = append(issues, fmt.Sprintf("line %d: key %q appears twice", k.Line, key))
			continue
		}
		present[key] = true
		f := v.Field(fi)
		switch {
		case f.Kind() == reflect.Struct:
			issues = append(issues, decodeInto(val, f, key, present)...)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			issues = append(issues, decodeStrings(val, f, key)...)
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
				continue
			}
			if val.Kind != yaml.SequenceNode {
				issues = append(issues, fmt.Sprintf("line %d: %s must be a list", val.Line, key))
				continue
			}
			s := reflect.MakeSlice(f.Type(), len(val.Content), len(val.Content))
			for j, item := range val.Content {
				ik := fmt.Sprintf("%s[%d]", key, j)
				issues = append(issues, decodeInto(item, s.Index(j), ik, map[string]bool{})...)
				if lf := s.Index(j).FieldByName("Line"); lf.IsValid() {
					lf.SetInt(int64(item.Line))
				}
			}
			f.Set(s)
		default:
			if val.Kind != yaml.ScalarNode {
				issues = append(issues, fmt.Sprintf("line %d: %s must be a single value", val.Line, key))
				continue
			}
			if val.Tag == "!!null" {
				continue
			}
			if f.Kind() == reflect.String && val.Tag != "!!str" {
				// 'default_country: NO' is the boolean false in YAML 1.1 eyes; take the text as written.
				f.SetString(val.Value)
				continue
			}
			if err := val.Decode(f.Addr().Interface()); err != nil {
				issues = append(issues, fmt.Sprintf("line %d: %s: expected %s, got %q", val.Line, key, kindName(f.Kind()), val.Value))
			}
		}
	}
	return issues
}

// decodeStrings reads a list of plain values (notify.on) into a string slice; a single value is taken as a
// list of one, as people write `on: failed`.
func decodeStrings(val *yaml.Node, f reflect.Value, key string) []string {
	items := []*yaml.Node{val}
	switch {
	case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
		return nil // as for any other key: written without a value, the default stands
	case val.Kind == yaml.SequenceNode:
		items = val.Content
	case val.Kind != yaml.ScalarNode:
		return []string{fmt.Sprintf("line %d: %s must be a list of values", val.Line, key)}
	}
	var issues []string
	s := reflect.MakeSlice(f.Type(), 0, len(items))
	for _, item := range items {
		if item.Kind != yaml.ScalarNode {
			issues = append(issues, fmt.Sprintf("line %d: %s: each item must be a single value", item.Line, key))
			continue
		}
		e := reflect.New(f.Type().Elem()).Elem()
		e.SetString(strings.TrimSpace(item.Value))
		s = reflect.Append(s, e)
	}
	f.Set(s)
	return issues
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func under(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " under " + prefix
}

func fieldByTag(t reflect.Type, key string) int {
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" && tag == key {
			return i
		}
	}
	return -1
}

func knownKeys(t reflect.Type) []string {
	var ks []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			ks = append(ks, tag)
		}
	}
	return ks
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	default:
		return "text"
	}
}

// validator collects the issues of one config: each check adds what it finds, so that every problem is
// reported at once.
type validator struct{ issues []string }

func (v *validator) add(format string, a ...any) {
	v.issues = append(v.issues, fmt.Sprintf(format, a...))
}

func (c *Config) validate() []string {
	v := &validator{}
	c.validateSalesforce(v)
	c.validateMapping(v)
	c.validateTuning(v)
	c.validateSync(v)
	c.validateNotify(v)
	return v.issues
}

// checkName checks a field name; path admits a parent's field through relationships.
func (v *validator) checkName(key, name string, required, path bool) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" && required:
		v.add("%s: required", key)
	case name == "" || soql.IsName(name):
	case path && soql.IsPath(name):
	case path:
		v.add("%s: %q is not a Salesforce field API name or a parent's field (Account.Org_Number__c)", key, name)
	default:
		v.add("%s: %q is not a Salesforce field API name", key, name)
	}
}

func (c *Config) validateSalesforce(v *validator) {
	sf := &c.Salesforce
	if !c.present["salesforce"] {
		v.add("salesforce: required section is missing")
	}
	if o, err := soql.Object(sf.Object); err != nil {
		v.add("salesforce.object: %q: %v", sf.Object, err)
	} else {
		sf.Object = o
	}
	// Trimmed as checked: a quoted name with spaces is used in queries and writes, and compared with the mapping.
	for _, f := range []*string{&sf.OrgNumberField, &sf.CountryField, &sf.OptInField, &sf.LastSyncedField} {
		*f = strings.TrimSpace(*f)
	}
	v.checkName("salesforce.org_number_field", sf.OrgNumberField, true, true)
	v.checkName("salesforce.country_field", sf.CountryField, false, true)
	v.checkName("salesforce.opt_in_field", sf.OptInField, true, false)
	v.checkName("salesforce.last_synced_field", sf.LastSyncedField, false, false)
	if strings.TrimSpace(sf.DefaultCountry) == "" {
		v.add("salesforce.default_country: required (NO, SE, DK or FI)")
	} else if cc := strings.ToUpper(strings.TrimSpace(sf.DefaultCountry)); !orgnr.Country(cc).Valid() { // orgnr owns the country list
		v.add("salesforce.default_country: %q is not a supported country (NO, SE, DK or FI)", sf.DefaultCountry)
	} else {
		sf.DefaultCountry = cc
	}
	sf.Filter = strings.TrimSpace(sf.Filter)
	if err := soql.CheckFilter(sf.Filter); err != nil {
		v.add("salesforce.filter: %v", err)
	}
	if sf.APIReservePercent < 0 || sf.APIReservePercent > 90 {
		v.add("salesforce.api_reserve_percent: %d is out of range (0 to 90)", sf.APIReservePercent)
	}
	if sf.LastSyncedEveryCheck && sf.LastSyncedField == "" {
		v.add("salesforce.last_synced_every_check: needs salesforce.last_synced_field")
	}
}

func (c *Config) validateMapping(v *validator) {
	if !c.present["mapping"] || len(c.Mapping) == 0 {
		v.add("mapping: at least one data point must be mapped")
	}
	targets := map[string]int{}
	for i := range c.Mapping {
		r := &c.Mapping[i]
		key := fmt.Sprintf("line %d: mapping[%d]", r.Line, i)
		r.Proff, r.Field, r.Mode = strings.TrimSpace(r.Proff), strings.TrimSpace(r.Field), strings.TrimSpace(r.Mode)
		if r.Proff == "" {
			v.add("%s.proff: required", key)
		}
		c.validateTarget(v, key, i, r, targets)
		switch r.Mode {
		case "":
			r.Mode = "overwrite"
		case "overwrite", "fill_blank":
		default:
			v.add("%s.mode: %q is not a mode (overwrite or fill_blank)", key, r.Mode)
		}
		v.checkRuleHints(key, r)
	}
}

// validateTarget checks a rule's Salesforce field: a name, mapped once, and not a field proffsync sets
// for its own purposes.
func (c *Config) validateTarget(v *validator, key string, i int, r *Rule, targets map[string]int) {
	switch {
	case r.Field == "":
		v.add("%s.field: required", key)
		return
	case !soql.IsName(r.Field):
		v.add("%s.field: %q is not a Salesforce field API name", key, r.Field)
		return
	}
	lf := strings.ToLower(r.Field)
	if j, dup := targets[lf]; dup {
		v.add("%s.field: %s is already the target of mapping[%d]", key, r.Field, j)
	}
	targets[lf] = i
	sf := c.Salesforce
	for _, reserved := range []struct{ name, key string }{
		{sf.OptInField, "salesforce.opt_in_field"}, {sf.LastSyncedField, "salesforce.last_synced_field"},
	} {
		if reserved.name != "" && strings.EqualFold(reserved.name, r.Field) {
			v.add("%s.field: %s is %s and cannot be mapped", key, r.Field, reserved.key)
		}
	}
}

// checkRuleHints parses format and type into their canonical spelling (mapping owns both lists).
func (v *validator) checkRuleHints(key string, r *Rule) {
	if f, err := mapping.ParseFormat(string(r.Format)); err != nil {
		v.add("%s.format: %v", key, err)
	} else {
		r.Format = f
	}
	if strings.TrimSpace(string(r.Type)) == "" {
		r.Type = ""
	} else if k, err := mapping.ParseKind(string(r.Type)); err != nil {
		v.add("%s.type: %v", key, err)
	} else {
		r.Type = k
	}
}

func (c *Config) validateTuning(v *validator) {
	if c.Proff.RateLimitPerSecond <= 0 || c.Proff.RateLimitPerSecond > 10000 {
		v.add("proff.rate_limit_per_second: %v is out of range (more than 0, at most 10000)", c.Proff.RateLimitPerSecond)
	}
	if c.Proff.Concurrency < 1 || c.Proff.Concurrency > 64 {
		v.add("proff.concurrency: %d is out of range (1 to 64)", c.Proff.Concurrency)
	}
	if _, err := ParseCron(c.Schedule.Cron); err != nil {
		v.add("schedule.cron: %q: %v", c.Schedule.Cron, err)
	}
	if _, err := time.LoadLocation(c.Schedule.Timezone); err != nil || c.Schedule.Timezone == "" {
		v.add("schedule.timezone: %q is not a known time zone (for example Europe/Oslo)", c.Schedule.Timezone)
	}
	if c.Logs.RetentionDays < 1 || c.Logs.RetentionDays > MaxRetentionDays {
		v.add("logs.retention_days: %d is out of range (1 to %d)", c.Logs.RetentionDays, MaxRetentionDays)
	}
	if _, port, err := net.SplitHostPort(c.Serve.HTTPAddr); err != nil {
		v.add("serve.http_addr: %q is not host:port", c.Serve.HTTPAddr)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add("serve.http_addr: %q has no valid port", c.Serve.HTTPAddr)
	}
}

// maxSyncDays bounds sync.refresh_days at a hundred years, so that days become a time.Duration safely.
const maxSyncDays = 36500

func (c *Config) validateSync(v *validator) {
	if c.Sync.RefreshDays < 0 || c.Sync.RefreshDays > maxSyncDays {
		v.add("sync.refresh_days: %d is out of range (0 to %d; 0 looks every company up on every run)", c.Sync.RefreshDays, maxSyncDays)
	}
	if c.Sync.MaxLookups < 0 {
		v.add("sync.max_lookups: %d is out of range (0 for no cap, or more)", c.Sync.MaxLookups)
	}
}

func (c *Config) validateNotify(v *validator) {
	seen := map[massupdate.Status]bool{}
	on := c.Notify.On[:0]
	for _, s := range c.Notify.On {
		s = massupdate.Status(strings.ToLower(string(s)))
		if err := notify.CheckStatus(s); err != nil {
			v.add("notify.on: %v", err)
			continue
		}
		if !seen[s] {
			seen[s] = true
			on = append(on, s)
		}
	}
	c.Notify.On = on
}

// ParseCron parses five standard fields or a descriptor (@daily, @every 6h), as serve will.
func ParseCron(spec string) (cron.Schedule, error) {
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := p.Parse(strings.TrimSpace(spec))
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "failed to parse "))
	}
	return s, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// Location returns the schedule's time zone (validated at load).
func (c *Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Schedule.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Fields returns the Salesforce fields a run reads besides Id, the org number and the country: every mapped
// field and the last-synced field.
func (c *Config) Fields() []string {
	var fs []string
	seen := map[string]bool{}
	for _, r := range c.Mapping {
		if !seen[strings.ToLower(r.Field)] {
			seen[strings.ToLower(r.Field)] = true
			fs = append(fs, r.Field)
		}
	}
	if f := c.Salesforce.LastSyncedField; f != "" && !seen[strings.ToLower(f)] {
		fs = append(fs, f)
	}
	return fs
}

// Settings is what a run stores of the config it used: never a secret, never an endpoint credential.
func (c *Config) Settings() json.RawMessage {
	type rule struct {
		Proff  string `json:"proff"`
		Field  string `json:"field"`
		Mode   string `json:"mode"`
		Format string `json:"format,omitempty"`
		Type   string `json:"type,omitempty"`
	}
	s := struct {
		Object               string  `json:"object"`
		OrgNumberField       string  `json:"org_number_field"`
		CountryField         string  `json:"country_field,omitempty"`
		DefaultCountry       string  `json:"default_country"`
		OptInField           string  `json:"opt_in_field"`
		Filter               string  `json:"filter,omitempty"`
		LastSyncedField      string  `json:"last_synced_field,omitempty"`
		LastSyncedEveryCheck bool    `json:"last_synced_every_check,omitempty"`
		Mapping              []rule  `json:"mapping"`
		RateLimitPerSecond   float64 `json:"rate_limit_per_second"`
		Concurrency          int     `json:"concurrency"`
		Sync                 struct {
			ChangeFeed  bool `json:"change_feed"`
			RefreshDays int  `json:"refresh_days"`
			MaxLookups  int  `json:"max_lookups"`
		} `json:"sync"`
		NotifyOn []massupdate.Status `json:"notify_on"`
	}{
		Object: c.Salesforce.Object, OrgNumberField: c.Salesforce.OrgNumberField, CountryField: c.Salesforce.CountryField,
		DefaultCountry: c.Salesforce.DefaultCountry, OptInField: c.Salesforce.OptInField, Filter: c.Salesforce.Filter,
		LastSyncedField: c.Salesforce.LastSyncedField, LastSyncedEveryCheck: c.Salesforce.LastSyncedEveryCheck,
		RateLimitPerSecond: c.Proff.RateLimitPerSecond, Concurrency: c.Proff.Concurrency,
		NotifyOn: c.Notify.On,
	}
	// Whether notifications were sent is in the settings; where they went (a secret URL) never is.
	s.Sync.ChangeFeed, s.Sync.RefreshDays, s.Sync.MaxLookups = c.Sync.ChangeFeed, c.Sync.RefreshDays, c.Sync.MaxLookups
	if s.NotifyOn == nil {
		s.NotifyOn = []massupdate.Status{}
	}
	for _, r := range c.Mapping {
		s.Mapping = append(s.Mapping, rule{r.Proff, r.Field, r.Mode, string(r.Format), string(r.Type)})
	}
	b, _ := json.Marshal(s) // plain strings and numbers: cannot fail
	return b
}
