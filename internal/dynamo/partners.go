package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// ---- profile item ----

func (s *Store) profileItem(p dsu.Partner) item {
	it := withKey(item{}, profileKey(p.ID))
	it[AttrType] = avS(typeProfile)
	it["partnerId"] = avS(p.ID)
	it["currency"] = avS(string(p.Currency))
	setS(it, "stripeCustomerId", p.StripeCustomerID)
	setS(it, "vatId", p.VATID)
	setTime(it, "createdAt", p.CreatedAt)
	setTimePtr(it, "firstPurchaseAt", p.FirstPurchaseAt)
	setN(it, "version", p.Version)
	if c := p.Contact; c != nil {
		m := item{"name": avS(c.Name), "email": avS(c.Email)}
		setS(m, "phone", c.Phone)
		it["contact"] = &types.AttributeValueMemberM{Value: m}
	}
	if a := p.Address; a != nil {
		m := item{"line1": avS(a.Line1), "postalCode": avS(a.PostalCode), "country": avS(a.Country)}
		setS(m, "line2", a.Line2)
		setS(m, "city", a.City)
		setS(m, "state", a.State)
		it["address"] = &types.AttributeValueMemberM{Value: m}
	}
	if c := p.Card; c != nil {
		m := item{
			"paymentMethodId": avS(c.PaymentMethodID),
			"brand":           avS(c.Brand),
			"last4":           avS(c.Last4),
			"expMonth":        avN(int64(c.ExpMonth)),
			"expYear":         avN(int64(c.ExpYear)),
		}
		if c.ExpiringNoticed {
			m["expiringNoticed"] = avBool(true)
		}
		if c.ExpiredNoticed {
			m["expiredNoticed"] = avBool(true)
		}
		it["card"] = &types.AttributeValueMemberM{Value: m}
	}
	if cs := p.CardSetup; cs != nil {
		m := item{"setupIntentId": avS(cs.ID)}
		setTime(m, "created", cs.Created)
		it["cardSetup"] = &types.AttributeValueMemberM{Value: m}
	}
	if len(p.ReplacedCards) > 0 {
		// A set holds each id once, in no order.
		ids := slices.Compact(slices.Sorted(slices.Values(p.ReplacedCards)))
		it["replacedCards"] = &types.AttributeValueMemberSS{Value: ids}
		setTime(it, "detachRetryAt", p.DetachRetryAt)
	}
	// The sparse sweep index: present exactly while the billing record has
	// card work for the sweep, keyed by when.
	if at, ok := p.CardSweepAt(); ok {
		it[AttrGSI1PK] = avS(sweepPK(sweepCards, p.ID, s.opts.SweepShards))
		it[AttrGSI1SK] = avS(fmtTime(at) + "#" + p.ID)
	}
	return it
}

func decodeProfile(it item) (dsu.Partner, error) {
	r := reader{it: it}
	p := dsu.Partner{
		ID:               r.str("partnerId"),
		Currency:         dsu.Currency(r.str("currency")),
		StripeCustomerID: r.str("stripeCustomerId"),
		VATID:            r.str("vatId"),
		CreatedAt:        r.time("createdAt"),
		FirstPurchaseAt:  r.timePtr("firstPurchaseAt"),
		Version:          r.num("version"),
	}
	if m := r.mapAt("contact"); m != nil {
		p.Contact = &dsu.Contact{Name: m.str("name"), Email: m.str("email"), Phone: m.str("phone")}
		r.merge(m, "contact")
	}
	if m := r.mapAt("address"); m != nil {
		p.Address = &dsu.Address{
			Line1: m.str("line1"), Line2: m.str("line2"), City: m.str("city"),
			State: m.str("state"), PostalCode: m.str("postalCode"), Country: m.str("country"),
		}
		r.merge(m, "address")
	}
	if m := r.mapAt("card"); m != nil {
		p.Card = &dsu.Card{
			PaymentMethodID: m.str("paymentMethodId"), Brand: m.str("brand"), Last4: m.str("last4"),
			ExpMonth: int(m.num("expMonth")), ExpYear: int(m.num("expYear")),
			ExpiringNoticed: m.boolean("expiringNoticed"), ExpiredNoticed: m.boolean("expiredNoticed"),
		}
		r.merge(m, "card")
	}
	if m := r.mapAt("cardSetup"); m != nil {
		p.CardSetup = &dsu.SetupRef{ID: m.str("setupIntentId"), Created: m.time("created")}
		r.merge(m, "cardSetup")
	}
	p.ReplacedCards = r.strSet("replacedCards")
	p.DetachRetryAt = r.time("detachRetryAt")
	if r.err != nil {
		return dsu.Partner{}, fmt.Errorf("profile %s: %w", p.ID, r.err)
	}
	return p, nil
}

