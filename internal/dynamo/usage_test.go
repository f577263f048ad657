package dynamo_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
)

// A billed day's records go in transactions of UsagePerTransaction (98)
// usage items, one ledger entry and the balance. When that entry is the
// first of its month, the transaction also carries the month's marker: the
// first transaction takes one record fewer, so R records take ⌈(R+1)/98⌉
// transactions instead of ⌈R/98⌉, never more than 100 items in one.
func TestUsageAsTheMonthsFirstEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records int
		// grantIn is the month of the partner's welcome grant; "" for a
		// partner created without one (no ledger at all yet).
		grantIn        string
		firstOfMonth   bool
		wantTxns       int
		wantFirstChunk int // the records of the first entry
	}{
		{"97 records, the month's first entry", 97, "2026-10", true, 1, 97},
		{"98 records, the month's first entry", 98, "2026-10", true, 2, 97},
		{"98 records, the partner's first entry", 98, "", true, 2, 97},
		{"196 records, the month's first entry", 196, "2026-10", true, 3, 97},
		{"500 records, the month's first entry", 500, "2026-10", true, 6, 97},
		{"98 records after the month's marker", 98, "2026-11", false, 1, 98},
		{"196 records after the month's marker", 196, "2026-11", false, 2, 98},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			var grant int64
			if tc.grantIn != "" {
				grant = 2000
				month, _ := time.Parse("2006-01", tc.grantIn)
				f.clock.Set(month.Add(24 * time.Hour))
			}
			f.createPartner(t, "p1", grant)
			f.clock.Set(time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC))
			before, err := f.store.GetAccount(ctx, "p1")
			if err != nil {
				t.Fatal(err)
			}

			recs := make([]dsu.UsageRecord, tc.records)
			var used int64
			for i := range recs {
				users := int64(1 + i%7)
				recs[i] = dsu.UsageRecord{PartnerID: "p1", TenantID: fmt.Sprintf("tenant-%04d", i), Date: "2026-11-10",
					Users: users, Units: users, RecordedAt: f.clock.Now()}
				used += users
			}
			f.api.Reset()
			day, err := f.store.RecordUsageDay(ctx, "p1", "2026-11-10", recs)
			if err != nil {
				t.Fatal(err)
			}
			c := f.api.Counts()
			for i, w := range day.Writes {
				if !w.Applied {
					t.Fatalf("record %d not applied: %+v", i, w)
				}
			}
			if c.Transactions != int64(tc.wantTxns) || c.MaxTransactionItems > dynamo.MaxTransactionItems {
				t.Errorf("%d transactions of at most %d items, want %d of at most %d",
					c.Transactions, c.MaxTransactionItems, tc.wantTxns, dynamo.MaxTransactionItems)
			}
			if c.Reads != 1 {
				t.Errorf("%d reads, want the balance only", c.Reads)
			}
			if len(day.Debits) != tc.wantTxns {
				t.Errorf("%d debits, want one per transaction (%d)", len(day.Debits), tc.wantTxns)
			}

			acc := f.checkInvariant(t, "p1")
			if acc.Units != before.Units-used {
				t.Errorf("balance %d, want %d − %d", acc.Units, before.Units, used)
			}
			// The marker as stored: the month's first entry and the balance
			// before it.
			marker := rawItem(t, f, "P#p1", "MONTH#2026-11")
			firstSeq, opening := number(t, marker, "firstSeq"), number(t, marker, "openingBalance")
			if tc.firstOfMonth && (firstSeq != before.LedgerSeq+1 || opening != before.Units) {
				t.Errorf("marker firstSeq %d, openingBalance %d; want %d, %d", firstSeq, opening, before.LedgerSeq+1, before.Units)
			}
			if !tc.firstOfMonth && (firstSeq != 1 || opening != 0) {
				t.Errorf("the grant's marker was rewritten: firstSeq %d, openingBalance %d", firstSeq, opening)
			}
			// The month as a statement reads it: its opening, then entries
			// adding up to the balance, the first covering wantFirstChunk
			// records.
			monthOpening, entries, err := f.store.MonthLedger(ctx, "p1", "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			if monthOpening != opening {
				t.Errorf("the month opens at %d, its marker says %d", monthOpening, opening)
			}
			var usage []dsu.Entry
			sum := monthOpening
			for _, e := range entries {
				sum += e.Units
				if e.Type == dsu.EntryUsage {
					usage = append(usage, e)
				}
			}
			if sum != acc.Units {
				t.Errorf("opening %d + Σ the month's entries = %d, balance %d", monthOpening, sum, acc.Units)
			}
			if len(usage) != tc.wantTxns {
				t.Fatalf("%d usage entries, want %d", len(usage), tc.wantTxns)
			}
			var firstChunk int64
			for _, r := range recs[:tc.wantFirstChunk] {
				firstChunk += r.Units
			}
			if usage[0].Units != -firstChunk || usage[0].Description != dsu.UsageDescription("2026-11-10", tc.wantFirstChunk) {
				t.Errorf("first entry %d %q, want %d across %d tenants", usage[0].Units, usage[0].Description, -firstChunk, tc.wantFirstChunk)
			}
		})
	}
}

// rawItem is the table's item at pk, sk as stored, read around the store.
func rawItem(t *testing.T, f *fixture, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.emu.Client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(dynamotest.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("no item %s %s: %v", pk, sk, err)
	}
	return out.Item
}

func number(t *testing.T, it map[string]types.AttributeValue, name string) int64 {
	t.Helper()
	n, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("%s is %T, want a number", name, it[name])
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
