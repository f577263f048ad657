package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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

// DynamoDB's limit of items in one TransactWriteItems, and what a usage
// transaction carries within it: the records' usage items, then (on billed
// days) the one ledger entry of their sum and the balance (and, for the
// month's first entry, its marker: one record fewer then). The emulator in
// tests does not enforce the limit; the counting client checks it. Each
// usage item is well under 1 KB (ids of at most 128 bytes), so 100 of them
// stay far from the 4 MB limit of a transaction.
const (
	MaxTransactionItems = 100
	UsagePerTransaction = MaxTransactionItems - 2
)

// errUsageRecorded: a usage item of the transaction exists already.
var errUsageRecorded = errors.New("usage recorded before")

// RecordUsageDay records the usage of one partner on one date, each record
// exactly once per (partner, tenant, date): the record's usage item is
// created under attribute_not_exists and is its own guard. On billed days
// the records go in transactions of up to UsagePerTransaction items with
// one ledger entry of their sum and the balance under its version; on free
// days the items alone, up to MaxTransactionItems per transaction. Records
// found written before are answered with the first record (a duplicate or
// a conflict, for the caller to tell) and the rest are written without
// them. The records must have distinct tenants.
func (s *Store) RecordUsageDay(ctx context.Context, partnerID, date string, recs []dsu.UsageRecord) (dsu.UsageDay, error) {
	day := dsu.UsageDay{Writes: make([]dsu.UsageWrite, len(recs))}
	d, err := time.Parse(dsu.DateLayout, date)
	if err != nil {
		return day, dsu.Errorf(dsu.KindInternal, "usage date %q", date)
	}
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		if r.PartnerID != partnerID || r.Date != date || seen[r.TenantID] {
			return day, dsu.Errorf(dsu.KindInternal, "usage of %s on %s: records of another partner or date, or a tenant twice", partnerID, date)
		}
		seen[r.TenantID] = true
	}
	billed := dsu.IsBilledDay(d)
	per := MaxTransactionItems
	if billed {
		per = UsagePerTransaction
	}
	todo := make([]int, len(recs))
	for i := range todo {
		todo[i] = i
	}
	w := usageWriter{s: s, partnerID: partnerID, date: date, billed: billed, recs: recs, day: &day}
	for len(todo) > 0 {
		n, err := w.write(ctx, todo[:min(per, len(todo))])
		if err != nil {
			return day, err
		}
		todo = todo[n:]
	}
	return day, nil
}

// usageWriter writes the chunks of one partner's day, carrying the account
// from one transaction to the next: after the first read, a chunk costs one
// transaction unless someone else moved the balance meanwhile.
type usageWriter struct {
	s         *Store
	partnerID string
	date      string
	billed    bool
	recs      []dsu.UsageRecord
	day       *dsu.UsageDay
	acc       *dsu.Account // as last read or written; nil until needed
}

// write writes chunk (or, when the transaction also carries the month's
// marker, all of it but the last record, to stay within the item limit)
// and says how many of chunk's records it handled.
func (w *usageWriter) write(ctx context.Context, chunk []int) (int, error) {
	s := w.s
	handled := len(chunk)
	for attempt := 1; len(chunk) > 0; {
		items := make([]txItem, 0, len(chunk)+2)
		var units dsu.Units
		for _, i := range chunk {
			items = append(items, s.putNew(usageItem(w.recs[i]), errUsageRecorded))
			units += w.recs[i].Units
		}
		var next dsu.Account
		debit := w.billed && units != 0
		if debit {
			if w.acc == nil {
				acc, err := s.GetAccount(ctx, w.partnerID)
				if err != nil {
					return 0, err
				}
				w.acc = &acc
			}
			balance, ok := dsu.AddInt(w.acc.Units, -units)
			if !ok {
				return 0, dsu.Errorf(dsu.KindInternal, "balance overflow")
			}
			now := s.now()
			next = *w.acc
			next.Units, next.Version, next.LedgerSeq, next.UpdatedAt = balance, next.Version+1, next.LedgerSeq+1, now
			entry := dsu.Entry{
				ID: s.opts.IDs.NewID("le_"), PartnerID: w.partnerID, Seq: next.LedgerSeq, Type: dsu.EntryUsage,
				Units: -units, BalanceAfter: balance, Reference: dsu.UsageRef(w.partnerID, w.date, next.LedgerSeq),
				Description: dsu.UsageDescription(w.date, len(chunk)), CreatedAt: now,
			}
			if marker, ok := monthMarker(*w.acc, &next, entry); ok {
				if len(items)+3 > MaxTransactionItems {
					// The month's first entry carries its marker: one
					// record fewer, written by the next transaction.
					handled, chunk = handled-1, chunk[:len(chunk)-1]
					continue
				}
				items = append(items, s.putNew(marker, errStale))
			}
			items = append(items, s.putNew(entryItem(entry), errStale), s.putAccount(next, w.acc.Version))
		}
		err := s.transact(ctx, "record usage", items)
		switch {
		case err == nil:
			for _, i := range chunk {
				w.day.Writes[i] = dsu.UsageWrite{Applied: true, First: w.recs[i]}
			}
			if debit {
				w.acc = &next
				w.day.Debits = append(w.day.Debits, dsu.BalanceDebit{Units: units, After: next})
			}
			return handled, nil
		case errors.Is(err, errUsageRecorded):
			// Some records were written before (a retried request, a
			// concurrent one). DynamoDB names every failed item, the
			// emulator only the first: read them all, answer those, and
			// write the rest.
			rest, err := w.answerRecorded(ctx, chunk)
			if err != nil {
				return 0, err
			}
			if len(rest) == len(chunk) {
				return 0, dsu.Errorf(dsu.KindInternal, "usage of %s on %s reported recorded but none is", w.partnerID, w.date)
			}
			chunk = rest
		case errors.Is(err, errStale), errors.Is(err, errTxConflict):
			// Another writer moved the balance: read it again and retry.
			if attempt >= s.opts.MaxAttempts {
				return 0, dsu.Wrap(err, dsu.KindUpstreamUnavailable, "the balance is too busy; try again")
			}
			if err := backoff(ctx, attempt); err != nil {
				return 0, storageErr(err, "record usage")
			}
			attempt++
			w.acc = nil
		default:
			return 0, err
		}
	}
	return handled, nil
}

// answerRecorded reads the usage items of chunk in one consistent
// BatchGetItem (more only if DynamoDB leaves keys unprocessed), records the
// first record of each one found, and returns the records still to write.
func (w *usageWriter) answerRecorded(ctx context.Context, chunk []int) ([]int, error) {
	s := w.s
	byKey := make(map[string]int, len(chunk))
	keys := make([]item, 0, len(chunk))
	for _, i := range chunk {
		r := w.recs[i]
		k := usageKey(r.PartnerID, r.TenantID, r.Date)
		byKey[keyString(k)] = i
		keys = append(keys, k)
	}
	found := map[int]bool{}
	err := s.batchGet(ctx, "read the recorded usage", keys, func(it item) error {
		i, ok := byKey[keyString(it)]
		if !ok {
			return nil
		}
		first, err := decodeUsage(it)
		if err != nil {
			return err
		}
		w.day.Writes[i] = dsu.UsageWrite{First: first}
		found[i] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	var rest []int
	for _, i := range chunk {
		if !found[i] {
			rest = append(rest, i)
		}
	}
	return rest, nil
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
