package dynamo

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// Usage records (sk USAGE#<date>#<tenant>) keep what the sync platform
// reported for a tenant and day, billed or not: the key of the usage's
// idempotency and the data of the balance's runway.

func usageItem(u dsu.UsageRecord) item {
	it := withKey(item{}, usageKey(u.PartnerID, u.TenantID, u.Date))
	it[AttrType] = avS(typeUsage)
	it["partnerId"] = avS(u.PartnerID)
	it["tenantId"] = avS(u.TenantID)
	it["date"] = avS(u.Date)
	setN(it, "users", u.Users)
	setN(it, "units", u.Units)
	setTime(it, "recordedAt", u.RecordedAt)
	return it
}

func decodeUsage(it item) (dsu.UsageRecord, error) {
	r := reader{it: it}
	u := dsu.UsageRecord{
		PartnerID: r.str("partnerId"), TenantID: r.str("tenantId"), Date: r.str("date"),
		Users: r.num("users"), Units: r.num("units"), RecordedAt: r.time("recordedAt"),
	}
	return u, r.err
}

// RecordUsage records a day of a tenant's usage exactly once per (partner,
// tenant, date): the record, and on billed days the ledger debit with its
// guard and the new balance, in one transaction; it returns the account
// after the debit. When the key was recorded before it writes nothing and
// returns the first record with applied = false, so the caller can tell a
// duplicate from a conflict.
func (s *Store) RecordUsage(ctx context.Context, u dsu.UsageRecord) (dsu.UsageRecord, dsu.Account, bool, error) {
	if u.Units == 0 {
		// Not billed: only the record.
		_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.opts.Table), Item: usageItem(u),
			ConditionExpression: aws.String("attribute_not_exists(pk)"),
		})
		if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
			return s.firstUsage(ctx, u)
		}
		return u, dsu.Account{}, err == nil, storageErr(err, "record usage")
	}
	res, err := s.change(ctx, balanceChange{
		partnerID: u.PartnerID,
		entry:     &dsu.LedgerChange{PartnerID: u.PartnerID, Type: dsu.EntryUsage, Units: -u.Units, Reference: dsu.UsageRef(u.PartnerID, u.TenantID, u.Date)},
		extra: func(dsu.Account, *dsu.Entry) []txItem {
			return []txItem{s.putNew(usageItem(u), errUsageRecorded)}
		},
	})
	if errors.Is(err, errUsageRecorded) {
		return s.firstUsage(ctx, u)
	}
	if err != nil {
		return dsu.UsageRecord{}, dsu.Account{}, false, err
	}
	if !res.Applied {
		return s.firstUsage(ctx, u)
	}
	return u, res.Account, true, nil
}

// errUsageRecorded: the (partner, tenant, date) was recorded before.
var errUsageRecorded = errors.New("usage recorded before")

func (s *Store) firstUsage(ctx context.Context, u dsu.UsageRecord) (dsu.UsageRecord, dsu.Account, bool, error) {
	it, err := s.get(ctx, usageKey(u.PartnerID, u.TenantID, u.Date))
	if err != nil {
		return dsu.UsageRecord{}, dsu.Account{}, false, err
	}
	if it == nil {
		return dsu.UsageRecord{}, dsu.Account{}, false, dsu.Errorf(dsu.KindInternal, "usage %s/%s/%s reported recorded but missing", u.PartnerID, u.TenantID, u.Date)
	}
	first, err := decodeUsage(it)
	return first, dsu.Account{}, false, err
}

// DailyUsage sums a partner's recorded units per date, for dates from
// fromDate to toDate inclusive (YYYY-MM-DD). One query.
func (s *Store) DailyUsage(ctx context.Context, partnerID, fromDate, toDate string) (map[string]dsu.Units, error) {
	out := map[string]dsu.Units{}
	var start item
	for {
		resp, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.opts.Table),
			KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
			ExpressionAttributeValues: item{
				":pk":   avS(partnerPK(partnerID)),
				":from": avS(skUsagePrefix + fromDate),
				// '$' sorts right after '#', so this ends after every tenant of toDate.
				":to": avS(skUsagePrefix + toDate + "$"),
			},
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, storageErr(err, "read usage")
		}
		for _, it := range resp.Items {
			u, err := decodeUsage(it)
			if err != nil {
				return nil, err
			}
			out[u.Date] += u.Units
		}
		if len(resp.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = resp.LastEvaluatedKey
	}
}
