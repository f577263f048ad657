package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// Options configure a Store.
type Options struct {
	Table string
	Clock dsu.Clock
	IDs   dsu.IDGenerator
	// CursorKey makes pagination cursors tamper-evident. Cursors never
	// select another partner's data (the partition comes from the caller's
	// identity), so the key protects integrity, not confidentiality.
	CursorKey []byte
	// SweepShards is how many partitions the sparse sweep index uses.
	SweepShards int
	// RefillStuckAfter is when a refill in flight becomes the sweep's to
	// reconcile.
	RefillStuckAfter time.Duration
	// MaxAttempts bounds optimistic-concurrency retries of one balance change.
	MaxAttempts int
	// AnswerMargin is how long before its context's deadline every call to
	// the table ends (DefaultAnswerMargin when zero), so the invocation
	// still answers when the table does not.
	AnswerMargin time.Duration
}

// Store persists the domain in the single table.
type Store struct {
	api  API
	opts Options
	// leadingItems, when set (by tests only), go in front of every
	// transaction: failures must keep meaning the same whatever precedes.
	leadingItems func() []txItem
}

const (
	defaultSweepShards = 4
	defaultStuckAfter  = 15 * time.Minute
	defaultMaxAttempts = 60
)

// defaultCursorKey is used when no key is configured; see Options.CursorKey.
var defaultCursorKey = []byte("dsu-billing cursor integrity v1")

// New builds a Store over api.
func New(api API, opts Options) *Store {
	if opts.Clock == nil {
		opts.Clock = dsu.SystemClock{}
	}
	if opts.IDs == nil {
		opts.IDs = dsu.RandomIDs{Clock: opts.Clock}
	}
	if len(opts.CursorKey) == 0 {
		opts.CursorKey = defaultCursorKey
	}
	if opts.SweepShards <= 0 {
		opts.SweepShards = defaultSweepShards
	}
	if opts.RefillStuckAfter <= 0 {
		opts.RefillStuckAfter = defaultStuckAfter
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = defaultMaxAttempts
	}
	if opts.AnswerMargin <= 0 {
		opts.AnswerMargin = DefaultAnswerMargin
	}
	return &Store{api: withDeadlines(api, opts.AnswerMargin), opts: opts}
}

// Table is the table's name.
func (s *Store) Table() string { return s.opts.Table }

// SweepShards is the number of sweep index partitions.
func (s *Store) SweepShards() int { return s.opts.SweepShards }

func (s *Store) now() time.Time { return s.opts.Clock.Now().UTC() }

// get reads one item with a strongly consistent read; nil when absent.
func (s *Store) get(ctx context.Context, k item) (item, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.opts.Table),
		Key:            k,
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, storageErr(err, "read "+keyString(k))
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// storageErr classifies an SDK error. Everything the database says is either
// a condition the caller handles before getting here, a value it refuses,
// or transient.
func storageErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return dsu.Wrap(err, dsu.KindUpstreamUnavailable, "the database did not answer in time")
	}
	if isValidationError(err) {
		// A value of the request the table cannot hold (a key over its
		// size limit, an empty key string): the request's fault, and
		// retrying changes nothing (API.md, "Ids in paths and bodies"). The
		// cause names neither the key nor the database's message, which
		// may quote input.
		return errNotStorable()
	}
	return dsu.Wrap(fmt.Errorf("%s: %w", what, err), dsu.KindUpstreamUnavailable, "the database is unavailable")
}

// errNotStorable is the answer to a value the table refuses.
func errNotStorable() error {
	return dsu.Wrap(dsu.ErrNotStorable, dsu.KindInvalid, "the request holds a value that cannot be stored")
}

// isValidationError reports DynamoDB's ValidationException, which the SDK
// has no type for: an API error (smithy.APIError) with that code.
func isValidationError(err error) bool {
	apiErr, ok := errors.AsType[interface {
		error
		ErrorCode() string
	}](err)
	return ok && apiErr.ErrorCode() == "ValidationException"
}

// backoff sleeps before retry attempt n (1-based) of an optimistic update:
// "full jitter" exponential backoff, so racing writers spread out and each
// eventually wins.
func backoff(ctx context.Context, n int) error {
	ceiling := min(2*time.Millisecond<<min(n, 10), 50*time.Millisecond)
	return dsu.Sleep(ctx, time.Duration(rand.Int64N(int64(ceiling))+1))
}
