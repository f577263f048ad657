package dynamo

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// txItem is one write of a TransactWriteItems together with what the
// failure of its condition means to the caller. A cancelled transaction is
// answered with the failure of the first item whose condition failed, so
// items go in order of precedence (the ledger guard first: "applied
// before" is the answer whatever else also failed). Adding an item to a
// transaction never relabels another item's failure.
type txItem struct {
	write types.TransactWriteItem
	// failed is returned when this item's condition fails. nil for an item
	// without a condition; a failure there is reported as internal.
	failed error
}

// Failures the balance change handles itself.
var (
	// errStale: an item changed since it was read (the balance's version,
	// the next ledger sequence number). The change retries from a read.
	errStale = errors.New("an item changed since it was read")
	// errApplied: the ledger reference's guard exists; the change was
	// applied before.
	errApplied = errors.New("the reference was applied before")
	// errTxConflict: the transaction collided with another one on the same
	// items without any condition failing. Safe to retry; callers that do
	// not retry pass it on as a transient failure.
	errTxConflict = dsu.Errorf(dsu.KindUpstreamUnavailable, "the database was busy with the same items; try again")
)

// transact runs one TransactWriteItems of items and maps a cancellation to
// the failure of the item it belongs to.
func (s *Store) transact(ctx context.Context, what string, items []txItem) error {
	if s.leadingItems != nil {
		items = append(s.leadingItems(), items...)
	}
	writes := make([]types.TransactWriteItem, len(items))
	for i, it := range items {
		writes[i] = it.write
	}
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: writes})
	if err == nil {
		return nil
	}
	if tce, ok := errors.AsType[*types.TransactionCanceledException](err); ok {
		// DynamoDB reports a reason per item, the local emulator only the
		// first failing one: both agree on the first failed condition.
		for i, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) != "ConditionalCheckFailed" || i >= len(items) {
				continue
			}
			if items[i].failed == nil {
				return dsu.Errorf(dsu.KindInternal, "%s: item %d failed a condition it does not have", what, i)
			}
			return items[i].failed
		}
		for _, r := range tce.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "TransactionConflict":
				return errTxConflict
			case "ValidationError":
				// An item the table cannot hold, as ValidationException
				// says of a single write (storageErr).
				return errNotStorable()
			}
		}
	}
	if _, ok := errors.AsType[*types.TransactionInProgressException](err); ok {
		return errTxConflict
	}
	return storageErr(err, what)
}

// put is a transaction item that writes it when condition holds (always
// when condition is empty); failed is what a failed condition means.
func (s *Store) put(it item, condition string, values item, failed error) txItem {
	p := &types.Put{TableName: aws.String(s.opts.Table), Item: it}
	if condition != "" {
		p.ConditionExpression = aws.String(condition)
		p.ExpressionAttributeValues = values
	}
	return txItem{write: types.TransactWriteItem{Put: p}, failed: failed}
}

// putNew puts an item that must not exist yet.
func (s *Store) putNew(it item, failed error) txItem {
	return s.put(it, "attribute_not_exists("+AttrPK+")", nil, failed)
}

// markFirstPurchase is the transaction item that records a partner's first
// purchase, which fixes the billing currency, on the condition that the
// currency is still the purchase's. Bumping the version makes a concurrent
// read-modify-write of the billing record retry instead of overwriting
// firstPurchaseAt.
func (s *Store) markFirstPurchase(p dsu.Purchase) txItem {
	return txItem{
		write: types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.opts.Table),
			Key:                       profileKey(p.PartnerID),
			UpdateExpression:          aws.String("SET firstPurchaseAt = if_not_exists(firstPurchaseAt, :now), version = version + :one"),
			ConditionExpression:       aws.String("currency = :cur"),
			ExpressionAttributeValues: item{":now": avTime(p.CreatedAt), ":one": avN(1), ":cur": avS(string(p.Amount.Currency))},
		}},
		failed: dsu.Errorf(dsu.KindConflict, "the billing currency changed; review the prices and try again"),
	}
}
