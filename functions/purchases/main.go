// Command purchases is the Lambda function behind the catalog, purchase,
// balance and ledger routes. Wiring only: the handler lives in internal/.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/wiring"
)

func main() {
	cfg, err := config.FromEnv(os.Getenv)
	log := logging.New(os.Stdout, cfg.LogLevel)
	if err != nil {
		log.Error("bad configuration", "error", err.Error())
		os.Exit(1)
	}
	ddb, err := wiring.DynamoDBClient(cfg, os.Getenv)
	if err != nil {
		log.Error("dynamodb client", "error", err.Error())
		os.Exit(1)
	}
	clock := dsu.SystemClock{}
	h, err := wiring.Purchases(wiring.Deps{Config: cfg, DynamoDB: ddb, Clock: clock, IDs: dsu.RandomIDs{Clock: clock}, Log: log})
	if err != nil {
		log.Error("wiring", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
