package app

import (
	"context"
	"errors"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// idempotencyStore reads and takes over Idempotency-Key records. Claims
// and completions are written by the operations themselves, inside their
// own first and last transactions.
type idempotencyStore interface {
	GetIdempotency(ctx context.Context, partnerID, key string) (dsu.IdempotencyRecord, error)
	TakeOverIdempotency(ctx context.Context, rec dsu.IdempotencyRecord, now time.Time) (dsu.IdempotencyRecord, error)
}

// IdempotentOp is a creating operation run under an Idempotency-Key (API.md,
// "Idempotency-Key").
type IdempotentOp[R any] struct {
	// Start does the work. Its first write claims the key (failing with
	// dsu.ErrIdempotencyKeyTaken when the key has a record) and its last
	// write completes the claim with the encoded result.
	Start func(ctx context.Context, claim dsu.IdempotencyClaim) (R, error)
	// Resume finishes the work of a claim that stopped midway: its
	// resource exists (rec.ResourceID) and may be in any state.
	Resume func(ctx context.Context, rec dsu.IdempotencyRecord) (R, error)
	// Replay answers from a completed record.
	Replay func(ctx context.Context, rec dsu.IdempotencyRecord) (R, error)
}

// RunIdempotent runs op once per key: the same key and body get the first
// result again, another body 422, a key still running 409, and a key whose
// request died midway is resumed by exactly one retry.
func RunIdempotent[R any](ctx context.Context, store idempotencyStore, clock dsu.Clock, claim dsu.IdempotencyClaim, op IdempotentOp[R]) (R, error) {
	var zero R
	for attempt := 0; attempt < 2; attempt++ {
		claim.StartedAt = clock.Now()
		r, err := op.Start(ctx, claim)
		if !errors.Is(err, dsu.ErrIdempotencyKeyTaken) {
			return r, err
		}
		rec, err := store.GetIdempotency(ctx, claim.PartnerID, claim.Key)
		if dsu.IsKind(err, dsu.KindNotFound) {
			continue // released or expired in between: claim again
		}
		if err != nil {
			return zero, err
		}
		decision, err := dsu.DecideIdempotency(rec, claim.Fingerprint, clock.Now())
		if err != nil {
			return zero, err
		}
		if decision == dsu.IdemReplay {
			return op.Replay(ctx, rec)
		}
		rec, err = store.TakeOverIdempotency(ctx, rec, clock.Now())
		if err != nil {
			return zero, err
		}
		return op.Resume(ctx, rec)
	}
	return zero, dsu.Errorf(dsu.KindRequestInProgress, "a request with this Idempotency-Key is still being processed")
}
