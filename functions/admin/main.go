// Command admin is the Lambda function behind the operator routes
// (/v1/admin/*, IAM-authorized): show a partner, adjust a balance, release
// a dispute hold, verify a partner against its ledger and Stripe. Wiring
// only: the handler lives in internal/.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/wiring"
)

func main() {
	deps, log := wiring.Init(wiring.Needs{Stripe: true})
	h, err := wiring.Admin(deps)
	if err != nil {
		wiring.Fatal(log, "wiring", err)
	}
	lambda.Start(h.Handle)
}
