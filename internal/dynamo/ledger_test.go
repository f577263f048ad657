package dynamo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	miniserver "github.com/truora/minidyn/server"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

type fixture struct {
	emu   *dynamotest.Emulator
	api   *dynamotest.CountingAPI
	store *dynamo.Store
	clock *dsutest.FixedClock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	emu := dynamotest.New(t)
	api := dynamotest.NewCountingAPI(emu.Client)
	clock := dsutest.NewFixedClock(t0)
	store := dynamo.New(api, dynamo.Options{Table: dynamotest.Table, Clock: clock, IDs: &dsutest.SequentialIDs{}})
	return &fixture{emu: emu, api: api, store: store, clock: clock}
}

func (f *fixture) createPartner(t *testing.T, id string, grant int64) {
	t.Helper()
	p := dsu.NewPartner(id, dsu.PartnerDefaults{Currency: dsu.USD}, f.clock.Now())
	if _, err := f.store.CreatePartner(context.Background(), p, grant); err != nil {
		t.Fatal(err)
	}
}

// checkInvariant asserts balance = Σ ledger with a gap-free running balance.
func (f *fixture) checkInvariant(t *testing.T, partnerID string) dsu.Account {
	t.Helper()
	ctx := context.Background()
	acc, err := f.store.GetAccount(ctx, partnerID)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.store.AllLedgerEntries(ctx, partnerID)
	if err != nil {
		t.Fatal(err)
	}
	if err := dsu.CheckInvariant(acc.Units, entries); err != nil {
		t.Fatal(err)
	}
	if acc.LedgerSeq != int64(len(entries)) {
		t.Fatalf("account at ledger seq %d, %d entries", acc.LedgerSeq, len(entries))
	}
	return acc
}

func TestCreatePartnerGrantsOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 2000)

	again := dsu.NewPartner("p1", dsu.PartnerDefaults{Currency: dsu.EUR}, f.clock.Now())
	if _, err := f.store.CreatePartner(ctx, again, 2000); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("second creation: %v, want conflict", err)
	}
	acc := f.checkInvariant(t, "p1")
	if acc.Units != 2000 {
		t.Fatalf("balance %d after two creations, want one grant of 2000", acc.Units)
	}
	p, err := f.store.GetPartner(ctx, "p1")
	if err != nil || p.Currency != dsu.USD {
		t.Fatalf("profile = %+v, %v; the first creation must win", p, err)
	}
	entries, _ := f.store.AllLedgerEntries(ctx, "p1")
	if len(entries) != 1 || entries[0].Type != dsu.EntryGrant || entries[0].Reference != dsu.WelcomeGrantRef {
		t.Fatalf("ledger = %+v", entries)
	}
	if _, err := f.store.GetPartner(ctx, "nobody"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatalf("unknown partner: %v", err)
	}
}

func TestCreatePartnerWithoutGrant(t *testing.T) {
	f := newFixture(t)
	f.createPartner(t, "p0", 0)
	if acc := f.checkInvariant(t, "p0"); acc.Units != 0 || acc.LedgerSeq != 0 {
		t.Fatalf("account %+v", acc)
	}
}

func TestConcurrentFirstRequestsGrantOnce(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 20 {
		wg.Go(func() {
			p := dsu.NewPartner("racer", dsu.PartnerDefaults{Currency: dsu.USD}, f.clock.Now())
			_, err := f.store.CreatePartner(context.Background(), p, 2000)
			if err == nil {
				mu.Lock()
				created++
				mu.Unlock()
			} else if dsu.ErrorKind(err) != dsu.KindConflict {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d creations succeeded, want 1", created)
	}
	if acc := f.checkInvariant(t, "racer"); acc.Units != 2000 {
		t.Fatalf("balance %d", acc.Units)
	}
}

func TestApplyLedgerIsIdempotentPerReference(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 2000)
	change := dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryUsage, Units: -120, Reference: dsu.UsageRef("p1", "2026-11-01", 1)}

	first, applied, err := f.store.ApplyLedger(ctx, change)
	if err != nil || !applied {
		t.Fatalf("first application: %v applied=%v", err, applied)
	}
	if first.BalanceAfter != 1880 || first.Seq != 2 {
		t.Fatalf("entry %+v", first)
	}
	f.clock.Advance(time.Hour)
	second, applied, err := f.store.ApplyLedger(ctx, change)
	if err != nil || applied {
		t.Fatalf("second application: %v applied=%v", err, applied)
	}
	if second != first {
		t.Fatalf("second application answered %+v, want the first result %+v", second, first)
	}
	// Even with other units the reference is the key: nothing changes.
	change.Units = -999
	if third, applied, _ := f.store.ApplyLedger(ctx, change); applied || third != first {
		t.Fatalf("a reused reference with other units changed something: %+v", third)
	}
	if acc := f.checkInvariant(t, "p1"); acc.Units != 1880 {
		t.Fatalf("balance %d", acc.Units)
	}
}

func TestApplyLedgerRoundTrips(t *testing.T) {
	f := newFixture(t)
	f.createPartner(t, "p1", 2000)
	f.api.Reset()
	_, _, err := f.store.ApplyLedger(context.Background(), dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryAdjustment, Units: 5, Reference: "adjustment:1"})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.api.Counts(); c.Reads > 1 || c.Transactions != 1 || c.Writes != 0 {
		t.Fatalf("applying one entry cost %+v, budget 1 read + 1 transaction", c)
	}
}

