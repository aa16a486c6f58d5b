// Package store is proffsync's PostgreSQL store: the connection pool, the embedded migrations, the run lock,
// the runs with their record outcomes and field changes, the history queries, the technical log of HTTP
// calls, and pruning. It implements massupdate.RunStore and transport.Recorder.
//
// All SQL of proffsync lives here. What must never happen here: the password of DATABASE_URL (or any other
// secret) in an error, a log line or a row; a request header or the body of a successful call in the
// technical log; a running run pruned.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/secret"
)

// Options tune a Store. The zero value is production's.
type Options struct {
	// RetryFor bounds how long SaveBatch and FinishRun keep retrying on connection errors (a short
	// PostgreSQL loss must not lose a run's bookkeeping). Default 30s.
	RetryFor time.Duration
	// RetryBackoff is the first wait between tries; it doubles up to 2s. Default 200ms.
	RetryBackoff time.Duration
	// LockPingEvery is how often the run lock's connection is pinged to notice its death. Default 5s.
	LockPingEvery time.Duration
	// LockWait is how long AcquireRunLock keeps trying before it reports the lock held. A process killed
	// a moment ago (SIGKILL, OOM) still holds it until PostgreSQL has noticed its socket closed, which takes
	// moments: a run started right after (a restart by systemd or Kubernetes) must not be refused for a run
	// that is already dead. Default 2s; negative: one try.
	LockWait time.Duration
	// MaxConns bounds the pool; 0 keeps pgx's default (or pool_max_conns from the URL).
	MaxConns int32
	// CallLogFlushEvery is how often the technical log writes its buffer. Default 1s.
	CallLogFlushEvery time.Duration
	// CallLogBuffer is how many calls may wait to be written before new ones are dropped. Default 10000.
	CallLogBuffer int
	// Clock tells the time the Store stamps and prunes by, and waits between retries (RetryFor is measured
	// on it); clock.System when nil. Tests pass a virtual one (clocktest), whose waits move its time, so that
	// retries never sleep and a retry budget still ends.
	Clock clock.Clock
	// OnRetry, when set, is told of every retry after a connection error (a test signal).
	OnRetry func(op string, attempt int, err error)
	// Secrets are the process's secrets (the Proff token, the Salesforce credentials, …). Together with the
	// password of DATABASE_URL they are scrubbed from every error the Store returns and from every text it
	// stores that may quote a server or an error (error excerpts, reasons, a run's error), so that a
	// caller's unscrubbed text never puts a secret in a row (README: Privacy P1).
	Secrets []string
}

func (o Options) withDefaults() Options {
	if o.RetryFor == 0 {
		o.RetryFor = 30 * time.Second
	}
	if o.RetryBackoff == 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.LockWait == 0 {
		o.LockWait = 2 * time.Second
	}
	if o.LockPingEvery == 0 {
		o.LockPingEvery = 5 * time.Second
	}
	if o.CallLogFlushEvery == 0 {
		o.CallLogFlushEvery = time.Second
	}
	if o.CallLogBuffer == 0 {
		o.CallLogBuffer = 10000
	}
	o.Clock = clock.Or(o.Clock)
	return o
}

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	opts    Options
	secrets []string // the password, scrubbed from every error
	addr    string   // host:port, for messages

	mu          sync.Mutex
	lockSession *session // the run lock this Store holds, if any

	callLogOnce sync.Once
	callLog     *CallLog
}

// session identifies a PostgreSQL backend across pid reuse.
type session struct {
	pid   uint32
	start time.Time
}

// Open connects to databaseURL with the default Options. It does not migrate.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (*Store, error) {
	return OpenWith(ctx, databaseURL, logger, Options{})
}

// OpenWith connects to databaseURL and checks that PostgreSQL answers. It does not migrate.
func OpenWith(ctx context.Context, databaseURL string, logger *slog.Logger, opts Options) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	secrets := urlSecrets(databaseURL)
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", scrubbed(err, secrets))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.Password != "" {
		secrets = append(secrets, cfg.ConnConfig.Password)
	}
	secrets = append(secrets, opts.Secrets...)
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "proffsync"
	}
	s := &Store{log: logger, opts: opts.withDefaults(), secrets: secrets, addr: hostPort(cfg.ConnConfig.Config)}
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL pool: %w", s.scrub(err))
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, s.connectError(err)
	}
	return s, nil
}

// Close flushes the technical log (for a few seconds at most) and closes every connection.
func (s *Store) Close() {
	if s.callLog != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.callLog.Close(ctx)
		cancel()
	}
	s.pool.Close()
}

// Pool is the underlying pool, for callers (tests, tools) that need plain SQL.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ready reports whether PostgreSQL answers and every embedded migration is applied.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return s.connectError(err)
	}
	files, err := loadMigrations()
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("check migrations: %w", s.scrub(err))
	}
	for _, m := range files {
		if !applied[m.version] {
			return fmt.Errorf("database is not migrated: migration %04d_%s is pending (run `proffsync migrate`)", m.version, m.name)
		}
	}
	return nil
}

func (s *Store) now() time.Time { return s.opts.Clock.Now() }

// scrub hides the password from err's text; errors.Is/As still see the cause.
func (s *Store) scrub(err error) error { return scrubbed(err, s.secrets) }

func (s *Store) connectError(err error) error { return connectError(err, s.addr, s.secrets) }

