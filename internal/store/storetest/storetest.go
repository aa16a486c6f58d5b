// Package storetest gives tests a real, isolated PostgreSQL database: each call makes a fresh database on
// the machine's PostgreSQL (127.0.0.1:5432, user postgres, or PROFFSYNC_TEST_DATABASE_URL) and drops it
// when the test ends. Proxy is a TCP proxy that tests cut and restore to simulate losing PostgreSQL.
//
// What must never happen here: a test sharing a database with another, or a mock standing in for
// PostgreSQL.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/transport"
)

// EnvURL names the variable that points the tests at another PostgreSQL (any database of it: the tests
// create their own next to it).
const EnvURL = "PROFFSYNC_TEST_DATABASE_URL"

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func baseURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return defaultURL
}

// New returns a Store on a fresh, migrated database that is dropped when the test ends.
func New(t testing.TB) *store.Store { return NewWith(t, store.Options{}) }

// NewWith is New with Options.
func NewWith(t testing.TB, opts store.Options) *store.Store {
	t.Helper()
	s := Open(t, URL(t), opts)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return s
}

// Open opens a Store on databaseURL (for example a URL from URL or through a Proxy) and closes it when the
// test ends. It does not migrate.
func Open(t testing.TB, databaseURL string, opts store.Options) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.OpenWith(ctx, databaseURL, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// URL creates a fresh, empty database and returns its URL; the database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	u := MissingURL(t)
	name := dbName(t, u)
	withMaintenance(t, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		return err
	})
	return u
}

// MissingURL returns the URL of a database that does not exist yet (for tests of its creation); whatever
// creates it, it is dropped when the test ends.
func MissingURL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(baseURL())
	if err != nil {
		t.Fatalf("storetest: %s is not a URL", EnvURL)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "proffsync_test_" + hex.EncodeToString(b[:])
	u.Path = "/" + name
	t.Cleanup(func() {
		withMaintenance(t, func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			return err
		})
	})
	return u.String()
}

func dbName(t testing.TB, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path[1:]
}

// withMaintenance runs f on a connection to the base URL's database (PostgreSQL cannot create or drop a
// database from inside it).
func withMaintenance(t testing.TB, f func(context.Context, *pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, baseURL())
	if err != nil {
		t.Fatalf("storetest: cannot reach the test PostgreSQL (start it, or set %s): %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if err := f(ctx, conn); err != nil {
		t.Fatalf("storetest: %v", err)
	}
}

// Proxy is an in-process TCP proxy in front of PostgreSQL. Cut drops every connection and refuses new ones
// until Restore: what a restart or a network loss looks like to the client.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy listens on a loopback port and forwards to targetAddr (host:port); it stops when the test ends.
func NewProxy(t testing.TB, targetAddr string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("storetest: proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, target: targetAddr, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns databaseURL with its host and port replaced by the proxy's.
func (p *Proxy) URL(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		panic("storetest: bad URL: " + err.Error())
	}
	u.Host = p.Addr()
	return u.String()
}

// Cut closes every proxied connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	cut := p.cut
	p.mu.Unlock()
	if cut {
		client.Close()
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.cut { // cut while dialling
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.mu.Unlock()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			client.Close()
			server.Close()
			p.mu.Lock()
			delete(p.conns, client)
			delete(p.conns, server)
			p.mu.Unlock()
		})
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(server, client); closeBoth(); done <- struct{}{} }() //nolint:errcheck // ends on close
	go func() { io.Copy(client, server); closeBoth(); done <- struct{}{} }() //nolint:errcheck // ends on close
	<-done
	<-done
}

