package proff_test

import (
	"context"
	"sync"
	"testing"

	"github.com/proffconnect/proffsync/internal/clock/clocktest"
	"github.com/proffconnect/proffsync/internal/proff"
	"github.com/proffconnect/proffsync/internal/proffemu"
	"github.com/proffconnect/proffsync/internal/transport"
)

const secret = "tok-Sup3rSecret-7f3a9c"

// calls records every technical-log Call.
type calls struct {
	mu sync.Mutex
	cs []transport.Call
}

func (c *calls) RecordCall(_ context.Context, call transport.Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cs = append(c.cs, call)
}

func (c *calls) all() []transport.Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]transport.Call(nil), c.cs...)
}

type fixture struct {
	emu   *proffemu.Server
	c     *proff.Client
	calls *calls
	clock *clocktest.Clock
}

// setup starts an emulator and a client on a virtual clock with a generous rate.
func setup(t *testing.T, eo proffemu.Options, mutate func(*proff.Options)) *fixture {
	t.Helper()
	if eo.Token == "" {
		eo.Token = secret
	}
	emu := proffemu.New(eo)
	t.Cleanup(emu.Close)
	f := &fixture{emu: emu, calls: &calls{}, clock: clocktest.New()}
	o := proff.Options{
		BaseURL: emu.URL(), Token: secret, RatePerSecond: 1000, Concurrency: 8, Recorder: f.calls,
		Points: points(t, "name", "revenue", "employees", "nace.code", "establishedDate", "registeredForVat"),
		Clock:  f.clock, Rand: func() float64 { return 0.5 },
	}
	if eo.TLS {
		o.RootCAs = emu.CertPool()
	}
	if mutate != nil {
		mutate(&o)
	}
	c, err := proff.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.c = c
	return f
}

func points(t *testing.T, names ...string) []proff.DataPoint {
	t.Helper()
	var ps []proff.DataPoint
	for _, n := range names {
		p, err := proff.ResolvePoint(n)
		if err != nil {
			t.Fatalf("ResolvePoint(%q): %v", n, err)
		}
		ps = append(ps, p)
	}
	return ps
}
