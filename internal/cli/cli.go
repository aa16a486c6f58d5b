// Package cli is proffsync's command line: it parses flags, loads the config once, wires the adapters
// (store, Salesforce, Proff) to the engine, and maps what happened onto the exit codes of README: Contract.
//
// Each command is a small type in a file of its own (run.go, preview.go, …): its flags, a Validate that
// checks what they say before anything is opened, and a Run. Every command takes its output writers and
// environment from Main's arguments, so tests run the real commands in-process. What must never happen
// here: a stack trace, a secret, a record value or a raw control character on stdout or stderr; anything but
// the summary on stdout under --json.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/runctx"
	"github.com/proffconnect/proffsync/internal/safetext"
	"github.com/proffconnect/proffsync/internal/secret"
)

// Exit codes of README: Contract. They are defined here only: every command maps its outcome onto these.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitPartial     = 2
	ExitLocked      = 3
	ExitInterrupted = 4
	ExitUsage       = 64
	ExitConfig      = 78
)

// ExitError carries an exit code with the reason printed on stderr (nil Err: print nothing).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

func usageError(format string, a ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

// Main runs proffsync with args (without the program name) and returns the process exit code.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	a := &app{getenv: getenv, stdout: stdout, stderr: stderr, now: time.Now}
	return a.guard(func() int { return a.main(ctx, args) })
}

// guard turns a panic into one scrubbed line and exit 1: a bug must not print a stack trace full of values.
// The stack is printed only with --log-level debug.
func (a *app) guard(f func() int) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(a.stderr, "proffsync: internal error: %s\n", a.printable(fmt.Sprint(p)))
			if a.logLevel == "debug" {
				a.stderr.Write(debug.Stack())
			}
			code = ExitFailed
		}
	}()
	return f()
}

func (a *app) main(ctx context.Context, args []string) int {
	err := a.run(ctx, args)
	code := exitCode(err)
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Err != nil {
			// The reason may quote Salesforce, Proff or PostgreSQL: scrubbed, then escaped for the terminal.
			fmt.Fprintf(a.stderr, "proffsync: %s\n", a.printable(err.Error()))
		}
		if code == ExitUsage {
			fmt.Fprintln(a.stderr, "Run 'proffsync help' for usage.")
		}
	}
	return code
}

// printable makes text from outside fit for one line of the operator's terminal: every secret the command
// has seen scrubbed first (an escape must not split a secret the scrub would then miss), line breaks
// folded into spaces, and every control character left written as a visible escape.
func (a *app) printable(s string) string {
	return safetext.Escape(strings.ReplaceAll(a.scrub(s), "\n", " "))
}

func exitCode(err error) int {
	var ee *ExitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.Code
	case config.IsError(err):
		return ExitConfig
	default:
		return ExitFailed
	}
}

// app is what every command shares: the process's environment, writers and global options.
type app struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	now            func() time.Time

	configPath string
	logFormat  string
	logLevel   string
	log        *slog.Logger // built once, after the flags are parsed
	secrets    []string     // scrubbed from the final error line, whatever produced it
}

// command is one subcommand, built with its flags registered. Validate checks what the flags and arguments
// say before anything is read or opened (a mistake there is exit 64); Run does the work.
type command interface {
	Validate() error
	Run(ctx context.Context) error
}

// withArgs is a command that takes positional arguments (history show RUN_ID).
type withArgs interface{ setArgs(pos []string) }

// spec describes a command for help and dispatch.
type spec struct {
	name, args, summary, help string
	maxArgs                   int
	// build returns a fresh command bound to a, its flags registered on fs.
	build func(a *app, fs *flag.FlagSet) command
}

func commands() []spec {
	return []spec{
		runSpec(), previewSpec(), serveSpec(), historySpec(), revertSpec(), pruneSpec(),
		migrateSpec(), checkSpec(), demoSpec(), sandboxSpec(), versionSpec(),
	}
}

