// Package dynamotest runs the table in the in-process DynamoDB emulator
// (github.com/truora/minidyn) behind the real aws-sdk-go-v2 client, so
// adapter tests exercise the same requests production sends.
package dynamotest

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
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

// Counts are DynamoDB round trips by class.
type Counts struct {
	Reads        int64 // GetItem, BatchGetItem, Query
	Writes       int64 // PutItem, UpdateItem
	Transactions int64 // TransactWriteItems
	// ItemsRead is the items the reads returned: what a read touched, not
	// only how often it went to the table.
	ItemsRead int64
	// MaxTransactionItems is the most items one TransactWriteItems carried:
	// the emulator does not enforce DynamoDB's limit of 100, so tests do.
	MaxTransactionItems int64
	// FilteredQueries is the Queries that carried a FilterExpression.
	// DynamoDB reads every item of such a query's key range and only then
	// filters, and the emulator reports no ScannedCount: ItemsRead counts
	// only the items that passed, so a bound on ItemsRead holds only for
	// reads without a filter.
	FilteredQueries int64
}

// CountingAPI wraps an API and counts its round trips. The round-trip budgets
// of docs/ARCHITECTURE.md ("Access patterns and round trips") are asserted
// with it.
type CountingAPI struct {
	dynamo.API
	reads, writes, transactions, maxItems, itemsRead, filtered atomic.Int64
}

// NewCountingAPI wraps api.
func NewCountingAPI(api dynamo.API) *CountingAPI { return &CountingAPI{API: api} }

// Counts returns the round trips so far.
func (c *CountingAPI) Counts() Counts {
	return Counts{Reads: c.reads.Load(), Writes: c.writes.Load(), Transactions: c.transactions.Load(), ItemsRead: c.itemsRead.Load(),
		MaxTransactionItems: c.maxItems.Load(), FilteredQueries: c.filtered.Load()}
}

// Reset sets all counts to zero.
func (c *CountingAPI) Reset() {
	c.reads.Store(0)
	c.writes.Store(0)
	c.transactions.Store(0)
	c.maxItems.Store(0)
	c.itemsRead.Store(0)
	c.filtered.Store(0)
}

func (c *CountingAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.reads.Add(1)
	out, err := c.API.BatchGetItem(ctx, in, opts...)
	if out != nil {
		for _, items := range out.Responses {
			c.itemsRead.Add(int64(len(items)))
		}
	}
	return out, err
}

func (c *CountingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.reads.Add(1)
	out, err := c.API.GetItem(ctx, in, opts...)
	if out != nil && len(out.Item) > 0 {
		c.itemsRead.Add(1)
	}
	return out, err
}

func (c *CountingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.reads.Add(1)
	if in.FilterExpression != nil {
		c.filtered.Add(1)
	}
	out, err := c.API.Query(ctx, in, opts...)
	if out != nil {
		c.itemsRead.Add(int64(len(out.Items)))
	}
	return out, err
}

func (c *CountingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.writes.Add(1)
	return c.API.PutItem(ctx, in, opts...)
}

func (c *CountingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.writes.Add(1)
	return c.API.UpdateItem(ctx, in, opts...)
}

func (c *CountingAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.transactions.Add(1)
	for n := int64(len(in.TransactItems)); ; {
		m := c.maxItems.Load()
		if n <= m || c.maxItems.CompareAndSwap(m, n) {
			break
		}
	}
	return c.API.TransactWriteItems(ctx, in, opts...)
}

// Unresponsive is the URL of a DynamoDB endpoint that accepts connections,
// reads the requests and never answers, until the test ends: a hung table.
func Unresponsive(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}
