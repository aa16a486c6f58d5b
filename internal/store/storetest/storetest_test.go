package storetest_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/proffconnect/proffsync/internal/store"
	"github.com/proffconnect/proffsync/internal/store/storetest"
)

func TestEachTestGetsItsOwnDatabaseAndItIsDropped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var names [2]string
	for i := range names {
		t.Run("db", func(t *testing.T) {
			s := storetest.New(t)
			if err := s.Ready(ctx); err != nil {
				t.Fatalf("New: not ready: %v", err)
			}
			s.Pool().QueryRow(ctx, "SELECT current_database()").Scan(&names[i])
		})
	}
	if names[0] == names[1] || names[0] == "" {
		t.Fatalf("databases: %q", names)
	}
	s := storetest.New(t)
	var n int
	s.Pool().QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", names[:]).Scan(&n)
	if n != 0 {
		t.Fatalf("%d test databases left behind", n)
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := storetest.URL(t)
	s := storetest.Open(t, u, store.Options{})
	cc := s.Pool().Config().ConnConfig
	p := storetest.NewProxy(t, net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))))

	conn, err := pgx.Connect(ctx, p.URL(u))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("a connection survived the cut")
	}
	if c, err := pgx.Connect(ctx, p.URL(u)); err == nil {
		c.Close(ctx)
		t.Fatal("a new connection was accepted while cut")
	}
	p.Restore()
	c, err := pgx.Connect(ctx, p.URL(u))
	if err != nil {
		t.Fatalf("connect after restore: %v", err)
	}
	c.Close(ctx)
}

// Dump is what the P1 test searches for secrets: a bytea column (the stored sync values) must show its text,
// not only the hex a row's text gives it.
func TestDumpShowsTheTextOfByteaColumns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := storetest.New(t)
	if _, err := s.Pool().Exec(ctx, `INSERT INTO sync_companies (country, org_number, mapping_key, vals, looked_up_at, status)
		VALUES ('NO', '923609016', 'k', $1, now(), 'found')`, []byte("\x01\x05SECRET-IN-BYTEA")); err != nil {
		t.Fatal(err)
	}
	if d := storetest.Dump(t, s); !strings.Contains(d, "SECRET-IN-BYTEA") || !strings.Contains(d, "923609016") {
		t.Errorf("the dump hides the stored bytes:\n%s", d)
	}
}
