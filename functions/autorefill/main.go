// Command autorefill is the Lambda function of the automated billing plan,
// triggered by the table's stream (balance changes) and by the sweep's
// schedule. Wiring only: the handler lives in internal/.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/wiring"
)

func main() {
	deps, _ := wiring.Init(wiring.Needs{Stripe: true})
	lambda.Start(wiring.AutoRefill(deps).Handle)
}
