// Command usage is the Lambda function the sync platform reports daily
// usage to (IAM-authorized). Wiring only: the handler lives in internal/.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/wiring"
)

func main() {
	deps, log := wiring.Init(wiring.Needs{})
	h, err := wiring.Usage(deps)
	if err != nil {
		wiring.Fatal(log, "wiring", err)
	}
	lambda.Start(h.Handle)
}
