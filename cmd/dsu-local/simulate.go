package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/localstack"
)

// scenario builds one Stripe event for `dsu-local simulate`.
type scenario struct {
	help  string
	build func(ctx context.Context, sim *simulation, args []string) ([]byte, error)
}

// simulation is what scenarios build events from: the running stack.
type simulation struct {
	env     environment
	baseURL string
}

var scenarios = map[string]scenario{
	"raw": {
		help: "post an event read from -file (or stdin), signed",
		build: func(_ context.Context, _ *simulation, args []string) ([]byte, error) {
			fs := flag.NewFlagSet("raw", flag.ContinueOnError)
			file := fs.String("file", "-", "event JSON file; - for stdin")
			if err := fs.Parse(args); err != nil {
				return nil, usageError{err}
			}
			if *file == "-" {
				return io.ReadAll(os.Stdin)
			}
			return os.ReadFile(*file)
		},
	},
}

func simulateCommand(args []string, env environment, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" {
		fmt.Fprintln(stdout, "usage: dsu-local simulate <scenario> [flags]\n\nscenarios:")
		names := make([]string, 0, len(scenarios))
		for n := range scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "  %-28s %s\n", n, scenarios[n].help)
		}
		if len(args) == 0 {
			return usageError{errors.New("simulate: name a scenario")}
		}
		return nil
	}
	sc, ok := scenarios[args[0]]
	if !ok {
		return usageError{fmt.Errorf("simulate: unknown scenario %q (simulate -h lists them)", args[0])}
	}
	sim := &simulation{env: env, baseURL: "http://" + strings.TrimPrefix(env.addr, "http://")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, body, err := sim.play(ctx, sc, args[1:])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "POST %s → %d %s\n", localstack.WebhookPath, status, strings.TrimSpace(string(body)))
	if status >= 300 {
		return fmt.Errorf("the webhook answered %d", status)
	}
	return nil
}

// play builds a scenario's event and posts it, signed, to the webhook
// route. `dsu-local simulate` and the portal's POST /local/simulate both
// play scenarios through it.
func (sim *simulation) play(ctx context.Context, sc scenario, args []string) (int, []byte, error) {
	payload, err := sc.build(ctx, sim, args)
	if err != nil {
		return 0, nil, err
	}
	// While secrets rotate STRIPE_WEBHOOK_SECRET lists several; Stripe signs
	// with each, one is enough here.
	secrets := config.SplitSecrets(sim.env.webhookSecret)
	if len(secrets) == 0 {
		return 0, nil, usageError{errors.New("simulate: STRIPE_WEBHOOK_SECRET is empty")}
	}
	return localstack.PostWebhook(ctx, sim.baseURL, secrets[0], payload, time.Now())
}
