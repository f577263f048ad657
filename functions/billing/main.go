// Command billing is the Lambda function behind the billing-info routes:
// contact and address, the card, the automated plan's settings. Wiring
// only: the handler lives in internal/.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/wiring"
)

func main() {
	deps, log := wiring.Init(wiring.Needs{Stripe: true})
	h, err := wiring.Billing(deps)
	if err != nil {
		wiring.Fatal(log, "wiring", err)
	}
	lambda.Start(h.Handle)
}
