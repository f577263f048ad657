package wiring

import (
	"context"
	"log/slog"
	"os"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/logging"
)

// Init is the start of every function's main: configuration from the
// environment, the JSON logger, and the clients and secrets the function
// needs. A misconfigured function exits, so Lambda reports the init
// failure instead of every request failing.
func Init(needs Needs) (Deps, *slog.Logger) {
	cfg, err := config.FromEnv(os.Getenv)
	log := logging.New(os.Stdout, cfg.LogLevel)
	if err != nil {
		Fatal(log, "bad configuration", err)
	}
	d, err := FromEnvironment(context.Background(), cfg, os.Getenv, log, needs)
	if err != nil {
		Fatal(log, "init", err)
	}
	d.MetricsOut = os.Stdout // EMF: CloudWatch Logs extracts the metrics
	return d, log
}

// Fatal logs err and exits.
func Fatal(log *slog.Logger, what string, err error) {
	log.Error(what, "error", err.Error())
	os.Exit(1)
}
