// Package wiring builds each function's handler from configuration and
// clients. The Lambda entry points (functions/*/main.go) and the local stack
// (cmd/dsu-local) both use it, so both run the same handlers.
package wiring

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/routes"
)

// Deps are the clients and services a function is built from. Build them
// once per process (Lambda init), never per request.
type Deps struct {
	Config   config.Config
	DynamoDB dynamo.API
	Clock    dsu.Clock
	IDs      dsu.IDGenerator
	Log      *slog.Logger
}

// DynamoDBClient is the DynamoDB client for cfg: the emulator named by
// DYNAMODB_ENDPOINT, or AWS with the Lambda's role. It does no network I/O.
func DynamoDBClient(cfg config.Config, getenv config.Getenv) (*dynamodb.Client, error) {
	if cfg.DynamoDBEndpoint != "" {
		return dynamo.NewEndpointClient(cfg.DynamoDBEndpoint), nil
	}
	awsCfg, err := LambdaAWSConfig(getenv)
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(awsCfg), nil
}

// LambdaAWSConfig is the SDK configuration inside Lambda: region and the
// execution role's credentials come from the environment Lambda sets. The
// SDK's general config loader (profiles, SSO, IMDS, STS) is not linked: it
// would add megabytes to every bootstrap for sources Lambda never uses.
func LambdaAWSConfig(getenv config.Getenv) (aws.Config, error) {
	region := getenv("AWS_REGION")
	creds := aws.Credentials{
		AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
		Source:          "lambda-environment",
	}
	if region == "" || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (Lambda sets them)")
	}
	return aws.Config{
		Region: region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
		RetryMaxAttempts: 3,
	}, nil
}

// Store is the DynamoDB store over d's client.
func (d Deps) Store() *dynamo.Store {
	return dynamo.New(d.DynamoDB, dynamo.Options{
		Table: d.Config.Table, Clock: d.Clock, IDs: d.IDs, CursorKey: []byte(d.Config.CursorKey),
	})
}

func (d Deps) httpConfig(store *dynamo.Store, fn string) httpapi.Config {
	return httpapi.Config{
		Claims:   httpapi.ClaimNames{Partner: d.Config.PartnerClaim, Groups: d.Config.GroupsClaim, AdminGroup: d.Config.AdminGroup},
		Partners: &app.Partners{Store: store, Defaults: d.Config.Partner, Clock: d.Clock},
		Log:      d.Log.With("function", fn),
	}
}

// Purchases builds the purchases function.
func Purchases(d Deps) (*httpapi.Function, error) {
	store := d.Store()
	catalog := &app.CachedCatalog{Source: store, Clock: d.Clock, TTL: d.Config.CatalogTTL}
	return httpapi.NewFunction(routes.Purchases, routes.ForFunction(routes.Purchases), d.httpConfig(store, routes.Purchases), httpapi.PurchasesEndpoints(httpapi.PurchasesDeps{
		Packages: &app.Packages{Catalog: catalog},
	}))
}
