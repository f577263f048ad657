package dynamo

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Month markers (sk MONTH#<YYYY-MM>) bookmark the ledger: the first entry
// of a partner's month and the balance before it. The transaction that
// writes a month's first entry writes its marker, so a statement reads its
// month's entries as one key range, LEDGER#<first seq of the month> to the
// entry before the next marker, and never the ledger's older history.

const skMonthPrefix = "MONTH#"

func monthKey(partnerID, month string) item { return key(partnerPK(partnerID), skMonthPrefix+month) }

// monthMarker is the marker to write with entry e when e is the first entry
// of its month, as the account before it (acc) says; next gets the new
// ledger month. An entry whose clock reads an earlier month than the last
// entry's (clocks of concurrent writers differ by milliseconds at a month's
// turn) belongs to the month the ledger is in: months follow sequence
// numbers, never go back.
func monthMarker(acc dsu.Account, next *dsu.Account, e dsu.Entry) (item, bool) {
	month := dsu.MonthOf(e.CreatedAt)
	if month <= acc.LedgerMonth {
		next.LedgerMonth = acc.LedgerMonth
		return nil, false
	}
	next.LedgerMonth = month
	it := withKey(item{}, monthKey(e.PartnerID, month))
	it[AttrType] = avS(typeMonth)
	it["partnerId"] = avS(e.PartnerID)
	it["month"] = avS(month)
	setN(it, "firstSeq", e.Seq)
	setN(it, "openingBalance", acc.Units)
	return it, true
}

type monthMark struct {
	month    string
	firstSeq int64
	opening  dsu.Units
}

func decodeMonthMark(it item) (monthMark, error) {
	r := reader{it: it}
	m := monthMark{month: r.str("month"), firstSeq: r.num("firstSeq"), opening: r.num("openingBalance")}
	return m, r.err
}

// MonthLedger reads one month of a partner's ledger: the balance it opened
// with and its entries, oldest first. Its requests grow with the month's
// entries, never with the ledger's history: the month's marker (1 read),
// the next marker (1 query), the account when no later month has entries
// (1 read), then the entries as one key range, a query per page.
func (s *Store) MonthLedger(ctx context.Context, partnerID, month string) (opening dsu.Units, entries []dsu.Entry, err error) {
	it, err := s.get(ctx, monthKey(partnerID, month))
	if err != nil {
		return 0, nil, err
	}
	next, found, err := s.nextMonthMark(ctx, partnerID, month)
	if err != nil {
		return 0, nil, err
	}
	if it == nil {
		// No entry in the month: the balance stood still at what the next
		// month with entries opened with, or at today's balance.
		if found {
			return next.opening, nil, nil
		}
		acc, err := s.GetAccount(ctx, partnerID)
		if err != nil {
			return 0, nil, err
		}
		return acc.Units, nil, nil
	}
	mark, err := decodeMonthMark(it)
	if err != nil {
		return 0, nil, err
	}
	to := skLedgerPrefix + "~" // the rest of the ledger
	if found {
		to = ledgerSK(next.firstSeq - 1)
	}
	entries, err = s.ledgerRange(ctx, partnerID, ledgerSK(mark.firstSeq), to)
	return mark.opening, entries, err
}

// nextMonthMark finds the first marker after month.
func (s *Store) nextMonthMark(ctx context.Context, partnerID, month string) (monthMark, bool, error) {
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.opts.Table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: item{
			":pk":   avS(partnerPK(partnerID)),
			":from": avS(skMonthPrefix + dsu.NextMonth(month)),
			":to":   avS(skMonthPrefix + "~"),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          aws.Int32(1),
	})
	if err != nil {
		return monthMark{}, false, storageErr(err, "read month markers")
	}
	if len(out.Items) == 0 {
		return monthMark{}, false, nil
	}
	m, err := decodeMonthMark(out.Items[0])
	return m, err == nil, err
}

