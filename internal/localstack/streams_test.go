package localstack

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	miniserver "github.com/truora/minidyn/server"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/logging"
)

type capture struct {
	mu      sync.Mutex
	records []events.DynamoDBEventRecord
}

func (c *capture) emit(r []events.DynamoDBEventRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.records = append(c.records, r...)
}

func (c *capture) take() []events.DynamoDBEventRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.records
	c.records = nil
	return r
}

func newTap(t *testing.T, emit func([]events.DynamoDBEventRecord)) *dynamodb.Client {
	t.Helper()
	mini := miniserver.NewServer()
	backend := httptest.NewServer(mini)
	t.Cleanup(backend.Close)
	if err := dynamo.CreateTable(context.Background(), dynamo.NewEndpointClient(backend.URL), "t"); err != nil {
		t.Fatal(err)
	}
	tap := httptest.NewServer(NewStreamTap(mini, backend.URL, "t", emit, logging.Discard()))
	t.Cleanup(tap.Close)
	return dynamo.NewEndpointClient(tap.URL)
}

func sk(r events.DynamoDBEventRecord) string { return r.Change.Keys["sk"].String() }

func TestTapEmitsImagesPerWrite(t *testing.T) {
	c := &capture{}
	client := newTap(t, c.emit)
	store := dynamo.New(client, dynamo.Options{Table: "t", Clock: dsutest.NewFixedClock(now)})
	ctx := context.Background()

	if _, err := store.CreatePartner(ctx, dsu.NewPartner("p1", dsu.PartnerDefaults{Currency: dsu.USD}, now), 2000); err != nil {
		t.Fatal(err)
	}
	recs := c.take()
	// Profile, grant guard, the month's marker, grant entry, balance.
	if len(recs) != 5 {
		t.Fatalf("%d records for a 5-item transaction", len(recs))
	}
	for _, r := range recs {
		if r.EventName != "INSERT" || r.Change.OldImage != nil || r.Change.NewImage == nil || r.Change.StreamViewType != "NEW_AND_OLD_IMAGES" || r.EventSource != "aws:dynamodb" {
			t.Fatalf("record %+v", r)
		}
	}

	if _, _, err := store.ApplyLedger(ctx, dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryUsage, Units: -500, Reference: "usage:p1:t:2026-11-01"}); err != nil {
		t.Fatal(err)
	}
	var balance *events.DynamoDBEventRecord
	for _, r := range c.take() {
		if sk(r) == "BALANCE" {
			balance = &r
		}
	}
	if balance == nil || balance.EventName != "MODIFY" || balance.Change.OldImage["units"].Number() != "2000" || balance.Change.NewImage["units"].Number() != "1500" {
		t.Fatalf("balance record %+v", balance)
	}

	// A write whose condition fails changes nothing and emits nothing.
	if _, err := store.CreatePartner(ctx, dsu.NewPartner("p1", dsu.PartnerDefaults{Currency: dsu.USD}, now), 2000); err == nil {
		t.Fatal("second creation succeeded")
	}
	if recs := c.take(); len(recs) != 0 {
		t.Fatalf("a failed write emitted %d records", len(recs))
	}

	_, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("t"), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "P#p1"}, "sk": &types.AttributeValueMemberS{Value: "PROFILE"}}})
	if err != nil {
		t.Fatal(err)
	}
	recs = c.take()
	if len(recs) != 1 || recs[0].EventName != "REMOVE" || recs[0].Change.NewImage != nil || recs[0].Change.OldImage["partnerId"].String() != "p1" {
		t.Fatalf("delete records %+v", recs)
	}
}

func TestTapKeepsPerItemOrderUnderConcurrency(t *testing.T) {
	c := &capture{}
	client := newTap(t, c.emit)
	store := dynamo.New(client, dynamo.Options{Table: "t", Clock: dsutest.NewFixedClock(now)})
	ctx := context.Background()
	store.CreatePartner(ctx, dsu.NewPartner("p1", dsu.PartnerDefaults{Currency: dsu.USD}, now), 0)
	c.take()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			store.ApplyLedger(ctx, dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryAdjustment, Units: 1, Reference: "adjustment:" + string(rune('a'+i))})
		})
	}
	wg.Wait()
	last := int64(-1)
	n := 0
	for _, r := range c.take() {
		if sk(r) != "BALANCE" {
			continue
		}
		n++
		old, _ := r.Change.OldImage["version"].Int64()
		cur, _ := r.Change.NewImage["version"].Int64()
		if cur != old+1 || old <= last {
			t.Fatalf("balance records out of order: %d→%d after %d", old, cur, last)
		}
		last = old
	}
	if n != 20 {
		t.Fatalf("%d balance records, want 20", n)
	}
}

func TestDispatcherFiltersBatchesAndRetriesFromTheFailure(t *testing.T) {
	var mu sync.Mutex
	var deliveries [][]string
	failOnce := true
	d := &StreamDispatcher{
		Filter: dynamo.RefillStreamFilter, BatchSize: 10, MaxRetries: 2, Log: logging.Discard(),
		Handler: func(_ context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			var ids []string
			for _, r := range ev.Records {
				ids = append(ids, r.Change.SequenceNumber)
			}
			deliveries = append(deliveries, ids)
			if failOnce && len(ev.Records) > 1 {
				failOnce = false
				return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: ev.Records[1].Change.SequenceNumber}}}, nil
			}
			return events.DynamoDBEventResponse{}, nil
		},
	}
	rec := func(seq, typ, status string) events.DynamoDBEventRecord {
		return events.DynamoDBEventRecord{EventName: "MODIFY", Change: events.DynamoDBStreamRecord{SequenceNumber: seq,
			NewImage: map[string]events.DynamoDBAttributeValue{"type": events.NewStringAttribute(typ), "arStatus": events.NewStringAttribute(status)}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Emit([]events.DynamoDBEventRecord{rec("1", "balance", "active"), rec("2", "ledger", ""), rec("3", "balance", "off"), rec("4", "balance", "active"), rec("5", "balance", "active")})
	go d.Run(ctx)
	done := make(chan struct{})
	go func() { d.WaitIdle(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("dispatcher did not go idle")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deliveries) != 2 || len(deliveries[0]) != 3 || deliveries[0][0] != "1" || deliveries[0][1] != "4" || len(deliveries[1]) != 2 || deliveries[1][0] != "4" {
		t.Fatalf("deliveries %v; want [1 4 5] then a retry from 4: [4 5]", deliveries)
	}
}

// The sweep runs on its schedule with the scheduled event EventBridge
// sends, until the stack closes.
func TestSweepTicker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan events.EventBridgeEvent, 10)
	done := make(chan struct{})
	go func() {
		runSweep(ctx, 20*time.Millisecond, func(_ context.Context, ev events.EventBridgeEvent) error {
			got <- ev
			return nil
		}, logging.Discard())
		close(done)
	}()
	ev := <-got
	<-got
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the sweep did not stop with the stack")
	}
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" {
		t.Fatalf("event %+v", ev)
	}
}