// ---- balance item ----

func (s *Store) balanceItem(a dsu.Account) item {
	it := withKey(item{}, balanceKey(a.PartnerID))
	it[AttrType] = avS(typeBalance)
	it["partnerId"] = avS(a.PartnerID)
	setN(it, "units", a.Units)
	setN(it, "version", a.Version)
	setN(it, "ledgerSeq", a.LedgerSeq)
	setS(it, "ledgerMonth", a.LedgerMonth)
	setTime(it, "updatedAt", a.UpdatedAt)

	ar := a.AutoRefill
	it["arEnabled"] = avBool(ar.Enabled)
	it["arStatus"] = avS(string(ar.Status))
	setS(it, "arPausedReason", string(ar.PausedReason))
	setS(it, "arAwaitingPurchaseId", ar.AwaitingPurchaseID)
	setS(it, "arPackageId", ar.PackageID)
	setN(it, "arThreshold", ar.Threshold)
	setN(it, "arMonthlyLimit", int64(ar.MonthlyLimit))
	if ar.DisputeHold {
		it["arDisputeHold"] = avBool(true)
	}

	rf := a.Refill
	setS(it, "refillPhase", string(rf.Phase))
	setS(it, "refillPurchaseId", rf.PurchaseID)
	setTime(it, "refillStartedAt", rf.StartedAt)
	if rf.Failures > 0 {
		setN(it, "refillFailures", int64(rf.Failures))
	}
	setTime(it, "refillNextAttemptAt", rf.NextAttemptAt)
	setS(it, "refillMonth", rf.Month)
	if rf.MonthCount > 0 {
		setN(it, "refillMonthCount", int64(rf.MonthCount))
	}

	// The sparse sweep index: present exactly while the account needs the
	// sweep, keyed by when.
	if at, ok := a.SweepAt(s.opts.RefillStuckAfter); ok {
		it[AttrGSI1PK] = avS(sweepPK(sweepAccounts, a.PartnerID, s.opts.SweepShards))
		it[AttrGSI1SK] = avS(fmtTime(at) + "#" + a.PartnerID)
	}
	return it
}

func decodeBalance(it item) (dsu.Account, error) {
	r := reader{it: it}
	a := dsu.Account{
		PartnerID:   r.str("partnerId"),
		Units:       r.num("units"),
		Version:     r.num("version"),
		LedgerSeq:   r.num("ledgerSeq"),
		LedgerMonth: r.str("ledgerMonth"),
		UpdatedAt:   r.time("updatedAt"),
		AutoRefill: dsu.AutoRefill{
			Enabled:            r.boolean("arEnabled"),
			Status:             dsu.AutoRefillStatus(r.str("arStatus")),
			PausedReason:       dsu.PauseReason(r.str("arPausedReason")),
			AwaitingPurchaseID: r.str("arAwaitingPurchaseId"),
			PackageID:          r.str("arPackageId"),
			Threshold:          r.num("arThreshold"),
			MonthlyLimit:       int(r.num("arMonthlyLimit")),
			DisputeHold:        r.boolean("arDisputeHold"),
		},
		Refill: dsu.RefillState{
			Phase:         dsu.RefillPhase(r.str("refillPhase")),
			PurchaseID:    r.str("refillPurchaseId"),
			StartedAt:     r.time("refillStartedAt"),
			Failures:      int(r.num("refillFailures")),
			NextAttemptAt: r.time("refillNextAttemptAt"),
			Month:         r.str("refillMonth"),
			MonthCount:    int(r.num("refillMonthCount")),
		},
	}
	if r.err != nil {
		return dsu.Account{}, fmt.Errorf("balance %s: %w", a.PartnerID, r.err)
	}
	return a, nil
}

