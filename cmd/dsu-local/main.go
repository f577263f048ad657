// Command dsu-local runs the local stack (docs/ARCHITECTURE.md, "The local
// stack"): the same
// handlers as in AWS behind an emulated API Gateway, an embedded DynamoDB
// emulator with streams, stripe-mock and the sweep's schedule.
//
//	dsu-local                              run the stack
//	dsu-local token -partner P [-admin]    print a JWT for the local API
//	dsu-local simulate <scenario> ...      post a signed Stripe event
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/localstack"
	"github.com/cirasync/dsubilling/internal/logging"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dsu-local:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	env := localEnv(getenv)
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return tokenCommand(args[1:], env, stdout)
		case "simulate":
			return simulateCommand(args[1:], env, stdout)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, usage)
			return nil
		default:
			return usageError{fmt.Errorf("unknown command %q\n%s", args[0], usage)}
		}
	}
	return serveCommand(env, stdout, stderr)
}

const usage = `usage:
  dsu-local                                  run the local stack
  dsu-local token -partner P [-admin] [-ttl 12h]
                                             print a JWT for the local API
  dsu-local simulate <scenario> [flags]      post a signed Stripe event (simulate -h lists them)
`

// environment is the stack's configuration from its variables (README).
type environment struct {
	getenv        config.Getenv
	addr          string
	jwtSecret     []byte
	webhookSecret string
	sweepEvery    string
}

func localEnv(getenv config.Getenv) environment {
	return environment{
		getenv:        getenv,
		addr:          cmp.Or(getenv("DSU_LOCAL_ADDR"), "127.0.0.1:8080"),
		jwtSecret:     []byte(cmp.Or(getenv("DSU_LOCAL_JWT_SECRET"), "local-dev-secret")),
		webhookSecret: cmp.Or(getenv("STRIPE_WEBHOOK_SECRET"), "whsec_local_dev"),
		sweepEvery:    cmp.Or(getenv("DSU_LOCAL_SWEEP_INTERVAL"), "1m"),
	}
}

// functionsConfig is the functions' configuration, with the local table
// name unless TABLE_NAME says otherwise.
func (e environment) functionsConfig() (config.Config, error) {
	return config.FromEnv(func(k string) string {
		if v := e.getenv(k); v != "" || k != "TABLE_NAME" {
			return v
		}
		return "dsu-local"
	})
}

func serveCommand(env environment, stdout, stderr io.Writer) error {
	cfg, err := env.functionsConfig()
	if err != nil {
		return err
	}
	sweep, err := time.ParseDuration(env.sweepEvery)
	if err != nil || sweep <= 0 {
		return usageError{fmt.Errorf("DSU_LOCAL_SWEEP_INTERVAL: want a positive duration such as 1m, have %q", env.sweepEvery)}
	}
	log := logging.New(stderr, cfg.LogLevel)
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stack, err := localstack.Start(ctx, localstack.Options{
		Addr:             env.addr,
		JWTSecret:        env.jwtSecret,
		SweepInterval:    sweep,
		DynamoDBEndpoint: env.getenv("DYNAMODB_ENDPOINT"),
		StripeSecretKey:  env.getenv("STRIPE_SECRET_KEY"),
		WebhookSecret:    env.webhookSecret,
		Functions:        cfg,
		Log:              log,
		Metrics:          stderr, // the EMF lines, among the log lines as in CloudWatch
		Ready:            stdout,
		Local:            portalHandler(env, log),
	}, localFunctions)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	stack.Close()
	log.Info("stopped")
	return nil
}

func tokenCommand(args []string, env environment, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	partner := fs.String("partner", "", "partner id (required)")
	admin := fs.Bool("admin", false, "add the billing-admin group (needed for writes)")
	ttl := fs.Duration("ttl", 12*time.Hour, "validity")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *partner == "" {
		return usageError{errors.New("token: -partner is required")}
	}
	tok, err := env.mintToken(*partner, *admin, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// mintToken signs a local token for a partner, with the billing-admin group
// when admin, under the claim names the functions are configured with.
// `dsu-local token` and the portal's POST /local/token both mint through it.
func (e environment) mintToken(partner string, admin bool, ttl time.Duration, now time.Time) (string, error) {
	cfg, err := e.functionsConfig()
	if err != nil {
		return "", err
	}
	return localstack.SignToken(e.jwtSecret, localstack.TokenClaims{
		PartnerID: partner, Admin: admin, TTL: ttl,
		PartnerClaim: cfg.PartnerClaim, GroupsClaim: cfg.GroupsClaim, AdminGroup: cfg.AdminGroup,
	}, now)
}
