package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// LeadWithUnrelatedItem makes every transaction of s start with a write of
// an item no caller knows about, so tests can check that a failed condition
// is still reported as the failure of the item it belongs to.
func LeadWithUnrelatedItem(s *Store) {
	s.leadingItems = func() []txItem {
		it := withKey(item{}, key("TEST#unrelated", "TEST"))
		it[AttrType] = avS("test")
		return []txItem{{write: types.TransactWriteItem{Put: &types.Put{TableName: &s.opts.Table, Item: it}}}}
	}
}

// SeedOldLedger writes n entries of +1 unit for a partner created with no
// grant, all in the month of at, with their marker and the balance, in
// bulk (BatchWriteItem): the history a statement of a later month must
// never read.
func SeedOldLedger(ctx context.Context, s *Store, db interface {
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}, partnerID string, n int, at time.Time) error {
	acc, err := s.GetAccount(ctx, partnerID)
	if err != nil {
		return err
	}
	var puts []types.WriteRequest
	flush := func() error {
		for len(puts) > 0 {
			batch := puts[:min(25, len(puts))]
			out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.opts.Table: batch}})
			if err != nil {
				return err
			}
			puts = append(puts[len(batch):], out.UnprocessedItems[s.opts.Table]...)
		}
		return nil
	}
	next := acc
	for i := range n {
		e := dsu.Entry{ID: fmt.Sprintf("le_seed%06d", i), PartnerID: partnerID, Seq: acc.LedgerSeq + int64(i) + 1, Type: dsu.EntryAdjustment,
			Units: 1, BalanceAfter: acc.Units + int64(i) + 1, Reference: fmt.Sprintf("adjustment:seed%06d", i), CreatedAt: at}
		if i == 0 {
			if marker, ok := monthMarker(acc, &next, e); ok {
				puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: marker}})
			}
		}
		puts = append(puts, types.WriteRequest{PutRequest: &types.PutRequest{Item: entryItem(e)}})
	}
	if err := flush(); err != nil {
		return err
	}
	next.Units, next.LedgerSeq, next.Version = acc.Units+int64(n), acc.LedgerSeq+int64(n), acc.Version+1
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.opts.Table, Item: s.balanceItem(next)})
	return err
}
