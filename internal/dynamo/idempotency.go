package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// Idempotency records (sk IDEM#<key>) expire with the key's TTL. DynamoDB
// deletes expired items only eventually, so every read and every claim
// treats an expired record as absent.

func idemRecordItem(rec dsu.IdempotencyRecord) item {
	it := withKey(item{}, idemKey(rec.PartnerID, rec.Key))
	it[AttrType] = avS(typeIdem)
	it["partnerId"] = avS(rec.PartnerID)
	it["key"] = avS(rec.Key)
	it["fingerprint"] = avS(rec.Fingerprint)
	setS(it, "resourceId", rec.ResourceID)
	it["state"] = avS(string(rec.State))
	setTime(it, "startedAt", rec.StartedAt)
	setN(it, AttrExpiresAt, rec.Expiry().Unix())
	if len(rec.Result) > 0 {
		it["result"] = &types.AttributeValueMemberB{Value: rec.Result}
	}
	return it
}

func decodeIdemRecord(it item) (dsu.IdempotencyRecord, error) {
	r := reader{it: it}
	rec := dsu.IdempotencyRecord{
		IdempotencyClaim: dsu.IdempotencyClaim{
			PartnerID: r.str("partnerId"), Key: r.str("key"), Fingerprint: r.str("fingerprint"),
			ResourceID: r.str("resourceId"), StartedAt: r.time("startedAt"),
			ExpiresAt: time.Unix(r.num(AttrExpiresAt), 0).UTC(),
		},
		State: dsu.IdempotencyState(r.str("state")),
	}
	if b, ok := it["result"].(*types.AttributeValueMemberB); ok {
		rec.Result = b.Value
	}
	return rec, r.err
}

const unclaimed = "(attribute_not_exists(pk) OR expiresAt < :now)"

// errKeyTakenOver: the key's record is no longer the caller's claim.
var errKeyTakenOver = dsu.Errorf(dsu.KindRequestInProgress, "another request took this Idempotency-Key over")

// claimIdem is the transaction item that claims a key: it fails with
// dsu.ErrIdempotencyKeyTaken when the key has a live record.
func (s *Store) claimIdem(claim dsu.IdempotencyClaim) txItem {
	rec := dsu.IdempotencyRecord{IdempotencyClaim: claim, State: dsu.IdemInProgress}
	return s.put(idemRecordItem(rec), unclaimed, item{":now": avN(s.now().Unix())}, dsu.ErrIdempotencyKeyTaken)
}

// completeIdem is the transaction item that stores a claim's outcome; it
// fails unless the record is still the claim's.
func (s *Store) completeIdem(claim dsu.IdempotencyClaim, result []byte) txItem {
	rec := dsu.IdempotencyRecord{IdempotencyClaim: claim, State: dsu.IdemCompleted, Result: result}
	return s.put(idemRecordItem(rec), "startedAt = :started", item{":started": avTime(claim.StartedAt)}, errKeyTakenOver)
}

// GetIdempotency reads the live record of a key; KindNotFound when there is
// none.
func (s *Store) GetIdempotency(ctx context.Context, partnerID, key string) (dsu.IdempotencyRecord, error) {
	it, err := s.get(ctx, idemKey(partnerID, key))
	if err != nil {
		return dsu.IdempotencyRecord{}, err
	}
	if it == nil {
		return dsu.IdempotencyRecord{}, dsu.Errorf(dsu.KindNotFound, "no idempotency record")
	}
	rec, err := decodeIdemRecord(it)
	if err != nil {
		return dsu.IdempotencyRecord{}, err
	}
	if !s.now().Before(rec.Expiry()) {
		return dsu.IdempotencyRecord{}, dsu.Errorf(dsu.KindNotFound, "no idempotency record")
	}
	return rec, nil
}

// ClaimIdempotency claims a key on its own, for operations that do not fold
// the claim into their first transaction. dsu.ErrIdempotencyKeyTaken when
// the key has a live record.
func (s *Store) ClaimIdempotency(ctx context.Context, claim dsu.IdempotencyClaim) error {
	return s.single(ctx, s.claimIdem(claim))
}

// CompleteIdempotency stores the outcome of a claim on its own.
func (s *Store) CompleteIdempotency(ctx context.Context, claim dsu.IdempotencyClaim, result []byte) error {
	return s.single(ctx, s.completeIdem(claim, result))
}

// TakeOverIdempotency makes an abandoned or retryable claim the caller's:
// a conditional write on the record as read, so of several requests
// resuming the same key exactly one wins; the others get
// KindRequestInProgress.
func (s *Store) TakeOverIdempotency(ctx context.Context, rec dsu.IdempotencyRecord, now time.Time) (dsu.IdempotencyRecord, error) {
	next := rec
	next.State, next.StartedAt = dsu.IdemInProgress, now.UTC()
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.opts.Table),
		Item:                      idemRecordItem(next),
		ConditionExpression:       aws.String("startedAt = :started AND #state = :state"),
		ExpressionAttributeNames:  map[string]string{"#state": "state"},
		ExpressionAttributeValues: item{":started": avTime(rec.StartedAt), ":state": avS(string(rec.State))},
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return dsu.IdempotencyRecord{}, dsu.Errorf(dsu.KindRequestInProgress, "a request with this Idempotency-Key is still being processed")
	}
	if err != nil {
		return dsu.IdempotencyRecord{}, storageErr(err, "take over idempotency key")
	}
	return next, nil
}

// MarkIdempotencyRetryable records that a claim stopped on a transient
// failure after creating its resource: the next request with the key
// resumes it instead of waiting for the claim to go stale.
func (s *Store) MarkIdempotencyRetryable(ctx context.Context, claim dsu.IdempotencyClaim) error {
	rec := dsu.IdempotencyRecord{IdempotencyClaim: claim, State: dsu.IdemRetryable}
	return s.single(ctx, s.put(idemRecordItem(rec), "startedAt = :started", item{":started": avTime(claim.StartedAt)}, errKeyTakenOver))
}

// single runs one conditional put item as a plain write, returning its
// failure when its condition fails.
func (s *Store) single(ctx context.Context, ti txItem) error {
	p := ti.write.Put
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
		ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues,
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return ti.failed
	}
	return storageErr(err, "idempotency record")
}
