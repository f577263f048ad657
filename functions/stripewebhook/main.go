// Command stripewebhook is the Lambda function Stripe posts events to:
// verified, it completes purchases, saves cards, applies refunds and
// disputes. Wiring only: the handler lives in internal/.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/wiring"
)

func main() {
	deps, log := wiring.Init(wiring.Needs{Stripe: true, WebhookSecrets: true})
	h, err := wiring.StripeWebhook(deps)
	if err != nil {
		wiring.Fatal(log, "wiring", err)
	}
	lambda.Start(h.Handle)
}
