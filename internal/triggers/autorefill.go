// Package triggers adapts the autorefill function's two non-HTTP triggers
// to the use cases: DynamoDB stream batches of balance changes and the
// EventBridge schedule of the sweep.
package triggers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamostream"
)

type refiller interface {
	Refill(ctx context.Context, partnerID string) error
}

type sweeper interface {
	Sweep(ctx context.Context) (app.SweepResult, error)
}

// AutoRefill is the autorefill function's handler.
type AutoRefill struct {
	Refiller refiller
	Sweeper  sweeper
	Log      *slog.Logger
	// Metrics writes the business metrics an invocation recorded, at its
	// end; nil when none are recorded.
	Metrics flusher
	// Parallel bounds the partners refilled at once within a batch.
	Parallel int
}

type flusher interface{ Flush() error }

// flush writes the invocation's metrics; a failure is logged, never the
// invocation's.
func (h *AutoRefill) flush(ctx context.Context) {
	if h.Metrics == nil {
		return
	}
	if err := h.Metrics.Flush(); err != nil {
		h.Log.ErrorContext(ctx, "metrics not written", "error", err.Error())
	}
}

// Handle tells the triggers apart by shape and dispatches.
func (h *AutoRefill) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		Records    []json.RawMessage `json:"Records"`
		DetailType string            `json:"detail-type"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("autorefill: unreadable event: %w", err)
	}
	switch {
	case probe.Records != nil:
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("autorefill: unreadable stream batch: %w", err)
		}
		return h.Stream(ctx, ev)
	case probe.DetailType == "Scheduled Event":
		var ev events.EventBridgeEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("autorefill: unreadable schedule event: %w", err)
		}
		return nil, h.Sweep(ctx, ev)
	}
	return nil, fmt.Errorf("autorefill: neither a stream batch nor the sweep's schedule")
}

// Stream starts a refill for every balance in the batch that is used up
// with an active plan and nothing in flight. Records that failed
// transiently are reported, so Lambda retries from the first of them.
func (h *AutoRefill) Stream(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	defer h.flush(ctx)
	type candidate struct {
		partnerID string
		seq       string // the first record of the partner in this batch
	}
	var todo []candidate
	seen := map[string]bool{}
	for _, rec := range ev.Records {
		if rec.Change.NewImage == nil {
			continue // REMOVE
		}
		image, err := dynamostream.ToSDK(rec.Change.NewImage)
		if err != nil {
			h.Log.ErrorContext(ctx, "stream record unreadable; skipped", "sequence", rec.Change.SequenceNumber, "error", err.Error())
			continue
		}
		acc, ok, err := dynamo.DecodeAccountImage(image)
		if err != nil {
			h.Log.ErrorContext(ctx, "balance image unreadable; skipped", "sequence", rec.Change.SequenceNumber, "error", err.Error())
			continue
		}
		if !ok || !acc.NeedsRefill() || seen[acc.PartnerID] {
			continue
		}
		// Many records of one partner in a batch start one refill attempt;
		// the claim in storage makes it one refill across batches too.
		seen[acc.PartnerID] = true
		todo = append(todo, candidate{acc.PartnerID, rec.Change.SequenceNumber})
	}

	var mu sync.Mutex
	var failures []events.DynamoDBBatchItemFailure
	// One partner's failure never stops the others: each goroutine reports
	// its own outcome and returns nil.
	var g errgroup.Group
	g.SetLimit(max(h.Parallel, 1))
	for _, c := range todo {
		g.Go(func() error {
			err := h.Refiller.Refill(ctx, c.partnerID)
			if err == nil {
				return nil
			}
			if app.Transient(err) {
				h.Log.WarnContext(ctx, "refill failed transiently; the batch is retried", "partner", c.partnerID, "error", err.Error())
				mu.Lock()
				failures = append(failures, events.DynamoDBBatchItemFailure{ItemIdentifier: c.seq})
				mu.Unlock()
				return nil
			}
			h.Log.ErrorContext(ctx, "refill could not start", "partner", c.partnerID, "error", err.Error())
			return nil
		})
	}
	_ = g.Wait() // every goroutine returns nil
	return events.DynamoDBEventResponse{BatchItemFailures: failures}, nil
}

// Sweep runs the scheduled sweep.
func (h *AutoRefill) Sweep(ctx context.Context, ev events.EventBridgeEvent) error {
	defer h.flush(ctx)
	res, err := h.Sweeper.Sweep(ctx)
	if err != nil {
		return err
	}
	h.Log.InfoContext(ctx, "sweep", "scheduledAt", ev.Time, "due", res.Due, "failed", res.Failed)
	return nil
}