func TestConcurrentApplicationsOfOneReferenceApplyOnce(t *testing.T) {
	f := newFixture(t)
	f.createPartner(t, "p1", 2000)
	change := dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryPurchase, Units: 5000, Reference: dsu.PurchaseRef("pur_1")}
	var wg sync.WaitGroup
	results := make([]dsu.Entry, 50)
	appliedCount := make([]bool, 50)
	for i := range 50 {
		wg.Go(func() {
			e, applied, err := f.store.ApplyLedger(context.Background(), change)
			if err != nil {
				t.Error(err)
			}
			results[i], appliedCount[i] = e, applied
		})
	}
	wg.Wait()
	n := 0
	for i := range results {
		if appliedCount[i] {
			n++
		}
		if results[i] != results[0] {
			t.Fatalf("caller %d got %+v, caller 0 got %+v: every caller must see the one result", i, results[i], results[0])
		}
	}
	if n != 1 {
		t.Fatalf("%d applications reported applied, want exactly 1", n)
	}
	if acc := f.checkInvariant(t, "p1"); acc.Units != 7000 {
		t.Fatalf("balance %d, want 7000", acc.Units)
	}
}

func TestConcurrentDistinctReferencesLoseNone(t *testing.T) {
	f := newFixture(t)
	f.createPartner(t, "p1", 2000)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, applied, err := f.store.ApplyLedger(context.Background(), dsu.LedgerChange{
				PartnerID: "p1", Type: dsu.EntryUsage, Units: -int64(i + 1),
				Reference: dsu.UsageRef("p1", "2026-11-01", int64(1000+i)),
			})
			if err != nil || !applied {
				t.Errorf("application %d: %v applied=%v", i, err, applied)
			}
		})
	}
	wg.Wait()
	acc := f.checkInvariant(t, "p1")
	if want := int64(2000 - 50*51/2); acc.Units != want {
		t.Fatalf("balance %d, want %d: an update was lost", acc.Units, want)
	}
	if acc.LedgerSeq != 51 {
		t.Fatalf("ledger seq %d, want 51", acc.LedgerSeq)
	}
}

func TestLedgerPagination(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 2000)
	f.createPartner(t, "p2", 2000)
	for i := range 60 {
		f.clock.Advance(time.Minute)
		if _, _, err := f.store.ApplyLedger(ctx, dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryAdjustment, Units: 1, Reference: fmt.Sprintf("adjustment:%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var all []dsu.Entry
	cursor := ""
	pages := 0
	for {
		page, next, err := f.store.Ledger(ctx, "p1", dynamo.Page{Limit: 25, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	if pages != 3 || len(all) != 61 {
		t.Fatalf("%d pages, %d entries; want 3 pages of 25, 25, 11", pages, len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq-1 {
			t.Fatalf("entries not newest first at %d: %d after %d", i, all[i].Seq, all[i-1].Seq)
		}
	}
	// Exactly one page: no cursor.
	if _, next, _ := f.store.Ledger(ctx, "p2", dynamo.Page{Limit: 1}); next != "" {
		t.Fatalf("the last page carries cursor %q", next)
	}

	_, next, _ := f.store.Ledger(ctx, "p1", dynamo.Page{Limit: 5})
	bad := map[string]string{
		"garbage":      "not a cursor",
		"empty mac":    next[:len(next)-22] + ".",
		"flipped byte": flip(next, 3),
		"flipped mac":  flip(next, len(next)-2),
		"huge":         string(make([]byte, 5000)),
	}
	// A valid cursor of p1 presented by p2.
	if _, _, err := f.store.Ledger(ctx, "p2", dynamo.Page{Limit: 5, Cursor: next}); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Errorf("p1's cursor used by p2: %v", err)
	}
	for name, c := range bad {
		_, _, err := f.store.Ledger(ctx, "p1", dynamo.Page{Limit: 5, Cursor: c})
		var e *dsu.Error
		if dsu.ErrorKind(err) != dsu.KindInvalid {
			t.Errorf("%s cursor: %v", name, err)
			continue
		}
		e = err.(*dsu.Error)
		if len(e.Fields) != 1 || e.Fields[0].Field != "cursor" {
			t.Errorf("%s cursor: fields %+v", name, e.Fields)
		}
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestStorageOutageIsUpstreamUnavailable(t *testing.T) {
	f := newFixture(t)
	f.createPartner(t, "p1", 2000)
	f.emu.Server.EmulateFailure(miniserver.FailureConditionInternalServerError)
	_, _, err := f.store.ApplyLedger(context.Background(), dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryAdjustment, Units: 1, Reference: "adjustment:x"})
	if dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
		t.Fatalf("err = %v, want upstream_unavailable", err)
	}
	f.emu.Server.EmulateFailure(miniserver.FailureConditionNone)
	if acc := f.checkInvariant(t, "p1"); acc.Units != 2000 {
		t.Fatalf("balance %d after a failed change", acc.Units)
	}
}