// ledgerRange reads the entries with sort keys from..to, oldest first, a
// query per page.
func (s *Store) ledgerRange(ctx context.Context, partnerID, from, to string) ([]dsu.Entry, error) {
	var out []dsu.Entry
	err := s.queryRange(ctx, partnerID, from, to, func(it item) error {
		e, err := decodeEntry(it)
		out = append(out, e)
		return err
	})
	return out, err
}

// queryRange runs one key-range Query of a partner's items, page after
// page.
func (s *Store) queryRange(ctx context.Context, partnerID, from, to string, each func(item) error) error {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.opts.Table),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :from AND :to"),
		ExpressionAttributeValues: item{
			":pk": avS(partnerPK(partnerID)), ":from": avS(from), ":to": avS(to),
		},
		ConsistentRead: aws.Bool(true),
	}
	for {
		out, err := s.api.Query(ctx, in)
		if err != nil {
			return storageErr(err, "read "+strings.TrimSuffix(from, "#"))
		}
		for _, it := range out.Items {
			if err := each(it); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// MaxUsageReportRecords bounds the usage records one report holds: a
// partner with 1,000 tenants reporting every day of a month is 31,000.
// Past it a report asks for one tenant at a time.
const MaxUsageReportRecords = 40_000

// MonthUsage reads a partner's usage records of one month (YYYY-MM):
// one key-range query, page after page. More than MaxUsageReportRecords
// records is a validation error asking for one tenant. One tenant's month
// (tenantID set) is read by its keys instead, so it costs the same however
// many tenants the partner has: see tenantMonthUsage.
func (s *Store) MonthUsage(ctx context.Context, partnerID, month, tenantID string) ([]dsu.UsageRecord, error) {
	if tenantID != "" {
		return s.tenantMonthUsage(ctx, partnerID, month, tenantID)
	}
	var out []dsu.UsageRecord
	err := s.queryRange(ctx, partnerID, skUsagePrefix+month+"-01", skUsagePrefix+month+"-31$", func(it item) error {
		if len(out) == MaxUsageReportRecords {
			return dsu.InvalidField("tenantId", "the month holds more than 40,000 usage records; ask for one tenant at a time")
		}
		u, err := decodeUsage(it)
		out = append(out, u)
		return err
	})
	return out, err
}

// tenantMonthUsage reads one tenant's records of a month. A usage item's
// key is its date and tenant, so the month is at most 31 known keys: one
// BatchGetItem. A query filtered on the tenant would read (and pay for)
// every tenant's records of the month to answer with one tenant's.
func (s *Store) tenantMonthUsage(ctx context.Context, partnerID, month, tenantID string) ([]dsu.UsageRecord, error) {
	first, err := time.Parse("2006-01", month)
	if err != nil {
		return nil, dsu.InvalidField("month", "must be a month, YYYY-MM")
	}
	var keys []item
	for day := first; day.Month() == first.Month(); day = day.AddDate(0, 0, 1) {
		keys = append(keys, usageKey(partnerID, tenantID, day.Format(time.DateOnly)))
	}
	var out []dsu.UsageRecord
	err = s.batchGet(ctx, "read the tenant's usage", keys, func(it item) error {
		u, err := decodeUsage(it)
		out = append(out, u)
		return err
	})
	slices.SortFunc(out, func(a, b dsu.UsageRecord) int { return strings.Compare(a.Date, b.Date) })
	return out, err
}

// PurchasesByID reads a partner's purchases by id, up to 100 per
// BatchGetItem; unknown ids are left out.
func (s *Store) PurchasesByID(ctx context.Context, partnerID string, ids []string) ([]dsu.Purchase, error) {
	keys := make([]item, len(ids))
	for i, id := range ids {
		keys[i] = purchaseKey(partnerID, id)
	}
	byID := map[string]dsu.Purchase{}
	err := s.batchGet(ctx, "read purchases", keys, func(it item) error {
		p, err := decodePurchase(it)
		byID[p.ID] = p
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]dsu.Purchase, 0, len(byID))
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}
