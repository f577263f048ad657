package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// ---- purchase item ----

func (s *Store) purchaseItem(p dsu.Purchase) item {
	it := withKey(item{}, purchaseKey(p.PartnerID, p.ID))
	it[AttrType] = avS(typePurchase)
	it["id"] = avS(p.ID)
	it["partnerId"] = avS(p.PartnerID)
	it["kind"] = avS(string(p.Kind))
	it["status"] = avS(string(p.Status))
	setN(it, "units", p.Units)
	setN(it, "amount", p.Amount.Amount)
	it["currency"] = avS(string(p.Amount.Currency))
	setS(it, "paymentIntentId", p.PaymentIntentID)
	setTime(it, "createdAt", p.CreatedAt)
	setTimePtr(it, "completedAt", p.CompletedAt)
	setN(it, "refundedAmount", p.RefundedAmount)
	setN(it, "refundedUnits", p.RefundedUnits)
	setN(it, "disputeDebitedUnits", p.DisputeDebitedUnits)
	setN(it, "disputeClaimedUnits", p.DisputeClaimedUnits)
	setS(it, "receiptUrl", p.ReceiptURL)
	setN(it, "version", p.Version)
	if f := p.Failure; f != nil {
		m := item{"code": avS(f.Code)}
		setS(m, "message", f.Message)
		it["failure"] = &types.AttributeValueMemberM{Value: m}
	}
	lines := make([]types.AttributeValue, 0, len(p.Items))
	for _, l := range p.Items {
		lines = append(lines, &types.AttributeValueMemberM{Value: item{
			"packageId": avS(l.PackageID), "name": avS(l.Name), "quantity": avN(l.Quantity),
			"units": avN(l.Units), "amount": avN(l.Amount.Amount),
		}})
	}
	it["items"] = &types.AttributeValueMemberL{Value: lines}
	if len(p.Refunds) > 0 {
		refunds := make([]types.AttributeValue, 0, len(p.Refunds))
		for _, r := range p.Refunds {
			refunds = append(refunds, &types.AttributeValueMemberM{Value: item{
				"id": avS(r.ID), "amount": avN(r.Amount), "units": avN(r.Units), "claim": avN(r.Claim),
				"state": avS(string(r.State)),
			}})
		}
		it["refunds"] = &types.AttributeValueMemberL{Value: refunds}
	}
	setTime(it, "reconcileAt", p.ReconcileAt)
	if p.AskedToAuthenticate {
		it["askedToAuthenticate"] = avBool(true)
	}
	// The sparse sweep index: present exactly while a manual purchase is
	// unfinished, keyed by when the sweep looks next. Every write of a
	// purchase is a whole Put of this item, so a purchase that moves on
	// leaves the index in the same write.
	if at, ok := p.SweepAt(); ok {
		it[AttrGSI1PK] = avS(sweepPK(sweepPurchases, p.ID, s.opts.SweepShards))
		it[AttrGSI1SK] = avS(fmtTime(at) + "#" + p.PartnerID + "#" + p.ID)
	}
	return it
}

func decodePurchase(it item) (dsu.Purchase, error) {
	r := reader{it: it}
	cur := dsu.Currency(r.str("currency"))
	p := dsu.Purchase{
		ID:                  r.str("id"),
		PartnerID:           r.str("partnerId"),
		Kind:                dsu.PurchaseKind(r.str("kind")),
		Status:              dsu.PurchaseStatus(r.str("status")),
		Units:               r.num("units"),
		Amount:              dsu.Money{Amount: r.num("amount"), Currency: cur},
		PaymentIntentID:     r.str("paymentIntentId"),
		CreatedAt:           r.time("createdAt"),
		CompletedAt:         r.timePtr("completedAt"),
		RefundedAmount:      r.num("refundedAmount"),
		RefundedUnits:       r.num("refundedUnits"),
		DisputeDebitedUnits: r.num("disputeDebitedUnits"),
		DisputeClaimedUnits: r.num("disputeClaimedUnits"),
		ReconcileAt:         r.time("reconcileAt"),
		AskedToAuthenticate: r.boolean("askedToAuthenticate"),
		ReceiptURL:          r.str("receiptUrl"),
		Version:             r.num("version"),
	}
	if m := r.mapAt("failure"); m != nil {
		p.Failure = &dsu.Failure{Code: m.str("code"), Message: m.str("message")}
		r.merge(m, "failure")
	}
	for _, l := range r.listAt("items") {
		p.Items = append(p.Items, dsu.LineItem{
			PackageID: l.str("packageId"), Name: l.str("name"), Quantity: l.num("quantity"),
			Units: l.num("units"), Amount: dsu.Money{Amount: l.num("amount"), Currency: cur},
		})
		r.merge(l, "items")
	}
	for _, rf := range r.listAt("refunds") {
		p.Refunds = append(p.Refunds, dsu.RefundRecord{
			ID: rf.str("id"), Amount: rf.num("amount"), Units: rf.num("units"), Claim: rf.num("claim"), State: dsu.RefundState(rf.str("state")),
		})
		r.merge(rf, "refunds")
	}
	if r.err != nil {
		return dsu.Purchase{}, fmt.Errorf("purchase %s: %w", p.ID, r.err)
	}
	return p, nil
}

