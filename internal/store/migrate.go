package store

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/migrations"
)

// migrationLockKey serialises migrations across processes (pg_advisory_lock keys are per database).
const migrationLockKey int64 = 0x70726f66_6d696772 // "profmigr"

type migration struct {
	version int64
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d+)_([A-Za-z0-9_\-]+)\.sql$`)

// loadMigrations reads the embedded migrations in version order.
func loadMigrations() ([]migration, error) { return readMigrations(migrations.FS) }

func readMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || !migrationName.MatchString(e.Name()) {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version: %w", e.Name(), err)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: m[2], sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies the embedded migrations that are not applied yet, in order, each in its own transaction,
// and records them in schema_migrations. It holds a session advisory lock on a dedicated connection for
// the whole time, so processes migrating at once take turns and each migration is applied exactly once.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := loadMigrations()
	if err != nil {
		return err
	}
	conn, err := s.dedicatedConn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// Closing the connection also releases its advisory lock, whatever happened.
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", s.scrub(err))
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey) //nolint:errcheck // Close releases it anyway

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint      PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", s.scrub(err))
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate: %w", s.scrub(err))
	}
	for _, m := range files {
		if applied[m.version] {
			continue
		}
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %04d_%s: %w", m.version, m.name, s.scrub(err))
		}
		s.log.InfoContext(ctx, "applied migration", slog.Int64("version", m.version), slog.String("name", m.name),
			slog.Duration("took", time.Since(start)))
	}
	return nil
}

// appliedVersions returns the versions recorded in schema_migrations (none when the table is missing).
func appliedVersions(ctx context.Context, db DBTX) (map[int64]bool, error) {
	var exists bool
	if err := db.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	out := map[int64]bool{}
	if !exists {
		return out, nil
	}
	rows, err := db.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	for _, v := range vs {
		out[v] = true
	}
	return out, nil
}

// dedicatedConn opens a connection outside the pool: session advisory locks must live on a connection that
// no other caller can borrow, and must die with it.
func (s *Store) dedicatedConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, s.connectError(err)
	}
	return conn, nil
}
