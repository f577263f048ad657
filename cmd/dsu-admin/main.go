// Command dsu-admin is the on-call operator's command line over the
// operator routes: show, adjust, release-dispute-hold, verify. See
// internal/admincli and README.md ("Operating it").
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/cirasync/dsubilling/internal/admincli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cli := &admincli.CLI{Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(cli.Run(ctx, os.Args[1:]))
}
