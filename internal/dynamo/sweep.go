package dynamo

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// The sweep's reads of the sparse index gsi1 (docs/ARCHITECTURE.md, "The
// sparse index `gsi1` (the sweep)"). Each kind of work has its own shard
// prefix; an item carries the keys only while it needs the sweep, and
// gsi1sk starts with when. A query per shard for gsi1sk ≤ now costs in
// proportion to the work due, never to all items (RULES.md, "The sparse
// index and no Scan").

// dueKeys returns the gsi1sk of every item of kind in one shard due at or
// before now, all pages.
func (s *Store) dueKeys(ctx context.Context, kind string, shard int, now time.Time) ([]string, error) {
	var out []string
	var start item
	for {
		resp, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.opts.Table),
			IndexName:              aws.String(IndexGSI1),
			KeyConditionExpression: aws.String("gsi1pk = :shard AND gsi1sk <= :now"),
			ExpressionAttributeValues: item{
				":shard": avS(sweepShardPK(kind, shard)),
				// '~' sorts after the "#<partner>…" suffix of every key at now.
				":now": avS(fmtTime(now) + "~"),
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, storageErr(err, "query sweep index")
		}
		for _, it := range resp.Items {
			r := reader{it: it}
			out = append(out, r.str(AttrGSI1SK))
		}
		if len(resp.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = resp.LastEvaluatedKey
	}
}

// DuePurchases lists the unfinished manual purchases the sweep must look
// at, at or before now, from one shard of the sparse index.
func (s *Store) DuePurchases(ctx context.Context, shard int, now time.Time) ([]dsu.PurchaseKey, error) {
	keys, err := s.dueKeys(ctx, sweepPurchases, shard, now)
	if err != nil {
		return nil, err
	}
	var out []dsu.PurchaseKey
	for _, k := range keys {
		// <time>#<partner>#<purchase>; neither id holds a '#'.
		parts := strings.Split(k, "#")
		if len(parts) == 3 {
			out = append(out, dsu.PurchaseKey{PartnerID: parts[1], PurchaseID: parts[2]})
		}
	}
	return out, nil
}

// DueCards lists the partners whose billing record has card work for the
// sweep at or before now (a replaced card to detach, an expiry to
// announce), from one shard of the sparse index.
func (s *Store) DueCards(ctx context.Context, shard int, now time.Time) ([]string, error) {
	return s.duePartners(ctx, sweepCards, shard, now)
}

// duePartners lists the partners of one kind of sweep work due at or
// before now, from one shard (the partner follows the first # of a key).
func (s *Store) duePartners(ctx context.Context, kind string, shard int, now time.Time) ([]string, error) {
	keys, err := s.dueKeys(ctx, kind, shard, now)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if _, partner, ok := strings.Cut(k, "#"); ok {
			out = append(out, partner)
		}
	}
	return out, nil
}
