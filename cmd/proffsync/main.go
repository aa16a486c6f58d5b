// Command proffsync is the Proff Connect Mass Update worker. Everything happens in internal/cli; main only
// ties the process to it: signals, environment, standard streams, exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedule.timezone must work in a minimal container without zoneinfo

	"github.com/proffconnect/proffsync/internal/cli"
)

func main() {
	cli.TuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
