package triggers

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/logging"
)

type fakeRefiller struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]error
}

func (f *fakeRefiller) Refill(_ context.Context, partnerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[partnerID]++
	return f.fail[partnerID]
}

type fakeSweeper struct{ runs int }

func (f *fakeSweeper) Sweep(context.Context) (app.SweepResult, error) {
	f.runs++
	return app.SweepResult{Due: 3}, nil
}

func record(seq, partner, status, units string, name string) events.DynamoDBEventRecord {
	img := map[string]events.DynamoDBAttributeValue{
		"type": events.NewStringAttribute("balance"), "partnerId": events.NewStringAttribute(partner),
		"units": events.NewNumberAttribute(units), "arStatus": events.NewStringAttribute(status), "arThreshold": events.NewNumberAttribute("0"),
	}
	rec := events.DynamoDBEventRecord{EventName: name, Change: events.DynamoDBStreamRecord{SequenceNumber: seq, NewImage: img}}
	if name == "REMOVE" {
		rec.Change.NewImage, rec.Change.OldImage = nil, img
	}
	return rec
}

func TestStreamStartsOneRefillPerUsedUpPartner(t *testing.T) {
	r := &fakeRefiller{calls: map[string]int{}, fail: map[string]error{"p3": dsu.Errorf(dsu.KindUpstreamUnavailable, "db down"), "p4": dsu.Errorf(dsu.KindConflict, "currency changed")}}
	h := &AutoRefill{Refiller: r, Sweeper: &fakeSweeper{}, Log: logging.Discard(), Parallel: 2}
	batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record("1", "p1", "active", "-5", "MODIFY"),
		record("2", "p1", "active", "-9", "MODIFY"), // same partner: one attempt
		record("3", "p2", "active", "50", "MODIFY"), // not used up
		record("4", "p5", "paused", "-5", "MODIFY"), // plan paused
		record("5", "p3", "active", "0", "INSERT"),  // at the threshold; fails transiently
		record("6", "p4", "active", "-1", "MODIFY"), // fails permanently: logged, not retried
		record("7", "p6", "active", "-1", "REMOVE"),
	}}
	resp, err := h.Stream(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if r.calls["p1"] != 1 || r.calls["p2"] != 0 || r.calls["p5"] != 0 || r.calls["p6"] != 0 || r.calls["p3"] != 1 || r.calls["p4"] != 1 {
		t.Fatalf("refills %v", r.calls)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "5" {
		t.Fatalf("failures %+v; only the transient one is retried", resp.BatchItemFailures)
	}
}

func TestHandleTellsTheTriggersApart(t *testing.T) {
	r := &fakeRefiller{calls: map[string]int{}}
	s := &fakeSweeper{}
	h := &AutoRefill{Refiller: r, Sweeper: s, Log: logging.Discard()}
	out, err := h.Handle(context.Background(), eventfixtures.Read(t, "autorefill/stream-balance-used-up.json"))
	if err != nil || r.calls["partner-acme"] != 1 {
		t.Fatalf("stream fixture: %v %v", err, r.calls)
	}
	if _, ok := out.(events.DynamoDBEventResponse); !ok {
		t.Fatalf("a stream batch must answer with batch item failures, got %T", out)
	}
	if _, err := h.Handle(context.Background(), eventfixtures.Read(t, "autorefill/scheduled-sweep.json")); err != nil || s.runs != 1 {
		t.Fatalf("schedule fixture: %v, %d sweeps", err, s.runs)
	}
	for _, bad := range []string{`{}`, `[]`, `{"detail-type":"Something Else"}`, `not json`} {
		if _, err := h.Handle(context.Background(), json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
