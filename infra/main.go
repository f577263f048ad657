// Command infra is the CDK app of DSU Billing (docs/DEPLOYMENT.md).
// cdk.json runs it with `go run ./infra` from the repository root:
//
//	npx cdk synth                      # dev stage, Cognito user pool for the portal
//	npx cdk synth -c stage=prod -c portalOrigin=https://portal.example.com
//
// Before it synthesizes, it builds every function of routes.Functions into
// dist/<fn>/bootstrap (linux/arm64, no Docker), so one command works
// offline from a fresh clone. The context keys are listed in config.go and in
// docs/DEPLOYMENT.md.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	cfg, err := ConfigFromContext(app.Node().TryGetContext)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(cfg.CodeDir) {
		cfg.CodeDir = filepath.Join(root, cfg.CodeDir)
	}
	if !cfg.SkipBuild {
		if err := BuildFunctions(root, cfg.CodeDir, os.Stderr); err != nil {
			return err
		}
	}
	if _, err := NewBillingStack(app, cfg.StackName, cfg); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