func paymentIntentItem(pi, partnerID, purchaseID string) item {
	it := withKey(item{}, paymentIntentKey(pi))
	it[AttrType] = avS(typePI)
	it["paymentIntentId"] = avS(pi)
	it["partnerId"] = avS(partnerID)
	it["purchaseId"] = avS(purchaseID)
	return it
}

// eventItem records a processed Stripe event; it expires after Stripe's
// retry window (3 days) with a wide margin.
func eventItem(eventID string, now time.Time) item {
	it := withKey(item{}, eventKey(eventID))
	it[AttrType] = avS(typeEvent)
	it["eventId"] = avS(eventID)
	setTime(it, "processedAt", now)
	setN(it, AttrExpiresAt, now.Add(EventRetention).Unix())
	return it
}

// EventRetention is how long processed Stripe event ids are remembered.
const EventRetention = 30 * 24 * time.Hour

// ---- creation and reads ----

// CreatePurchase writes a new pending purchase in one transaction with the
// Idempotency-Key claim that creates it, and marks the partner's first
// purchase, which fixes the billing currency. A manual purchase also counts
// against dsu.ManualPurchasesPerPartner. It fails with
// dsu.ErrIdempotencyKeyTaken when the key is taken (first: a replay is
// never refused as too many), with KindTooManyRequests when the partner is
// over the limit and with KindConflict when the partner's currency is no
// longer the purchase's.
func (s *Store) CreatePurchase(ctx context.Context, p dsu.Purchase, claim *dsu.IdempotencyClaim, audits ...dsu.AuditEvent) error {
	var items []txItem
	if claim != nil {
		items = append(items, s.claimIdem(*claim))
	}
	if p.Kind == dsu.KindManual {
		items = append(items, s.countWithin(p.PartnerID, dsu.ManualPurchasesPerPartner))
	}
	items = append(items, s.putNew(s.purchaseItem(p), dsu.Errorf(dsu.KindConflict, "purchase %s exists", p.ID)), s.markFirstPurchase(p))
	for _, ev := range audits {
		ti, err := s.putAudit(ev)
		if err != nil {
			return err
		}
		items = append(items, ti)
	}
	return s.transact(ctx, "create purchase", items)
}

// GetPurchase reads one of a partner's purchases; KindNotFound for another
// partner's or an unknown id.
func (s *Store) GetPurchase(ctx context.Context, partnerID, purchaseID string) (dsu.Purchase, error) {
	if !dsu.ValidPurchaseID(purchaseID) {
		// Never issued here, and perhaps more than a key can hold: not
		// found, without a round trip.
		return dsu.Purchase{}, dsu.Errorf(dsu.KindNotFound, "no such purchase")
	}
	it, err := s.get(ctx, purchaseKey(partnerID, purchaseID))
	if err != nil {
		return dsu.Purchase{}, err
	}
	if it == nil {
		return dsu.Purchase{}, dsu.Errorf(dsu.KindNotFound, "no such purchase")
	}
	return decodePurchase(it)
}

// ListPurchases lists a partner's purchases newest first.
func (s *Store) ListPurchases(ctx context.Context, partnerID string, page Page) ([]dsu.Purchase, string, error) {
	items, next, err := s.list(ctx, partnerID, skPurchasePrefix, "purchases", page)
	if err != nil {
		return nil, "", err
	}
	out := make([]dsu.Purchase, 0, len(items))
	for _, it := range items {
		p, err := decodePurchase(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, p)
	}
	return out, next, nil
}

