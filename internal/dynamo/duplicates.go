package dynamo

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// A double charge's record (RULES.md, "Double payments") lives next to the
// PaymentIntent link of the same PaymentIntent. Its conditional writes make
// one attempt at a time refund it, and exactly one attempt record the
// outcome, which is what the operators' log line and the domain event
// follow.

func duplicateItem(d dsu.DuplicatePayment) item {
	it := withKey(item{}, duplicateKey(d.PaymentIntentID))
	it[AttrType] = avS(typeDup)
	it["paymentIntentId"] = avS(d.PaymentIntentID)
	it["partnerId"] = avS(d.PartnerID)
	it["purchaseId"] = avS(d.PurchaseID)
	setS(it, "paidBy", d.PaidBy)
	setN(it, "amount", d.Amount.Amount)
	it["currency"] = avS(string(d.Amount.Currency))
	it["state"] = avS(string(d.State))
	setTime(it, "detectedAt", d.DetectedAt)
	setTime(it, "claimedAt", d.ClaimedAt)
	setS(it, "refundId", d.RefundID)
	return it
}

func decodeDuplicate(it item) (dsu.DuplicatePayment, error) {
	r := reader{it: it}
	d := dsu.DuplicatePayment{
		PaymentIntentID: r.str("paymentIntentId"),
		PartnerID:       r.str("partnerId"),
		PurchaseID:      r.str("purchaseId"),
		PaidBy:          r.str("paidBy"),
		Amount:          dsu.Money{Amount: r.num("amount"), Currency: dsu.Currency(r.str("currency"))},
		State:           dsu.DuplicateState(r.str("state")),
		DetectedAt:      r.time("detectedAt"),
		ClaimedAt:       r.time("claimedAt"),
		RefundID:        r.str("refundId"),
	}
	return d, r.err
}

// GetDuplicate reads the record of a double charge; found is false when
// the PaymentIntent is not one.
func (s *Store) GetDuplicate(ctx context.Context, paymentIntentID string) (dsu.DuplicatePayment, bool, error) {
	it, err := s.get(ctx, duplicateKey(paymentIntentID))
	if err != nil || it == nil {
		return dsu.DuplicatePayment{}, false, err
	}
	d, err := decodeDuplicate(it)
	if err != nil {
		return dsu.DuplicatePayment{}, false, dsu.Wrap(err, dsu.KindInternal, "unreadable double charge record")
	}
	return d, true, nil
}

// ClaimDuplicate starts an attempt to refund a double charge: d is new
// (prev nil), or takes over the stale attempt prev as read. Of concurrent
// attempts exactly one claims; the others get dsu.ErrDuplicateClaimed.
func (s *Store) ClaimDuplicate(ctx context.Context, d dsu.DuplicatePayment, prev *dsu.DuplicatePayment) error {
	in := &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: duplicateItem(d)}
	if prev == nil {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("claimedAt = :claimed AND #state = :refunding")
		in.ExpressionAttributeNames = map[string]string{"#state": "state"}
		in.ExpressionAttributeValues = item{":claimed": avTime(prev.ClaimedAt), ":refunding": avS(string(dsu.DuplicateRefunding))}
	}
	_, err := s.api.PutItem(ctx, in)
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return dsu.ErrDuplicateClaimed
	}
	return storageErr(err, "claim double charge")
}

// FinishDuplicate records the outcome of the attempt d.ClaimedAt
// identifies, and the Stripe event that caused it as processed, in one
// transaction. It fails with dsu.ErrDuplicateClaimed when that attempt is
// no longer the record's (another took it over, or finished): the record's
// state, not the event's, is what makes the outcome count once.
func (s *Store) FinishDuplicate(ctx context.Context, d dsu.DuplicatePayment, eventID string) error {
	items := []txItem{s.put(duplicateItem(d), "claimedAt = :claimed AND #state = :refunding",
		item{":claimed": avTime(d.ClaimedAt), ":refunding": avS(string(dsu.DuplicateRefunding))}, dsu.ErrDuplicateClaimed)}
	items[0].write.Put.ExpressionAttributeNames = map[string]string{"#state": "state"}
	if eventID != "" {
		items = append(items, s.put(eventItem(eventID, s.now()), "", nil, nil))
	}
	return s.transact(ctx, "finish double charge", items)
}