func (a *app) run(ctx context.Context, args []string) error {
	global := flag.NewFlagSet("proffsync", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	a.globalFlags(global)
	showVersion := global.Bool("version", false, "print the version and exit")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return nil
		}
		return usageError("%v", err)
	}
	if *showVersion {
		printVersion(a.stdout, readBuild())
		return nil
	}
	rest := global.Args()
	if len(rest) == 0 {
		a.usage(a.stderr)
		return &ExitError{Code: ExitUsage, Err: errors.New("no command given")}
	}
	name, cmdArgs := rest[0], rest[1:]
	if name == "help" {
		if len(rest) == 1 {
			a.usage(a.stdout)
			return nil
		}
		name, cmdArgs = rest[1], []string{"--help"}
	}
	for _, s := range commands() {
		if s.name == name {
			return a.execute(ctx, s, cmdArgs)
		}
	}
	return usageError("unknown command %q", name)
}

// execute parses the command's flags, builds the logger once, validates and runs the command.
func (a *app) execute(ctx context.Context, s spec, args []string) error {
	fs := flag.NewFlagSet(s.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // flag calls Usage on every parse error; help is printed on --help only
	a.globalFlags(fs)
	cmd := s.build(a, fs)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		a.help(s, fs)
		return nil
	}
	if err != nil {
		return usageError("%s: %v", s.name, err)
	}
	if len(pos) > s.maxArgs {
		return usageError("%s: unexpected argument %q", s.name, pos[s.maxArgs])
	}
	if c, ok := cmd.(withArgs); ok {
		c.setArgs(pos)
	}
	lvl, err := a.logOptions()
	if err != nil {
		return err
	}
	a.log = newLogger(a.stderr, a.logFormat, lvl)
	if err := cmd.Validate(); err != nil {
		return err
	}
	return cmd.Run(ctx)
}

// parseArgs parses args, letting flags follow positional arguments (history show ID --json).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	var pos []string
	for len(rest) > 0 {
		pos = append(pos, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, err
		}
		rest = fs.Args()
	}
	return pos, nil
}

func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.configPath, "config", a.configPath, "path of the YAML config (default $PROFFSYNC_CONFIG or proffsync.yaml)")
	fs.StringVar(&a.logFormat, "log-format", orDefault(a.logFormat, "auto"), "log format: auto (coloured text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&a.logLevel, "log-level", orDefault(a.logLevel, "info"), "log level: debug, info, warn or error")
}

// logOptions checks --log-format and --log-level.
func (a *app) logOptions() (slog.Level, error) {
	var lvl slog.Level
	switch a.logFormat {
	case "auto", "text", "json":
	default:
		return lvl, usageError("--log-format: %q is not auto, text or json", a.logFormat)
	}
	if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
		return lvl, usageError("--log-level: %q is not debug, info, warn or error", a.logLevel)
	}
	return lvl, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, `proffsync: the Proff Connect Mass Update worker.
Reads the org numbers of opted-in Salesforce records, looks the companies up in Proff (GET only,
rate-limited), writes only the admin-selected fields back, and records every run in PostgreSQL.

Usage: proffsync [--config FILE] [--log-format auto|text|json] [--log-level LEVEL] COMMAND [flags]
       proffsync --version

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
'proffsync COMMAND --help' tells more. Secrets and endpoints come from the environment
(DATABASE_URL, PROFF_API_TOKEN, SF_CLIENT_ID, ...): see README.md.
`)
}

// help prints the help of s, whose flags are registered on fs, on stdout.
func (a *app) help(s spec, fs *flag.FlagSet) {
	fmt.Fprintf(a.stdout, "Usage: proffsync %s %s\n\n%s\n", s.name, s.args, s.help)
	var own, global []string
	fs.VisitAll(func(f *flag.Flag) {
		line := fmt.Sprintf("  --%s", f.Name)
		if name, _ := flag.UnquoteUsage(f); name != "" {
			line += " " + name
		}
		line = fmt.Sprintf("%-24s %s", line, f.Usage)
		if f.Name == "config" || f.Name == "log-format" || f.Name == "log-level" {
			global = append(global, line)
		} else {
			own = append(own, line)
		}
	})
	sort.Strings(own)
	if len(own) > 0 {
		fmt.Fprintf(a.stdout, "\nFlags:\n%s\n", strings.Join(own, "\n"))
	}
	fmt.Fprintf(a.stdout, "\nGlobal flags:\n%s\n", strings.Join(global, "\n"))
}