// PurchaseByPaymentIntent finds the purchase a PaymentIntent pays: charges,
// refunds and disputes carry only the PaymentIntent id (RULES.md, "Finding a purchase from Stripe
// objects").
func (s *Store) PurchaseByPaymentIntent(ctx context.Context, paymentIntentID string) (dsu.Purchase, error) {
	it, err := s.get(ctx, paymentIntentKey(paymentIntentID))
	if err != nil {
		return dsu.Purchase{}, err
	}
	if it == nil {
		return dsu.Purchase{}, dsu.Errorf(dsu.KindNotFound, "no purchase for payment intent %s", paymentIntentID)
	}
	r := reader{it: it}
	return s.GetPurchase(ctx, r.str("partnerId"), r.str("purchaseId"))
}

// EventProcessed reports whether a Stripe event id was processed before.
func (s *Store) EventProcessed(ctx context.Context, eventID string) (bool, error) {
	it, err := s.get(ctx, eventKey(eventID))
	if err != nil || it == nil {
		return false, err
	}
	r := reader{it: it}
	return r.num(AttrExpiresAt) > s.now().Unix(), nil
}

// MarkEventProcessed records a Stripe event id on its own, for events whose
// handling wrote nothing else.
func (s *Store) MarkEventProcessed(ctx context.Context, eventID string) error {
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: eventItem(eventID, s.now())})
	return storageErr(err, "mark event")
}

// ---- updates ----

// UpdatePurchase writes u in one transaction: the purchase under its
// status condition, the PaymentIntent link, the ledger entry with its guard
// and the new balance, the account change, the event record and the
// idempotency completion. Each item's failed condition has its own error:
// dsu.ErrPurchaseMoved, dsu.ErrPaymentIntentTaken, dsu.ErrEventProcessed,
// or KindRequestInProgress for a key taken over.
func (s *Store) UpdatePurchase(ctx context.Context, u dsu.PurchaseUpdate) (dsu.UpdateResult, error) {
	p := u.Purchase
	if len(u.From) == 0 {
		return dsu.UpdateResult{}, fmt.Errorf("update of purchase %s without source statuses", p.ID)
	}
	// The version read: nobody wrote in between. The status: the move is
	// forward (the state machine, enforced here whatever the caller read).
	cond := []string{"version = :ver", "#status IN (" + placeholders(":from", len(u.From)) + ")"}
	values := item{":ver": avN(p.Version)}
	p.Version++
	for i, st := range u.From {
		values[fmt.Sprintf(":from%d", i)] = avS(string(st))
	}
	if u.LinkPaymentIntent {
		cond = append(cond, "(attribute_not_exists(paymentIntentId) OR paymentIntentId = :pi)")
		values[":pi"] = avS(p.PaymentIntentID)
	}
	purchasePut := s.put(s.purchaseItem(p), strings.Join(cond, " AND "), values, dsu.ErrPurchaseMoved)
	purchasePut.write.Put.ExpressionAttributeNames = map[string]string{"#status": "status"}
	items := []txItem{purchasePut}
	if u.LinkPaymentIntent {
		items = append(items, s.put(paymentIntentItem(p.PaymentIntentID, p.PartnerID, p.ID),
			"attribute_not_exists(pk) OR purchaseId = :id", item{":id": avS(p.ID)}, dsu.ErrPaymentIntentTaken))
	}
	if u.EventID != "" {
		items = append(items, s.put(eventItem(u.EventID, s.now()), "attribute_not_exists(pk) OR expiresAt < :now",
			item{":now": avN(s.now().Unix())}, dsu.ErrEventProcessed))
	}
	if u.Complete != nil {
		items = append(items, s.completeIdem(u.Complete.Claim, u.Complete.Result))
	}

	if u.Ledger == nil && u.Account == nil {
		if err := s.transact(ctx, "update purchase", items); err != nil {
			return dsu.UpdateResult{}, err
		}
		return dsu.UpdateResult{Applied: true}, nil
	}
	res, err := s.change(ctx, balanceChange{partnerID: p.PartnerID, entry: u.Ledger, mutate: u.Account,
		extra: func(dsu.Account, *dsu.Entry) []txItem { return items }})
	if err != nil {
		return dsu.UpdateResult{}, err
	}
	return dsu.UpdateResult{Account: res.Account, Plan: res.Plan, Applied: res.Applied, Entry: res.Entry}, nil
}

func placeholders(prefix string, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return strings.Join(ps, ", ")
}