// DBTX is what the queries need: a pool, a connection or a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// EnsureDatabase creates the database named in databaseURL when it does not exist, connecting to the
// `postgres` maintenance database with the same credentials. It is a no-op when the database exists.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	secrets := urlSecrets(databaseURL)
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", scrubbed(err, secrets))
	}
	if cfg.Password != "" {
		secrets = append(secrets, cfg.Password)
	}
	addr := hostPort(cfg.Config)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	if !isSQLState(err, "3D000") { // anything but "database does not exist"
		return connectError(err, addr, secrets)
	}
	name := cfg.Database
	maint := cfg.Copy()
	maint.Database = "postgres"
	mconn, err := pgx.ConnectConfig(ctx, maint)
	if isSQLState(err, "3D000") {
		// Some hosted servers have no `postgres` database; template1 always exists.
		maint.Database = "template1"
		mconn, err = pgx.ConnectConfig(ctx, maint)
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, connectError(err, addr, secrets))
	}
	defer mconn.Close(context.WithoutCancel(ctx))
	_, err = mconn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	switch {
	case err == nil, isSQLState(err, "42P04"): // created, or another process just created it
		return nil
	case isSQLState(err, "42501"):
		return fmt.Errorf("database %q does not exist and role %q may not create it: create it or set DATABASE_URL", name, cfg.User)
	default:
		return fmt.Errorf("create database %q: %w", name, scrubbed(err, secrets))
	}
}

// connectError turns a failure to reach PostgreSQL into the message contract users need.
func connectError(err error, addr string, secrets []string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		return &scrubError{msg: fmt.Sprintf("connect to PostgreSQL at %s: %s (`proffsync migrate` creates it)",
			addr, secret.Scrub(pgErr.Message, secrets)), err: err}
	}
	if errors.As(err, &pgErr) {
		// PostgreSQL answered: bad credentials, missing database, … — its message says which.
		return fmt.Errorf("connect to PostgreSQL at %s: %w", addr, scrubbed(err, secrets))
	}
	// Cancelled by the caller (Ctrl-C): not a reachability problem. A deadline, though, is what an
	// unanswered dial looks like, and gets the "cannot reach" advice.
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", addr, scrubbed(err, secrets))
	}
	cause := err
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		cause = opErr
	}
	return &scrubError{
		msg: fmt.Sprintf("cannot reach PostgreSQL at %s: %s; start it or set DATABASE_URL", addr, secret.Scrub(cause.Error(), secrets)),
		err: err,
	}
}

// scrubError carries a cause for errors.Is/As while its text has the secrets removed.
type scrubError struct {
	msg string
	err error
}

func (e *scrubError) Error() string { return e.msg }
func (e *scrubError) Unwrap() error { return e.err }

func scrubbed(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := secret.Scrub(err.Error(), secrets)
	if msg == err.Error() {
		return err
	}
	return &scrubError{msg: msg, err: err}
}

// urlSecrets returns the password of a postgres:// URL (or of a key=value string), to be scrubbed.
func urlSecrets(raw string) []string {
	var out []string
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			out = append(out, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	for _, f := range strings.Fields(raw) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") && v != "" {
			out = append(out, strings.Trim(v, "'"))
		}
	}
	return out
}

func hostPort(c pgconn.Config) string {
	if strings.HasPrefix(c.Host, "/") {
		return fmt.Sprintf("%s/.s.PGSQL.%d", c.Host, c.Port)
	}
	return net.JoinHostPort(c.Host, fmt.Sprint(c.Port))
}

func isSQLState(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// pgText makes s storable in a PostgreSQL text column: PostgreSQL refuses a NUL byte (in text, and as
// \u0000 in jsonb) and invalid UTF-8, and either would fail the whole statement — a batch of records or a
// chunk of the technical log — again on every retry. Such bytes come from outside (a JSON string holding
// \u0000, an error page in UTF-16), so each is replaced by U+FFFD.
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// pgExcerpt is pgText for an error excerpt: there a NUL is dropped, so that a UTF-16 error page still reads.
func pgExcerpt(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
}

// pgJSONValue is pgText for a value stored as jsonb, bounded like a long text.
func pgJSONValue(v any) any {
	if s, ok := v.(string); ok {
		return bounded(pgText(s), maxLongText)
	}
	return v
}

// What the store keeps of one text that comes from Salesforce or Proff (README: Privacy: store no more than a
// run's history needs). A real org number or country code is a few characters and a real reason or field
// value rarely passes a few hundred; anything longer is cut, visibly, so that one hostile or broken record
// cannot fill the history and the terminal of whoever reads it.
const (
	// maxShortText bounds an org number and a country.
	maxShortText = 200
	// maxLongText bounds a reason, an error excerpt, a run's error and a text field value.
	maxLongText = 1000
)

// truncatedMark ends a text that bounded cut.
const truncatedMark = "… (truncated)"

// bounded returns s when it has at most max runes, else its first runes followed by truncatedMark, max
// runes in all. It counts and cuts runes, so it never splits a UTF-8 sequence.
func bounded(s string, max int) string {
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	keep := max - utf8.RuneCountInString(truncatedMark)
	i := 0
	for n := 0; n < keep; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + truncatedMark
}

// storedText is what the store keeps of a text that may quote a server or an error, already made valid
// for PostgreSQL (pgText, pgExcerpt): scrubbed of every secret the Store knows, before the cut so that no
// part of a secret survives it, and bounded to max runes (0: not bounded).
func (s *Store) storedText(valid string, max int) string {
	text := secret.Scrub(valid, s.secrets)
	if max > 0 {
		text = bounded(text, max)
	}
	return text
}