// newLogger picks tint on a terminal and JSON elsewhere, unless the format says otherwise. Either way every
// line written with a run's context carries its run_id.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	var h slog.Handler
	if format == "text" {
		h = newTextHandler(w, level, isTerminal(w))
	} else {
		h = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: normalAttr})
	}
	return slog.New(runctx.NewHandler(h))
}

// normalAttr writes every time in UTC, as the text output and the run summary do (a log read next to
// `history` must not be an hour off), and rounds floats and durations, whose nanosecond digits only make
// a line harder to read.
func normalAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindTime:
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	case slog.KindFloat64:
		a.Value = slog.Float64Value(roundFloat(a.Value.Float64()))
	case slog.KindDuration:
		a.Value = slog.DurationValue(roundDuration(a.Value.Duration()))
	}
	return a
}

// roundFloat keeps three decimals: milliseconds of a duration in ms, a rate to the thousandth.
func roundFloat(f float64) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1e12 {
		return f
	}
	return math.Round(f*1000) / 1000
}

// roundDuration keeps a millisecond under a minute and a second above, microseconds under a millisecond.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute || d <= -time.Minute:
		return d.Round(time.Second)
	case d >= time.Millisecond || d <= -time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// newTextHandler is tint with every string it prints escaped: tint writes values and the message raw, so
// an ESC in an error quoted from Salesforce would reach the operator's terminal.
func newTextHandler(w io.Writer, level slog.Level, color bool) slog.Handler {
	return tint.NewHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !color, ReplaceAttr: escapeAttr})
}

// escapeAttr escapes the message and every value printed as text (time, level and numbers hold no text),
// after normalAttr has put times in UTC and rounded the numbers.
func escapeAttr(groups []string, a slog.Attr) slog.Attr {
	a = normalAttr(groups, a)
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); logSafe(s) != s {
			a.Value = slog.StringValue(logSafe(s))
		}
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case slog.Level, *slog.Source:
		case error:
			a.Value = slog.StringValue(logSafe(v.Error()))
		case fmt.Stringer:
			a.Value = slog.StringValue(logSafe(v.String()))
		default:
			a.Value = slog.StringValue(logSafe(fmt.Sprintf("%+v", v)))
		}
	}
	return a
}

// logSafe is safetext.Escape for tint, which, with colour on, quotes a value and then turns every `\x1b` of
// the quoted text back into a raw ESC (to let coloured values through): the four characters, whether
// Escape wrote them or the value held them, are written `\x1B`, which tint leaves alone.
func logSafe(s string) string {
	return strings.ReplaceAll(safetext.Escape(s), `\x1b`, `\x1B`)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// loadEnv reads the environment once, remembers its secrets for scrubbing and logs its warnings (a secret
// file others can read, a database reached without verified TLS) at the start of every command.
func (a *app) loadEnv() (config.Env, error) {
	env, err := config.LoadEnv(a.getenv)
	a.secrets = append(a.secrets, env.Secrets()...)
	if a.log != nil {
		for _, w := range env.Warnings {
			a.log.Warn("configuration warning", slog.String("problem", a.scrub(w)))
		}
	}
	return env, err
}

// configFile says which config file to read: --config, then PROFFSYNC_CONFIG, then proffsync.yaml.
func (a *app) configFile(env config.Env) (path string, explicit bool) {
	switch {
	case a.configPath != "":
		return a.configPath, true
	case env.ConfigPath != "":
		return env.ConfigPath, true
	default:
		return config.DefaultPath, false
	}
}

// loadConfig reads the environment and the config file; both must be valid.
func (a *app) loadConfig() (*config.Config, error) {
	env, err := a.loadEnv()
	if err != nil {
		return nil, err
	}
	path, _ := a.configFile(env)
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	cfg.Env = env
	return cfg, nil
}

// scrub removes every secret the command has seen from s.
func (a *app) scrub(s string) string { return secret.Scrub(s, a.secrets) }
