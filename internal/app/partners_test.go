package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
)

func TestEnsureCreatesOnceWithTheWelcomeGrant(t *testing.T) {
	emu := dynamotest.New(t)
	clock := dsutest.NewFixedClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	store := dynamo.New(emu.Client, dynamo.Options{Table: dynamotest.Table, Clock: clock})
	partners := &app.Partners{Store: store, Defaults: dsu.PartnerDefaults{Currency: dsu.EUR, WelcomeGrant: 2000}, Clock: clock}
	ctx := context.Background()

	var wg sync.WaitGroup
	for range 25 {
		wg.Go(func() {
			p, err := partners.Ensure(ctx, "newcomer")
			if err != nil || p.ID != "newcomer" || p.Currency != dsu.EUR {
				t.Errorf("Ensure = %+v, %v", p, err)
			}
		})
	}
	wg.Wait()
	acc, err := store.GetAccount(ctx, "newcomer")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := store.AllLedgerEntries(ctx, "newcomer")
	if acc.Units != 2000 || len(entries) != 1 || dsu.CheckInvariant(acc.Units, entries) != nil {
		t.Fatalf("balance %d with %d entries after 25 concurrent first requests; want one grant", acc.Units, len(entries))
	}
}

// A partner's first request costs the read that finds nothing and one
// transaction of 5 items (docs/ARCHITECTURE.md, "Access patterns and round
// trips"); every later one, the read alone.
func TestFirstRequestRoundTrips(t *testing.T) {
	emu := dynamotest.New(t)
	api := dynamotest.NewCountingAPI(emu.Client)
	clock := dsutest.NewFixedClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	store := dynamo.New(api, dynamo.Options{Table: dynamotest.Table, Clock: clock})
	partners := &app.Partners{Store: store, Defaults: dsu.PartnerDefaults{Currency: dsu.EUR, WelcomeGrant: 2000}, Clock: clock}
	ctx := context.Background()
	if _, err := partners.Ensure(ctx, "newcomer"); err != nil {
		t.Fatal(err)
	}
	want := dynamotest.Counts{Reads: 1, Transactions: 1, MaxTransactionItems: 5}
	if got := api.Counts(); got != want {
		t.Fatalf("first request: %+v, want %+v (profile, grant guard, month marker, grant entry, balance)", got, want)
	}
	if _, entries, err := store.MonthLedger(ctx, "newcomer", "2026-11"); err != nil || len(entries) != 1 {
		t.Fatalf("the grant's month: %d entries, %v", len(entries), err)
	}
	api.Reset()
	if _, err := partners.Ensure(ctx, "newcomer"); err != nil {
		t.Fatal(err)
	}
	if got := api.Counts(); got.Reads != 1 || got.Writes+got.Transactions != 0 {
		t.Fatalf("a known partner: %+v, want one read", got)
	}
}

func TestPackagesInThePartnersCurrency(t *testing.T) {
	emu := dynamotest.New(t)
	clock := dsutest.NewFixedClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	api := dynamotest.NewCountingAPI(emu.Client)
	store := dynamo.New(api, dynamo.Options{Table: dynamotest.Table, Clock: clock})
	cat, _ := catalog.Default()
	if err := store.PutCatalog(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	cached := &app.CachedCatalog{Source: store, Clock: clock, TTL: time.Minute}
	q := &app.Packages{Catalog: cached}
	api.Reset()
	list, err := q.List(context.Background(), dsu.Partner{Currency: dsu.EUR})
	if err != nil {
		t.Fatal(err)
	}
	if list.Currency != dsu.EUR || len(list.Packages) != 5 || list.Packages[4].Price != (dsu.Money{Amount: 345000, Currency: dsu.EUR}) || list.Packages[4].SavingsPercent != 25 {
		t.Fatalf("list = %+v", list)
	}
	q.List(context.Background(), dsu.Partner{Currency: dsu.USD})
	if c := api.Counts(); c.Reads != 1 {
		t.Fatalf("a warm function read the catalog %d times; the cache must serve it", c.Reads)
	}
	clock.Advance(2 * time.Minute)
	q.List(context.Background(), dsu.Partner{Currency: dsu.USD})
	if c := api.Counts(); c.Reads != 2 {
		t.Fatalf("a stale cache was not refreshed: %d reads", c.Reads)
	}
}
