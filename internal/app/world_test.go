package app_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/logging/logtest"
	"github.com/cirasync/dsubilling/internal/metrics"
)

// world is the use cases over the real store on the emulated table and
// the fake Stripe: what the functions run, minus HTTP.
type world struct {
	t       testing.TB
	emu     *dynamotest.Emulator
	api     *dynamotest.CountingAPI
	faults  *faultyAPI
	store   *dynamo.Store
	clock   *dsutest.FixedClock
	ids     *dsutest.SequentialIDs
	pay     *fakePayments
	events  *recordedEvents
	catalog *app.CachedCatalog
	// metrics records what the use cases record, as the functions do;
	// emfOut receives its lines (world.metrics reads them).
	metrics *metrics.EMF
	emfOut  logtest.Buffer

	partners  *app.Partners
	purchases *app.Purchases
	webhooks  *app.Webhooks
	billing   *app.Billing
	outcomes  *app.RefillOutcomes
	settler   *app.Settler
}

var worldStart = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

func newWorld(t testing.TB) *world {
	t.Helper()
	emu := dynamotest.New(t)
	w := &world{t: t, emu: emu, clock: dsutest.NewFixedClock(worldStart), ids: &dsutest.SequentialIDs{}, pay: newFakePayments(), events: &recordedEvents{}}
	w.faults = &faultyAPI{API: emu.Client}
	w.api = dynamotest.NewCountingAPI(w.faults)
	w.store = dynamo.New(w.api, dynamo.Options{Table: dynamotest.Table, Clock: w.clock, IDs: w.ids})
	w.metrics = metrics.NewEMF(&w.emfOut, "test", w.clock.Now)
	events := app.EventMetrics{Next: w.events, Metrics: w.metrics}
	cat, _ := catalog.Default()
	if err := w.store.PutCatalog(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	log := logging.Discard()
	w.catalog = &app.CachedCatalog{Source: w.store, Clock: w.clock, TTL: time.Minute}
	w.partners = &app.Partners{Store: w.store, Defaults: dsu.PartnerDefaults{Currency: dsu.USD, WelcomeGrant: 2000}, Clock: w.clock, Metrics: w.metrics}
	w.outcomes = &app.RefillOutcomes{Policy: dsu.DefaultRefillPolicy, Clock: w.clock, Events: events, Log: log,
		Retryable: func(code string) bool { return code == "insufficient_funds" || code == "try_again_later" }}
	w.billing = &app.Billing{Store: w.store, Payments: w.pay, Catalog: w.catalog, IDs: w.ids, Events: events, Log: log, Clock: w.clock}
	w.purchases = &app.Purchases{Store: w.store, Payments: w.pay, Catalog: w.catalog, Clock: w.clock, IDs: w.ids, Log: log, Metrics: w.metrics}
	w.settler = &app.Settler{Store: w.store, Refills: w.outcomes, Clock: w.clock, Log: log, Metrics: w.metrics}
	w.webhooks = &app.Webhooks{Store: w.store, Settle: w.settler, Refunds: w.pay, Cards: w.billing, Refills: w.outcomes, Events: events, Clock: w.clock, Log: log, Metrics: w.metrics}
	return w
}

// partner creates a partner with a contact, a Stripe customer and, when
// asked, a saved card (payment method pm).
func (w *world) partner(id string, pm string) dsu.Partner {
	w.t.Helper()
	ctx := context.Background()
	p, err := w.partners.Ensure(ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	cus, _ := w.pay.CreateCustomer(ctx, app.CustomerDetails{PartnerID: id})
	p.StripeCustomerID = cus
	p.Contact = &dsu.Contact{Name: "Jane Doe", Email: "jane@" + id + ".example"}
	p.Address = &dsu.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US", State: "IL"}
	if pm != "" {
		w.pay.mu.Lock()
		w.pay.paymentMethods[pm] = app.PaymentMethod{ID: pm, CustomerID: cus, Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030}
		w.pay.mu.Unlock()
		p.Card = &dsu.Card{PaymentMethodID: pm, Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030}
	}
	if p, err = w.store.SavePartner(ctx, p, true); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// balance checks balance = Σ ledger and returns the balance.
func (w *world) balance(partnerID string) int64 {
	w.t.Helper()
	ctx := context.Background()
	acc, err := w.store.GetAccount(ctx, partnerID)
	if err != nil {
		w.t.Fatal(err)
	}
	entries, err := w.store.AllLedgerEntries(ctx, partnerID)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := dsu.CheckInvariant(acc.Units, entries); err != nil {
		w.t.Fatal(err)
	}
	return acc.Units
}

func (w *world) purchase(partnerID, id string) dsu.Purchase {
	w.t.Helper()
	p, err := w.store.GetPurchase(context.Background(), partnerID, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

var eventSeq atomic.Int64

// piEvent is a payment_intent.* event as Stripe would send it for pi.
func piEvent(typ string, pi app.PaymentIntent) app.WebhookEvent {
	return app.WebhookEvent{ID: fmt.Sprintf("evt_%d", eventSeq.Add(1)), Type: typ, PaymentIntent: &pi}
}

func refundEvent(pi app.PaymentIntent, amount, refunded int64) app.WebhookEvent {
	return app.WebhookEvent{ID: fmt.Sprintf("evt_%d", eventSeq.Add(1)), Type: app.EvChargeRefunded, Charge: &app.Charge{
		ID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Amount: amount, AmountRefunded: refunded, Currency: pi.Amount.Currency, Refunded: refunded >= amount,
	}}
}

// buy creates a manual purchase of n dsu-1000 packages.
func (w *world) buy(p dsu.Partner, key, method string, n int64) (app.PurchaseResult, error) {
	body := fmt.Sprintf(`{"items":[{"packageId":"dsu-1000","quantity":%d}],"paymentMethod":%q}`, n, method)
	return w.purchases.Create(context.Background(), p, app.CreatePurchaseInput{
		IdempotencyKey: key, Fingerprint: dsu.Fingerprint("POST /v1/purchases", []byte(body)),
		Lines: []dsu.PurchaseLine{{PackageID: "dsu-1000", Quantity: n}}, PaymentMethod: method,
	})
}

// recordedEvents collects published domain events.
type recordedEvents struct {
	mu  sync.Mutex
	all []app.DomainEvent
}

func (r *recordedEvents) Publish(_ context.Context, ev app.DomainEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, ev)
}

// Of returns the events of a type.
func (r *recordedEvents) Of(typ app.EventType) []app.DomainEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []app.DomainEvent
	for _, e := range r.all {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// faultyAPI fails chosen DynamoDB calls, to crash a use case between its
// Stripe call and its database write, and pages queries as DynamoDB does.
type faultyAPI struct {
	dynamo.API
	// failTransactions fails the next n TransactWriteItems calls.
	failTransactions atomic.Int64
	// queryPage, when set, ends every Query that sets no Limit after that
	// many items, as DynamoDB ends a page at 1 MB: the emulator never
	// pages by size, so without it a multi-page read is never a test's.
	queryPage atomic.Int32
}

func (f *faultyAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if n := f.queryPage.Load(); n > 0 && in.Limit == nil {
		paged := *in
		paged.Limit = &n
		in = &paged
	}
	return f.API.Query(ctx, in, opts...)
}

func (f *faultyAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if f.failTransactions.Load() > 0 && f.failTransactions.Add(-1) >= 0 {
		return nil, fmt.Errorf("injected: connection reset by peer")
	}
	return f.API.TransactWriteItems(ctx, in, opts...)
}

func dsuPage(limit int) dsu.Page { return dsu.Page{Limit: limit} }
