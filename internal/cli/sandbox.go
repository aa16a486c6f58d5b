package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/proffconnect/proffsync/internal/sandbox"
)

func sandboxSpec() spec {
	return spec{name: "sandbox", summary: "serve the demo's Salesforce and Proff emulators until stopped",
		help: `Starts the built-in Salesforce and Proff emulators, seeded like the demo's, and prints the environment
that points proffsync at them (eval it in another shell), then serves until SIGTERM/SIGINT. For trying
check, preview, run and serve by hand without credentials, and for benchmarks with the emulators in a
process of their own. Everything in it is fictional and local. The last line it prints before serving
starts with "# ready": a script can wait for it (--dir is created when it does not exist).`,
		build: func(a *app, fs *flag.FlagSet) command {
			c := &sandboxCmd{app: a}
			fs.IntVar(&c.companies, "companies", 240, "how many fictional companies (accounts are a few more)")
			fs.DurationVar(&c.proffLatency, "proff-latency", 0, "latency the Proff emulator adds to every answer")
			fs.DurationVar(&c.sfLatency, "sf-latency", 0, "latency the Salesforce emulator adds to every answer")
			fs.StringVar(&c.dir, "dir", "", "where to write the sandbox's proffsync.yaml (default: a temporary folder)")
			fs.StringVar(&c.countries, "countries", "", "the countries' shares in percent, e.g. NO=40,SE=20,DK=20,FI=20 (default: a quarter each)")
			return c
		}}
}

type sandboxCmd struct {
	*app
	companies               int
	proffLatency, sfLatency time.Duration
	dir                     string
	countries               string
	shares                  map[string]int
}

func (c *sandboxCmd) Validate() error {
	if c.companies < 1 || c.companies > 1_000_000 {
		return usageError("sandbox: --companies must be between 1 and 1000000")
	}
	if c.countries != "" {
		shares, err := sandbox.ParseShares(c.countries)
		if err != nil {
			return usageError("sandbox: --countries: %v", err)
		}
		c.shares = shares
	}
	return nil
}

func (c *sandboxCmd) Run(ctx context.Context) error {
	start := time.Now()
	sb := sandbox.Start(sandbox.Options{Companies: c.companies, Shares: c.shares})
	defer sb.Close()
	sb.Proff.SetLatency(c.proffLatency)
	sb.SF.SetLatency(c.sfLatency)
	dir := c.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "proffsync-sandbox-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create the sandbox folder: %w", err)
	}
	cfgPath := filepath.Join(dir, "proffsync.yaml")
	if err := os.WriteFile(cfgPath, []byte(sandbox.DemoConfig), 0o644); err != nil {
		return fmt.Errorf("write the sandbox config: %w", err)
	}
	env := sb.Env(c.getenv("DATABASE_URL"))
	delete(env, "DATABASE_URL") // the caller's own, or the default
	env["PROFFSYNC_CONFIG"] = cfgPath
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(c.stdout, "export %s=%s\n", k, env[k])
	}
	fmt.Fprintf(c.stdout, "# %d opted-in accounts, %d opted out; seeded in %s.\n",
		sb.Expect.Selected, sb.Expect.OptedOut, time.Since(start).Round(time.Millisecond))
	if u := env[sandbox.ControlEnv]; u != "" {
		fmt.Fprintf(c.stdout, "# control: POST %s%s?changes=0.01 moves the register on by a simulated day\n", u, sandbox.DayPath)
	}
	// The ready line comes last, once both emulators answer: what a script waits for before it goes on.
	fmt.Fprintf(c.stdout, "# ready: Salesforce at %s, Proff at %s, config %s. Stop with Ctrl-C.\n",
		env["SF_LOGIN_URL"], env["PROFF_API_URL"], cfgPath)
	if f, ok := c.stdout.(*os.File); ok {
		f.Sync()
	}
	<-ctx.Done()
	return nil
}