// putAccount writes a new state of the account if nobody changed it since
// version `from` was read.
func (s *Store) putAccount(a dsu.Account, from int64) txItem {
	return s.put(s.balanceItem(a), "version = :v", item{":v": avN(from)}, errStale)
}

// checkAccount checks, in a transaction, that the account is still at the
// version read, without writing it.
func (s *Store) checkAccount(a dsu.Account) txItem {
	return txItem{write: types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(s.opts.Table), Key: balanceKey(a.PartnerID),
		ConditionExpression: aws.String("version = :v"), ExpressionAttributeValues: item{":v": avN(a.Version)},
	}}, failed: errStale}
}

// ---- reads ----

// GetPartner reads a partner's billing record; KindNotFound when the partner
// is unknown.
func (s *Store) GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error) {
	it, err := s.get(ctx, profileKey(partnerID))
	if err != nil {
		return dsu.Partner{}, err
	}
	if it == nil {
		return dsu.Partner{}, dsu.Errorf(dsu.KindNotFound, "unknown partner")
	}
	return decodeProfile(it)
}

// GetAccount reads a partner's balance and automated plan.
func (s *Store) GetAccount(ctx context.Context, partnerID string) (dsu.Account, error) {
	it, err := s.get(ctx, balanceKey(partnerID))
	if err != nil {
		return dsu.Account{}, err
	}
	if it == nil {
		return dsu.Account{}, dsu.Errorf(dsu.KindNotFound, "unknown partner")
	}
	return decodeBalance(it)
}

// ---- creation ----

// CreatePartner creates a partner's billing record and account, applying the
// welcome grant in the same transaction, so the grant exists exactly when
// the partner does. It returns KindConflict when the partner already exists
// (a concurrent first request won).
func (s *Store) CreatePartner(ctx context.Context, p dsu.Partner, grant dsu.Units) (dsu.Account, error) {
	now := s.now()
	acc := dsu.Account{
		PartnerID:  p.ID,
		Version:    1,
		UpdatedAt:  now,
		AutoRefill: dsu.AutoRefill{Status: dsu.AutoRefillOff},
	}
	exists := dsu.Errorf(dsu.KindConflict, "partner %s already exists", p.ID)
	items := []txItem{s.putNew(s.profileItem(p), exists)}
	if grant != 0 {
		e := dsu.Entry{
			ID: s.opts.IDs.NewID("le_"), PartnerID: p.ID, Seq: 1, Type: dsu.EntryGrant,
			Units: grant, BalanceAfter: grant, Reference: dsu.WelcomeGrantRef, Description: dsu.GrantDescription(grant), CreatedAt: now,
		}
		next := acc
		next.Units, next.LedgerSeq = grant, 1
		items = append(items, s.putNew(guardItem(e), exists))
		if marker, ok := monthMarker(acc, &next, e); ok {
			items = append(items, s.putNew(marker, exists))
		}
		items = append(items, s.putNew(entryItem(e), exists))
		acc = next
	}
	items = append(items, s.putNew(s.balanceItem(acc), exists))
	if err := s.transact(ctx, "create partner", items); err != nil {
		return dsu.Account{}, err
	}
	return acc, nil
}

// UpdatePartner writes p over the billing record it was read from (at
// p.Version). It returns KindConflict when someone else changed it first.
func (s *Store) UpdatePartner(ctx context.Context, p dsu.Partner) (dsu.Partner, error) {
	from := p.Version
	p.Version++
	_, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.opts.Table),
		Item:                      s.profileItem(p),
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: item{":v": avN(from)},
	})
	if _, ok := errors.AsType[*types.ConditionalCheckFailedException](err); ok {
		return dsu.Partner{}, errPartnerChanged
	}
	if err != nil {
		return dsu.Partner{}, storageErr(err, "update partner")
	}
	return p, nil
}

// errPartnerChanged: the billing record was written by someone else since
// it was read.
var errPartnerChanged = dsu.Errorf(dsu.KindConflict, "the billing record changed meanwhile; try again")

