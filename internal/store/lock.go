package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/retry"
)

// runLockKey is the advisory lock that lets one run at a time exist per database.
const runLockKey int64 = 0x70726f66_72756e31 // "profrun1"

// AcquireRunLock takes the run lock, on a connection of its own (a session advisory lock lives and dies
// with its session; a pooled connection could be borrowed by anyone). When another session holds it for
// longer than Options.LockWait, the error is a *massupdate.LockedError naming the running run.
func (s *Store) AcquireRunLock(ctx context.Context) (massupdate.RunLock, error) {
	conn, err := s.dedicatedConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire run lock: %w", err)
	}
	var ok bool
	var sess session
	clk := s.opts.Clock
	deadline := clk.Now().Add(s.opts.LockWait)
	for {
		err = conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1), pg_backend_pid(),
			(SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())`, runLockKey).
			Scan(&ok, &sess.pid, &sess.start)
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("acquire run lock: %w", s.scrub(err))
		}
		if ok {
			break
		}
		// Held: by a live run, or by a session whose process died a moment ago and that PostgreSQL is
		// about to end. Try again for a little while before saying so.
		if !clk.Now().Before(deadline) || clk.Sleep(ctx, 100*time.Millisecond) != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, &massupdate.LockedError{RunID: s.runningRun(ctx)}
		}
	}
	l := &runLock{s: s, conn: conn, sess: sess, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.lockSession = &l.sess
	s.mu.Unlock()
	go l.watch(s.opts.LockPingEvery)
	return l, nil
}

// runningRun names the run of the session holding the lock, or else the newest running run ("" if none:
// the holder may not have created its run yet).
func (s *Store) runningRun(ctx context.Context) string {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT r.id FROM runs r WHERE r.status = 'running'
		ORDER BY EXISTS (`+strings.ReplaceAll(lockHoldersSQL, "$3", "$1")+` AND a.pid = r.lock_pid) DESC, r.started_at DESC
		LIMIT 1`, runLockKey).Scan(&id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		s.log.WarnContext(ctx, "cannot name the run holding the lock", "error", s.scrub(err).Error())
	}
	return id
}

type runLock struct {
	s      *Store
	connMu sync.Mutex // a pgx.Conn serves one caller at a time: the watcher, Check, Release
	conn   *pgx.Conn
	sess   session

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

var _ massupdate.LockChecker = (*runLock)(nil)

func (l *runLock) Lost() <-chan struct{} { return l.lost }

// watch pings the lock's connection: when it fails, the session (and with it the lock) is gone or about to
// be, and the run must stop before another process takes the lock and starts a second run.
func (l *runLock) watch(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	timeout := max(2*every, 10*time.Second)
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		if err := l.ping(context.Background(), timeout); err != nil {
			return
		}
	}
}

// Check confirms the lock's session is alive, and so still holds the lock (a session advisory lock ends
// only with its session or an unlock). It costs one round trip on the lock's own connection; the engine
// calls it before every write to Salesforce, so that a session that died since the last ping is noticed
// before the write rather than up to LockPingEvery after it.
func (l *runLock) Check(ctx context.Context) error {
	return l.ping(ctx, max(2*l.s.opts.LockPingEvery, 10*time.Second))
}

// ping pings the lock's connection; when that fails the lock is marked lost and the error wraps
// massupdate.ErrLockLost.
func (l *runLock) ping(ctx context.Context, timeout time.Duration) error {
	l.connMu.Lock()
	select {
	case <-l.lost:
		l.connMu.Unlock()
		return massupdate.ErrLockLost
	default:
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	err := l.conn.Ping(pctx)
	cancel()
	l.connMu.Unlock()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		// The caller gave up (the run is stopping): that says nothing about the lock.
		return fmt.Errorf("check the run lock: %w", ctx.Err())
	}
	l.s.log.Warn("lost the run lock: its database connection failed", "error", l.s.scrub(err).Error())
	l.markLost()
	return fmt.Errorf("%w: its database connection failed: %w", massupdate.ErrLockLost, l.s.scrub(err))
}

func (l *runLock) markLost() {
	l.lostOnce.Do(func() {
		close(l.lost)
		l.forget()
		// Make sure the session is gone so the lock is free for the next run and not held by a zombie.
		l.connMu.Lock()
		l.conn.Close(context.Background())
		l.connMu.Unlock()
	})
}

func (l *runLock) forget() {
	l.s.mu.Lock()
	if l.s.lockSession == &l.sess {
		l.s.lockSession = nil
	}
	l.s.mu.Unlock()
}

// Release gives the lock back and closes its connection. Releasing a lost lock is a no-op.
func (l *runLock) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	select {
	case <-l.lost:
		return nil
	default:
	}
	l.forget()
	l.connMu.Lock()
	defer l.connMu.Unlock()
	defer l.conn.Close(context.WithoutCancel(ctx))
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", runLockKey); err != nil {
		return fmt.Errorf("release run lock: %w", l.s.scrub(err))
	}
	return nil
}

// retryPolicy is how the bookkeeping is retried: from RetryBackoff, doubling up to 2s (or RetryBackoff,
// when that is longer), without jitter, for at most RetryFor. One process writes its own run's rows: there
// is no herd to spread out.
func (o Options) retryPolicy() retry.Policy {
	p := retry.Policy{Base: o.RetryBackoff, Cap: max(2*time.Second, o.RetryBackoff), Within: o.RetryFor}
	if o.RetryFor < 0 {
		p.Attempts = 1 // a negative RetryFor has always meant no retry; to the policy it would mean no bound
	}
	return p
}

// retry runs f until it succeeds, fails with something other than a connection error, or Options.RetryFor
// has passed (on Options.Clock): bookkeeping must survive PostgreSQL restarting or a network blip.
func (s *Store) retry(ctx context.Context, op string, f func(context.Context) error) error {
	clk, policy := s.opts.Clock, s.opts.retryPolicy()
	start := clk.Now()
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil || !isConnError(err) || ctx.Err() != nil {
			return err
		}
		wait := policy.Backoff(attempt)
		if elapsed := clk.Now().Sub(start); policy.Spent(attempt) || policy.Overdue(elapsed, wait) {
			return fmt.Errorf("gave up after %d tries in %s: %w", attempt, elapsed.Round(time.Millisecond), err)
		}
		if s.opts.OnRetry != nil {
			s.opts.OnRetry(op, attempt, err)
		}
		s.log.WarnContext(ctx, "PostgreSQL connection failed; retrying", "op", op, "attempt", attempt,
			"wait", wait, "error", s.scrub(err).Error())
		if clk.Sleep(ctx, wait) != nil {
			return err // the caller gave up: the failure is still the news, not the cancellation
		}
	}
}

// isConnError reports whether err means the connection, not the statement, failed: worth a retry.
func isConnError(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-57P03: the server is shutting down or starting up.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.SafeToRetry(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNREFUSED):
		// pgconn wraps what the socket said ("failed to receive message: …"): the cause decides, by type.
		return true
	}
	return false
}
