package cli

import (
	"context"
	"flag"
	"fmt"
)

// Version is set at build time (-ldflags "-X …/internal/cli.Version=v1.2.3").
var Version = "dev"

func versionSpec() spec {
	return spec{name: "version", summary: "print the version", help: "Prints proffsync's version.",
		build: func(a *app, _ *flag.FlagSet) command { return &versionCmd{app: a} }}
}

type versionCmd struct{ *app }

func (c *versionCmd) Validate() error { return nil }

func (c *versionCmd) Run(context.Context) error {
	fmt.Fprintln(c.stdout, "proffsync", Version)
	return nil
}