// Dump returns every row of every table of the Store's database as text, one row a line, prefixed by its
// table: what a test searches for secrets that must never be stored (README: Privacy P1).
func Dump(t testing.TB, s *store.Store) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, err := s.Pool().Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
		FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
		ORDER BY 1`)
	if err != nil {
		t.Fatalf("storetest: list tables: %v", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("storetest: list tables: %v", err)
	}
	var b strings.Builder
	for _, table := range tables {
		// A row's text shows bytea (the stored sync values) as hex, where a search would never find a
		// secret or a document's text: each bytea column is added with its printable bytes as they are.
		rows, err := s.Pool().Query(ctx, `SELECT quote_ident(column_name) FROM information_schema.columns
			WHERE quote_ident(table_schema) || '.' || quote_ident(table_name) = $1 AND data_type = 'bytea'
			ORDER BY ordinal_position`, table)
		if err != nil {
			t.Fatalf("storetest: list the bytea columns of %s: %v", table, err)
		}
		bytea, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("storetest: list the bytea columns of %s: %v", table, err)
		}
		row := "t::text"
		for _, c := range bytea {
			row += " || coalesce(' ' || encode(t." + c + ", 'escape'), '')"
		}
		// The table and column names come from the catalogue, quoted by PostgreSQL itself.
		rows, err = s.Pool().Query(ctx, "SELECT "+row+" FROM "+table+" t")
		if err != nil {
			t.Fatalf("storetest: dump %s: %v", table, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("storetest: dump %s: %v", table, err)
		}
		for _, l := range lines {
			b.WriteString(table + " " + l + "\n")
		}
	}
	return b.String()
}

// Rows counts the rows that retention prunes (README: Privacy P9): runs, record outcomes, field changes and
// technical-log rows.
type Rows struct {
	Runs, Records, Changes, Calls int64
}

// Add returns the sum of r and o.
func (r Rows) Add(o Rows) Rows {
	return Rows{r.Runs + o.Runs, r.Records + o.Records, r.Changes + o.Changes, r.Calls + o.Calls}
}

// Seeded is what Seed wrote.
type Seeded struct {
	RunID string
	Rows  Rows
}

// Seed writes, through the Store's own methods, one run that finished at `at` with two record outcomes and
// three field changes, and two technical-log rows at `at` (one of the run, one of no run): a test of
// retention seeds old and recent rows with it, prunes, and compares Count with the recent ones' Rows.
func Seed(t testing.TB, s *store.Store, at time.Time) Seeded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := &massupdate.Run{Trigger: massupdate.Manual, StartedAt: at.Add(-time.Minute)}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatalf("storetest: seed run: %v", err)
	}
	b := massupdate.Batch{
		Results: []massupdate.RecordResult{
			{RecordID: "001000000000001AAA", OrgNumber: "923609016", Country: "NO", Outcome: massupdate.Updated},
			{RecordID: "001000000000002AAA", OrgNumber: "984851006", Country: "NO", Outcome: massupdate.Failed,
				Reason: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Postal code must be 4 digits"},
		},
		Changes: []massupdate.FieldChange{
			{RecordID: "001000000000001AAA", Field: "Name", Old: "Equinor", New: "EQUINOR ASA"},
			{RecordID: "001000000000001AAA", Field: "Phone", Old: nil, New: "+47 51 99 00 00"},
			{RecordID: "001000000000001AAA", Field: "NumberOfEmployees", Old: 21000.0, New: 21408.0},
		},
		Checkpoint: "001000000000002AAA",
		Counts:     massupdate.Counts{Selected: 2, Updated: 1, Failed: 1},
	}
	if err := s.SaveBatch(ctx, r.ID, b); err != nil {
		t.Fatalf("storetest: seed batch: %v", err)
	}
	finished := at
	r.Status, r.FinishedAt, r.Counts = massupdate.Partial, &finished, b.Counts
	if err := s.FinishRun(ctx, r); err != nil {
		t.Fatalf("storetest: seed finish: %v", err)
	}
	cl := s.CallLog()
	cl.RecordCall(ctx, transport.Call{RunID: r.ID, CorrelationID: r.ID + "-1", Service: transport.Proff, Method: "GET",
		Endpoint: "GET /api/companies/register/{country}/{orgnr}", Status: 200, Attempt: 1, StartedAt: at})
	cl.RecordCall(ctx, transport.Call{CorrelationID: r.ID + "-2", Service: transport.Salesforce, Method: "POST",
		Endpoint: "POST /services/oauth2/token", Status: 400, Attempt: 1, ErrorClass: transport.ClassClient,
		ErrorExcerpt: "invalid_grant", StartedAt: at})
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("storetest: seed technical log: %v", err)
	}
	return Seeded{RunID: r.ID, Rows: Rows{Runs: 1, Records: 2, Changes: 3, Calls: 2}}
}

// Count returns how many runs, record outcomes, field changes and technical-log rows the Store's database
// holds.
func Count(t testing.TB, s *store.Store) Rows {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r Rows
	err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM run_records),
		(SELECT count(*) FROM field_changes), (SELECT count(*) FROM call_logs)`).Scan(&r.Runs, &r.Records, &r.Changes, &r.Calls)
	if err != nil {
		t.Fatalf("storetest: count rows: %v", err)
	}
	return r
}
