package app_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
)

// creator is a stand-in creating operation: it claims, creates (counted),
// optionally waits, and completes with its result.
type creator struct {
	store   *dynamo.Store
	created atomic.Int64
	resumed atomic.Int64
	hold    chan struct{} // when set, Start waits on it after claiming
	claimed chan struct{}
}

func (c *creator) op() app.IdempotentOp[string] {
	return app.IdempotentOp[string]{
		Start: func(ctx context.Context, claim dsu.IdempotencyClaim) (string, error) {
			claim.ResourceID = "thing-1"
			if err := c.store.ClaimIdempotency(ctx, claim); err != nil {
				return "", err
			}
			n := c.created.Add(1)
			if c.claimed != nil {
				c.claimed <- struct{}{}
			}
			if c.hold != nil {
				<-c.hold
			}
			result := "created #" + string(rune('0'+n))
			return result, c.store.CompleteIdempotency(ctx, claim, []byte(result))
		},
		Resume: func(ctx context.Context, rec dsu.IdempotencyRecord) (string, error) {
			c.resumed.Add(1)
			result := "resumed " + rec.ResourceID
			return result, c.store.CompleteIdempotency(ctx, rec.IdempotencyClaim, []byte(result))
		},
		Replay: func(_ context.Context, rec dsu.IdempotencyRecord) (string, error) {
			return string(rec.Result), nil
		},
	}
}

func setup(t *testing.T) (*dynamo.Store, *dsutest.FixedClock, *creator) {
	emu := dynamotest.New(t)
	clock := dsutest.NewFixedClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	store := dynamo.New(emu.Client, dynamo.Options{Table: dynamotest.Table, Clock: clock})
	return store, clock, &creator{store: store}
}

func claim(body string) dsu.IdempotencyClaim {
	return dsu.IdempotencyClaim{PartnerID: "p1", Key: "key-1", Fingerprint: dsu.Fingerprint("POST /v1/things", []byte(body))}
}

func TestReplayReturnsTheFirstResult(t *testing.T) {
	store, clock, c := setup(t)
	ctx := context.Background()
	first, err := app.RunIdempotent(ctx, store, clock, claim(`{"a":1}`), c.op())
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	again, err := app.RunIdempotent(ctx, store, clock, claim(`{"a":1}`), c.op())
	if err != nil || again != first {
		t.Fatalf("replay = %q %v, want %q", again, err, first)
	}
	if c.created.Load() != 1 {
		t.Fatalf("created %d times", c.created.Load())
	}
	if _, err := app.RunIdempotent(ctx, store, clock, claim(`{"a":2}`), c.op()); dsu.ErrorKind(err) != dsu.KindIdempotencyKeyReused {
		t.Fatalf("another body: %v, want idempotency_key_reused", err)
	}
	// Other partners have their own keys.
	other := claim(`{"a":1}`)
	other.PartnerID = "p2"
	if _, err := app.RunIdempotent(ctx, store, clock, other, c.op()); err != nil || c.created.Load() != 2 {
		t.Fatalf("another partner's key: %v, created %d", err, c.created.Load())
	}
	// After the TTL the key is new again.
	clock.Advance(dsu.IdempotencyTTL)
	if r, err := app.RunIdempotent(ctx, store, clock, claim(`{"a":2}`), c.op()); err != nil || c.created.Load() != 3 {
		t.Fatalf("expired key: %q %v, created %d", r, err, c.created.Load())
	}
}

func TestInProgressThenStaleIsResumedOnce(t *testing.T) {
	store, clock, c := setup(t)
	c.hold, c.claimed = make(chan struct{}), make(chan struct{}, 1)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := app.RunIdempotent(ctx, store, clock, claim(`{}`), c.op())
		done <- err
	}()
	<-c.claimed
	if _, err := app.RunIdempotent(ctx, store, clock, claim(`{}`), c.op()); dsu.ErrorKind(err) != dsu.KindRequestInProgress {
		t.Fatalf("while running: %v, want request_in_progress", err)
	}

	// The first request's Lambda "dies": its claim goes stale, and of several
	// retries exactly one resumes.
	clock.Advance(dsu.IdempotencyStaleAfter + time.Second)
	var wg sync.WaitGroup
	var resumed, refused atomic.Int64
	for range 10 {
		wg.Go(func() {
			r, err := app.RunIdempotent(ctx, store, clock, claim(`{}`), c.op())
			switch {
			case err == nil && r == "resumed thing-1":
				resumed.Add(1)
			case dsu.ErrorKind(err) == dsu.KindRequestInProgress:
				refused.Add(1)
			case err == nil:
				// A retry after the resumer completed replays its result.
				if r != "resumed thing-1" {
					t.Errorf("unexpected result %q", r)
				}
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c.resumed.Load() != 1 || c.created.Load() != 1 {
		t.Fatalf("resumed %d times, created %d times; want 1 and 1", c.resumed.Load(), c.created.Load())
	}
	close(c.hold)
	// The dead request wakes up late: its completion no longer owns the key.
	if err := <-done; dsu.ErrorKind(err) != dsu.KindRequestInProgress {
		t.Fatalf("the superseded request completed: %v", err)
	}
	if r, _ := app.RunIdempotent(ctx, store, clock, claim(`{}`), c.op()); r != "resumed thing-1" {
		t.Fatalf("final replay %q", r)
	}
}

func TestRetryableIsResumedAtOnce(t *testing.T) {
	store, clock, c := setup(t)
	ctx := context.Background()
	cl := claim(`{}`)
	cl.StartedAt, cl.ResourceID = clock.Now(), "thing-9"
	if err := store.ClaimIdempotency(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkIdempotencyRetryable(ctx, cl); err != nil {
		t.Fatal(err)
	}
	r, err := app.RunIdempotent(ctx, store, clock, claim(`{}`), c.op())
	if err != nil || r != "resumed thing-9" {
		t.Fatalf("%q %v", r, err)
	}
}

func TestConcurrentDuplicatesCreateOnce(t *testing.T) {
	store, clock, c := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			r, err := app.RunIdempotent(ctx, store, clock, claim(`{"x":1}`), c.op())
			if err == nil {
				results <- r
			} else if dsu.ErrorKind(err) != dsu.KindRequestInProgress {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r != "created #1" {
			t.Errorf("result %q", r)
		}
	}
	if c.created.Load() != 1 {
		t.Fatalf("created %d times", c.created.Load())
	}
}
