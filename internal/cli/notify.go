package cli

import (
	"context"
	"log/slog"

	"github.com/proffconnect/proffsync/internal/config"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/notify"
	"github.com/proffconnect/proffsync/internal/transport"
)

// newNotifier builds the webhook notifier of cfg, or nil when NOTIFY_WEBHOOK_URL is not set. Its requests go
// to the technical log like every other request (rec may be nil). A notifier that cannot be built (config
// load checked the URL, so this is a guard) is logged and left out: a notification never stops a run.
func (a *app) newNotifier(cfg *config.Config, rec transport.Recorder) *notify.Notifier {
	if cfg.Env.NotifyWebhookURL == "" {
		return nil
	}
	on := cfg.Notify.On
	if on == nil {
		on = []massupdate.Status{} // an empty notify.on means none; nil would mean notify's defaults
	}
	n, err := notify.New(notify.Options{URL: cfg.Env.NotifyWebhookURL, On: on, Secrets: a.secrets,
		Recorder: rec, Logger: a.log})
	if err != nil {
		a.log.Warn("run notifications are off", slog.String("error", a.scrub(err.Error())))
		return nil
	}
	return n
}

// notify posts the ended run's notification when its status is one of notify.on. It never changes the
// run's outcome: a failure is a warning in the log.
func (a *app) notify(ctx context.Context, cfg *config.Config, rec transport.Recorder, run massupdate.Run) {
	a.newNotifier(cfg, rec).Notify(ctx, run)
}
