package cli

import (
	"context"
	"fmt"
)

func notYet(name, summary, help string) command {
	c := command{name: name, summary: summary, help: help}
	c.run = func(ctx context.Context, a *app, args []string) error {
		if _, err := a.parse(a.flags(c), args, 2); err != nil {
			return err
		}
		return fmt.Errorf("%s: %w", name, errNotYet)
	}
	return c
}

func serveCommand() command {
	return notYet("serve", "long-running worker: schedule (when enabled), health, metrics, pruning", "")
}
