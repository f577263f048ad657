// Command purchases is the Lambda function behind the catalog, purchase,
// balance and ledger routes. Wiring only: the handler lives in internal/.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/wiring"
)

func main() {
	deps, log := wiring.Init(wiring.Needs{Stripe: true})
	h, err := wiring.Purchases(deps)
	if err != nil {
		wiring.Fatal(log, "wiring", err)
	}
	lambda.Start(h.Handle)
}
