package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/proffconnect/proffsync/internal/sandbox"
)

func sandboxCommand() command {
	c := command{name: "sandbox", summary: "serve the demo's Salesforce and Proff emulators until stopped",
		help: `Starts the built-in Salesforce and Proff emulators, seeded like the demo's, and prints the environment
that points proffsync at them (eval it in another shell), then serves until SIGTERM/SIGINT. For trying
check, preview, run and serve by hand without credentials, and for benchmarks with the emulators in a
process of their own. Everything in it is fictional and local.`}
	var companies int
	var proffLatency, sfLatency time.Duration
	var dir string
	c.run = func(ctx context.Context, a *app, args []string) error {
		fs := a.flags(c)
		fs.IntVar(&companies, "companies", 240, "how many fictional companies (accounts are a few more)")
		fs.DurationVar(&proffLatency, "proff-latency", 0, "latency the Proff emulator adds to every answer")
		fs.DurationVar(&sfLatency, "sf-latency", 0, "latency the Salesforce emulator adds to every answer")
		fs.StringVar(&dir, "dir", "", "where to write the sandbox's proffsync.yaml (default: a temporary folder)")
		if _, err := a.parse(fs, args, 0); err != nil {
			return err
		}
		if companies < 1 || companies > 1_000_000 {
			return usageError("sandbox: --companies must be between 1 and 1000000")
		}
		start := time.Now()
		sb := sandbox.Start(sandbox.Options{Companies: companies})
		defer sb.Close()
		sb.Proff.SetLatency(proffLatency)
		sb.SF.SetLatency(sfLatency)
		if dir == "" {
			var err error
			if dir, err = os.MkdirTemp("", "proffsync-sandbox-"); err != nil {
				return err
			}
			defer os.RemoveAll(dir)
		}
		cfgPath := filepath.Join(dir, "proffsync.yaml")
		if err := os.WriteFile(cfgPath, []byte(sandbox.DemoConfig), 0o644); err != nil {
			return fmt.Errorf("write the sandbox config: %w", err)
		}
		env := sb.Env(a.getenv("DATABASE_URL"))
		delete(env, "DATABASE_URL") // the caller's own, or the default
		env["PROFFSYNC_CONFIG"] = cfgPath
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(a.stdout, "export %s=%s\n", k, env[k])
		}
		fmt.Fprintf(a.stdout, "# %d opted-in accounts, %d opted out; seeded in %s. Stop with Ctrl-C.\n",
			sb.Expect.Selected, sb.Expect.OptedOut, time.Since(start).Round(time.Millisecond))
		if f, ok := a.stdout.(*os.File); ok {
			f.Sync()
		}
		<-ctx.Done()
		return nil
	}
	return c
}
