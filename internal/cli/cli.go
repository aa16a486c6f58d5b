// Package cli is proffsync's command line: it parses flags, loads the config once, wires the adapters
// (store, Salesforce, Proff) to the engine, and maps what happened onto contract.md's exit codes.
//
// Every command takes its output writers and environment from Main's arguments, so tests run the real
// commands in-process. What must never happen here: a stack trace, a secret or a record value on stdout or
// stderr; anything but the summary on stdout under --json.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/transport"
)

// Exit codes of contract.md.
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
			fmt.Fprintf(a.stderr, "proffsync: internal error: %s\n", transport.Scrub(fmt.Sprint(p), a.secrets))
			if a.logLevel == "debug" {
				a.stderr.Write(debug.Stack())
			}
			code = ExitFailed
		}
	}()
	return f()
}

func (a *app) main(ctx context.Context, args []string) int {
	stderr := a.stderr
	err := a.run(ctx, args)
	code := exitCode(err)
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Err != nil {
			msg := a.scrub(err.Error())
			fmt.Fprintf(stderr, "proffsync: %s\n", strings.ReplaceAll(msg, "\n", " "))
		}
		if code == ExitUsage {
			fmt.Fprintln(stderr, "Run 'proffsync help' for usage.")
		}
	}
	return code
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
	log        *slog.Logger
	secrets    []string // scrubbed from the final error line, whatever produced it
	help       func()   // prints the current command's help
}

// command is one subcommand.
type command struct {
	name, args, summary, help string
	run                       func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return []command{
		runCommand(), previewCommand(), serveCommand(), historyCommand(), pruneCommand(),
		migrateCommand(), checkCommand(), demoCommand(), sandboxCommand(), versionCommand(),
	}
}

func (a *app) run(ctx context.Context, args []string) error {
	global := flag.NewFlagSet("proffsync", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	a.globalFlags(global)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(a.stdout)
			return nil
		}
		return usageError("%v", err)
	}
	rest := global.Args()
	if len(rest) == 0 {
		a.usage(a.stderr)
		return &ExitError{Code: ExitUsage, Err: errors.New("no command given")}
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			for _, c := range commands() {
				if c.name == rest[1] {
					return c.run(ctx, a, []string{"--help"})
				}
			}
			return usageError("unknown command %q", rest[1])
		}
		a.usage(a.stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, a, rest[1:])
		}
	}
	return usageError("unknown command %q", name)
}

func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.configPath, "config", a.configPath, "path of the YAML config (default $PROFFSYNC_CONFIG or proffsync.yaml)")
	fs.StringVar(&a.logFormat, "log-format", orDefault(a.logFormat, "auto"), "log format: auto (coloured text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&a.logLevel, "log-level", orDefault(a.logLevel, "info"), "log level: debug, info, warn or error")
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

// flags returns a FlagSet for c with the global flags, printing help on stdout for --help.
func (a *app) flags(c command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	fs.Usage = func() {} // flag calls Usage on every parse error; help is printed on --help only
	a.help = func() {
		fmt.Fprintf(a.stdout, "Usage: proffsync %s %s\n\n%s\n", c.name, c.args, c.help)
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
	return fs
}

// parse parses args for c; --help prints help and ends the command with exit 0.
func (a *app) parse(fs *flag.FlagSet, args []string, maxArgs int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.help()
			return nil, &ExitError{Code: ExitOK}
		}
		return nil, usageError("%s: %v", fs.Name(), err)
	}
	rest := fs.Args()
	// Flags may follow positional arguments (history show ID --json).
	var pos []string
	for len(rest) > 0 {
		pos = append(pos, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				a.help()
				return nil, &ExitError{Code: ExitOK}
			}
			return nil, usageError("%s: %v", fs.Name(), err)
		}
		rest = fs.Args()
	}
	if len(pos) > maxArgs {
		return nil, usageError("%s: unexpected argument %q", fs.Name(), pos[maxArgs])
	}
	switch a.logFormat {
	case "auto", "text", "json":
	default:
		return nil, usageError("--log-format: %q is not auto, text or json", a.logFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, usageError("--log-level: %q is not debug, info, warn or error", a.logLevel)
	}
	a.log = newLogger(a.stderr, a.logFormat, lvl)
	return pos, nil
}

// newLogger picks tint on a terminal and JSON elsewhere, unless the format says otherwise.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(tint.NewHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
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
func (a *app) scrub(s string) string { return transport.Scrub(s, a.secrets) }

func versionCommand() command {
	return command{name: "version", summary: "print the version", help: "Prints proffsync's version.",
		run: func(ctx context.Context, a *app, args []string) error {
			c := versionCommand()
			if _, err := a.parse(a.flags(c), args, 0); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "proffsync", Version)
			return nil
		}}
}

// Version is set at build time (-ldflags "-X …/internal/cli.Version=v1.2.3").
var Version = "dev"
