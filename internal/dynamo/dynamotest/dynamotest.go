// Package dynamotest runs the table in the in-process DynamoDB emulator
// (github.com/truora/minidyn) behind the real aws-sdk-go-v2 client, so
// adapter tests exercise the same requests production sends.
package dynamotest

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	miniserver "github.com/truora/minidyn/server"

	"github.com/cirasync/dsubilling/internal/dynamo"
)

// Table is the table name tests use.
const Table = "dsu-test"

// Emulator is one emulated DynamoDB with the table created.
type Emulator struct {
	Server *miniserver.Server // failure injection: EmulateFailure, ...
	URL    string
	Client *dynamodb.Client
}

// New starts an emulator for the test and creates the table.
func New(t testing.TB) *Emulator {
	t.Helper()
	srv := miniserver.NewServer()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	client := dynamo.NewEndpointClient(ts.URL)
	if err := dynamo.CreateTable(context.Background(), client, Table); err != nil {
		t.Fatal(err)
	}
	return &Emulator{Server: srv, URL: ts.URL, Client: client}
}