// ---- customers ----

func customerKey(customerID string) item { return key("CUS#"+customerID, "CUS") }

// SavePartner writes p over the billing record it was read from (at
// p.Version), and records its Stripe customer → partner link when
// linkCustomer is set: payment method events name only the customer. The
// audit events of the change are written in the same transaction (one
// round trip either way). KindConflict when the record changed meanwhile.
func (s *Store) SavePartner(ctx context.Context, p dsu.Partner, linkCustomer bool, audits ...dsu.AuditEvent) (dsu.Partner, error) {
	if !linkCustomer && len(audits) == 0 {
		return s.UpdatePartner(ctx, p)
	}
	from := p.Version
	p.Version++
	items := []txItem{s.put(s.profileItem(p), "version = :v", item{":v": avN(from)}, errPartnerChanged)}
	if linkCustomer {
		link := withKey(item{}, customerKey(p.StripeCustomerID))
		link[AttrType] = avS("customer")
		link["partnerId"] = avS(p.ID)
		items = append(items, s.put(link, "attribute_not_exists(pk) OR partnerId = :p", item{":p": avS(p.ID)},
			dsu.Errorf(dsu.KindInternal, "stripe customer %s belongs to another partner", p.StripeCustomerID)))
	}
	for _, ev := range audits {
		ti, err := s.putAudit(ev)
		if err != nil {
			return dsu.Partner{}, err
		}
		items = append(items, ti)
	}
	if err := s.transact(ctx, "save partner", items); err != nil {
		return dsu.Partner{}, err
	}
	return p, nil
}

// SavePartnerWithAccount writes p over the billing record it was read from
// (at p.Version) and applies mutate to the partner's account in the same
// transaction, with the audit events of the record's change: either both
// are written or neither, so no crash leaves one without the other. A lost
// race on the account retries from a fresh read of it (mutate runs again);
// KindConflict when the record changed meanwhile. When mutate reports
// dsu.ErrNoChange the account is not written but checked under its
// version: the decision is taken on the account as it stands when the
// record is saved.
func (s *Store) SavePartnerWithAccount(ctx context.Context, p dsu.Partner, mutate dsu.AccountMutation, audits ...dsu.AuditEvent) (dsu.Partner, dsu.Account, dsu.PlanChange, error) {
	from := p.Version
	p.Version++
	record := []txItem{s.put(s.profileItem(p), "version = :v", item{":v": avN(from)}, errPartnerChanged)}
	for _, ev := range audits {
		ti, err := s.putAudit(ev)
		if err != nil {
			return dsu.Partner{}, dsu.Account{}, dsu.PlanChange{}, err
		}
		record = append(record, ti)
	}
	res, err := s.change(ctx, balanceChange{
		partnerID:      p.ID,
		mutate:         mutate,
		extra:          func(dsu.Account, *dsu.Entry) []txItem { return record },
		checkUnchanged: s.checkAccount,
	})
	if err != nil {
		return dsu.Partner{}, dsu.Account{}, dsu.PlanChange{}, err
	}
	return p, res.Account, res.Plan, nil
}

// PartnerByCustomer finds the partner of a Stripe customer.
func (s *Store) PartnerByCustomer(ctx context.Context, customerID string) (dsu.Partner, error) {
	it, err := s.get(ctx, customerKey(customerID))
	if err != nil {
		return dsu.Partner{}, err
	}
	if it == nil {
		return dsu.Partner{}, dsu.Errorf(dsu.KindNotFound, "no partner for customer %s", customerID)
	}
	r := reader{it: it}
	return s.GetPartner(ctx, r.str("partnerId"))
}

// ChangeAccount applies mutate to the partner's account under optimistic
// concurrency (retried on conflicts) and returns the new state with what
// the stored mutation did to the plan.
func (s *Store) ChangeAccount(ctx context.Context, partnerID string, mutate dsu.AccountMutation) (dsu.Account, dsu.PlanChange, error) {
	res, err := s.change(ctx, balanceChange{partnerID: partnerID, mutate: mutate})
	return res.Account, res.Plan, err
}
