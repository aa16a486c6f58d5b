package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version is set at build time (-ldflags "-X …/internal/cli.Version=v1.2.3"); without it the module version
// from the build info is shown (a tag with `go install …@v1.2.3`, "(devel)" in a source build).
var Version = ""

// Revision and BuildTime stand in for the VCS revision and time where the build had no git checkout to read
// them from (the image is built from a context without .git): -X …/internal/cli.Revision=$(git rev-parse HEAD).
var Revision, BuildTime = "", ""

func versionSpec() spec {
	return spec{name: "version", summary: "print the version, the revision it was built from, and the Go version",
		help: `Prints proffsync's version, the VCS revision and time it was built from (and whether the tree had
uncommitted changes), and the Go version. 'proffsync --version' prints the same.`,
		build: func(a *app, _ *flag.FlagSet) command { return &versionCmd{app: a} }}
}

type versionCmd struct{ *app }

func (c *versionCmd) Validate() error { return nil }

func (c *versionCmd) Run(context.Context) error {
	printVersion(c.stdout, readBuild())
	return nil
}

// build is what a binary knows of how it was built.
type build struct {
	version, revision, time, goVersion string
	modified                           bool
}

// readBuild reads the build info the Go toolchain embeds: the module version, and the vcs.* settings that
// `go build` records in a git checkout.
func readBuild() build {
	b := build{version: Version, revision: Revision, time: BuildTime, goVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b.withDefaults()
	}
	if b.version == "" {
		b.version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.time":
			b.time = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b.withDefaults()
}

func (b build) withDefaults() build {
	if b.version == "" {
		b.version = "(devel)"
	}
	return b
}

func printVersion(w io.Writer, b build) {
	fmt.Fprintf(w, "proffsync %s\n", b.version)
	rev := b.revision
	switch {
	case rev == "":
		rev = "unknown (built outside a git checkout, or with -buildvcs=false)"
	case b.modified:
		rev += " (with uncommitted changes)"
	}
	fmt.Fprintf(w, "  revision  %s\n", rev)
	if b.time != "" {
		fmt.Fprintf(w, "  built     %s\n", b.time)
	}
	fmt.Fprintf(w, "  go        %s\n", b.goVersion)
}
