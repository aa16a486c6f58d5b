package serve

import (
	"net"
	"sync"
)

// limitListener accepts at most n connections at a time: a client that opens connections and holds them
// cannot take every file descriptor of the process. At the limit, Accept waits until one closes; the
// waiting connections queue in the kernel, and /healthz answers again as soon as the server's timeouts
// have dropped the idle ones.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	atLimit   func() // tests: called when Accept has to wait
}

func newLimitListener(l net.Listener, n int, atLimit func()) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{}), atLimit: atLimit}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		if l.atLimit != nil {
			l.atLimit()
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when it is closed, once however often Close is called.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
