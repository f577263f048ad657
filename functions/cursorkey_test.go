package functions_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/lambdatest"
	"github.com/cirasync/dsubilling/internal/routes"
)

// awsEnv is a function's environment as in AWS (no DYNAMODB_ENDPOINT: the
// real DynamoDB), with plain Stripe secrets so that init makes no network
// call, plus extra.
func awsEnv(rt *lambdatest.RuntimeAPI, extra ...string) []string {
	return append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + rt.Addr(), "AWS_LAMBDA_FUNCTION_NAME=test", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"TABLE_NAME=DsuBilling-prod-Table-1X2Y3Z", "STRIPE_SECRET_KEY=rk_test_functions", "STRIPE_WEBHOOK_SECRET=" + webhookSecret,
	}, extra...)
}

// Against AWS DynamoDB a function refuses to start without its cursor key:
// the built-in key, which anyone can read in the source, is for the local
// stack and tests only (docs/DEPLOYMENT.md, "The cursor key").
func TestFunctionsRefuseToStartInAWSWithoutCursorKey(t *testing.T) {
	for _, fn := range routes.Functions {
		t.Run(fn, func(t *testing.T) {
			bin := lambdatest.Build(t, fn)
			for name, extra := range map[string][]string{
				"no key":      nil,
				"a short key": {"CURSOR_KEY=short"},
			} {
				rt := lambdatest.NewRuntimeAPI(t)
				cmd := exec.Command(bin)
				cmd.Env = awsEnv(rt, extra...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				select {
				case err := <-exited:
					if err == nil {
						t.Errorf("%s: the function exited cleanly", name)
					}
					if !strings.Contains(out.String(), "cursor key") && !strings.Contains(out.String(), "CURSOR_KEY_ARN is required") {
						t.Errorf("%s: the log does not say what is missing: %s", name, out.String())
					}
				case <-rt.Ready():
					_ = cmd.Process.Kill()
					<-exited
					t.Errorf("%s: the function started and asked for an event", name)
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
					t.Errorf("%s: the function neither started nor exited within 30 s", name)
				}
			}
			// With a key it gets as far as asking for its first event: the
			// refusal above is the key's, not something else's.
			lambdatest.Start(t, bin, map[string]string{
				"TABLE_NAME": "DsuBilling-prod-Table-1X2Y3Z", "STRIPE_SECRET_KEY": "rk_test_functions",
				"STRIPE_WEBHOOK_SECRET": webhookSecret, "CURSOR_KEY": strings.Repeat("k", 64),
			})
		})
	}
}
