package localstack

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cirasync/dsubilling/internal/dynamostream"
)

// StreamHandler is a Lambda handler for DynamoDB stream batches.
type StreamHandler func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// StreamDispatcher delivers emulated stream records to a handler the way a
// Lambda event source mapping does: filtered by the same pattern, in
// batches, in order, retrying from the first record the handler reports as
// failed, and giving up after MaxRetries (where AWS would send the batch to
// the on-failure destination).
type StreamDispatcher struct {
	Handler    StreamHandler
	Filter     string // Lambda filter pattern; empty passes everything
	BatchSize  int
	MaxRetries int
	Log        *slog.Logger

	mu    sync.Mutex
	queue []events.DynamoDBEventRecord
	busy  bool
	wake  chan struct{}
	idle  *sync.Cond
}

func (d *StreamDispatcher) init() {
	if d.wake == nil {
		d.wake = make(chan struct{}, 1)
		d.idle = sync.NewCond(&d.mu)
	}
}

// Emit queues records. It never blocks: the stream tap calls it while
// holding the write lock, and handlers write to the table.
func (d *StreamDispatcher) Emit(records []events.DynamoDBEventRecord) {
	d.mu.Lock()
	d.init()
	d.queue = append(d.queue, records...)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers batches until ctx ends.
func (d *StreamDispatcher) Run(ctx context.Context) {
	d.mu.Lock()
	d.init()
	d.mu.Unlock()
	for {
		batch := d.take()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
				continue
			}
		}
		d.deliver(ctx, batch)
		d.mu.Lock()
		d.busy = false
		d.idle.Broadcast()
		d.mu.Unlock()
	}
}

// WaitIdle blocks until every queued record has been handled.
func (d *StreamDispatcher) WaitIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.init()
	for len(d.queue) > 0 || d.busy {
		d.idle.Wait()
	}
}

func (d *StreamDispatcher) take() []events.DynamoDBEventRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	size := d.BatchSize
	if size <= 0 {
		size = 100
	}
	var batch []events.DynamoDBEventRecord
	for len(d.queue) > 0 && len(batch) < size {
		rec := d.queue[0]
		d.queue = d.queue[1:]
		if d.passes(rec) {
			batch = append(batch, rec)
		}
	}
	d.busy = len(batch) > 0
	if !d.busy {
		d.idle.Broadcast()
	}
	return batch
}

func (d *StreamDispatcher) passes(rec events.DynamoDBEventRecord) bool {
	if d.Filter == "" {
		return true
	}
	ok, err := dynamostream.Matches(d.Filter, rec)
	if err != nil {
		d.Log.Error("stream filter", "error", err.Error())
		return false
	}
	return ok
}

func (d *StreamDispatcher) deliver(ctx context.Context, batch []events.DynamoDBEventRecord) {
	if d.Handler == nil {
		return
	}
	for attempt := 0; len(batch) > 0; attempt++ {
		if attempt > d.MaxRetries {
			d.Log.Error("stream batch dropped after retries; in AWS it would go to the on-failure queue", "records", len(batch))
			return
		}
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		ictx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: batch[0].EventID})
		resp, err := d.Handler(ictx, events.DynamoDBEvent{Records: batch})
		if err != nil {
			d.Log.Warn("stream batch failed; retrying it whole", "error", err.Error())
			continue
		}
		if len(resp.BatchItemFailures) == 0 {
			return
		}
		// Retry from the first failed record, as Lambda does with
		// ReportBatchItemFailures.
		first := len(batch)
		for _, f := range resp.BatchItemFailures {
			for i, r := range batch {
				if r.Change.SequenceNumber == f.ItemIdentifier && i < first {
					first = i
				}
			}
		}
		if first == len(batch) {
			d.Log.Error("handler reported failures for records not in the batch; retrying it whole")
			first = 0
		}
		batch = batch[first:]
	}
}
