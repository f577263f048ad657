package app

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/billingcontact"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// billingStore is the storage the billing use cases need.
type billingStore interface {
	GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error)
	GetAccount(ctx context.Context, partnerID string) (dsu.Account, error)
	SavePartner(ctx context.Context, p dsu.Partner, linkCustomer bool, audits ...dsu.AuditEvent) (dsu.Partner, error)
	SavePartnerWithAccount(ctx context.Context, p dsu.Partner, mutate dsu.AccountMutation, audits ...dsu.AuditEvent) (dsu.Partner, dsu.Account, dsu.PlanChange, error)
	ChangeAccountAudited(ctx context.Context, partnerID string, mutate dsu.AccountMutation, audit func(before, after dsu.Account) *dsu.AuditEvent) (dsu.Account, dsu.PlanChange, error)
	ChangeAccount(ctx context.Context, partnerID string, mutate dsu.AccountMutation) (dsu.Account, dsu.PlanChange, error)
	PartnerByCustomer(ctx context.Context, customerID string) (dsu.Partner, error)
}

// billingPayments is what billing asks of the payment provider.
type billingPayments interface {
	CreateCustomer(ctx context.Context, in CustomerDetails) (string, error)
	UpdateCustomer(ctx context.Context, customerID string, in CustomerDetails) error
	CreateSetupIntent(ctx context.Context, customerID, partnerID, idempotencyKey string) (SetupIntent, error)
	GetSetupIntent(ctx context.Context, id string) (SetupIntent, error)
	GetPaymentMethod(ctx context.Context, id string) (PaymentMethod, error)
	SetDefaultPaymentMethod(ctx context.Context, customerID, paymentMethodID string) error
	DetachPaymentMethod(ctx context.Context, paymentMethodID string) error
}

// Billing is the partner's "Billing info" (API.md, the /v1/billing routes): contact
// and address, the card, and the automated plan's settings.
type Billing struct {
	Store    billingStore
	Payments billingPayments
	Catalog  catalogSource
	IDs      dsu.IDGenerator
	Events   Publisher
	Log      *slog.Logger
	// Clock tells card expiry; nil means the system clock.
	Clock dsu.Clock
}

// BillingInfo is the partner's billing record with its account.
type BillingInfo struct {
	Partner dsu.Partner
	Account dsu.Account
	// CardExpiresSoon: the saved card's last valid day is within 30 days,
	// or past (dsu.Card.ExpiresSoon).
	CardExpiresSoon bool
}

func (b *Billing) now() time.Time {
	if b.Clock == nil {
		return dsu.SystemClock{}.Now()
	}
	return b.Clock.Now()
}

// infoOf is the billing info of a record and its account, now.
func (b *Billing) infoOf(p dsu.Partner, acc dsu.Account) BillingInfo {
	return BillingInfo{Partner: p, Account: acc, CardExpiresSoon: p.Card != nil && p.Card.ExpiresSoon(b.now())}
}

// savePartnerAttempts bounds retries of a billing-record update that lost a
// race with another writer (a concurrent purchase, a webhook).
const savePartnerAttempts = 4

// Info is the billing record as the partner sees it: the record the request
// already resolved plus one account read.
func (b *Billing) Info(ctx context.Context, p dsu.Partner) (BillingInfo, error) {
	acc, err := b.Store.GetAccount(ctx, p.ID)
	if err != nil {
		return BillingInfo{}, err
	}
	return b.infoOf(p, acc), nil
}

// ContactInput is a PUT /v1/billing/contact body.
type ContactInput struct {
	Contact  *dsu.Contact
	Address  *dsu.Address
	VATID    string
	Currency *string
}

// UpdateContact validates and saves the billing contact and address, and
// creates or updates the partner's one Stripe customer. Stripe is called
// before anything is stored, so a Stripe outage leaves nothing half-written.
func (b *Billing) UpdateContact(ctx context.Context, p dsu.Partner, in ContactInput) (BillingInfo, error) {
	contact, address, vat, verr := billingcontact.Normalize(in.Contact, in.Address, in.VATID)
	var v dsu.Validation
	if e, ok := errors.AsType[*dsu.Error](verr); ok {
		for _, f := range e.Fields {
			v.Add(f.Field, f.Message)
		}
	} else if verr != nil {
		return BillingInfo{}, verr
	}
	var currency dsu.Currency
	if in.Currency != nil {
		c, err := dsu.ParseCurrency(strings.ToLower(strings.TrimSpace(*in.Currency)))
		v.Check(err == nil, "currency", "must be usd or eur")
		currency = c
	}
	if err := v.Err(); err != nil {
		return BillingInfo{}, err
	}
	details := CustomerDetails{PartnerID: p.ID, Name: contact.Name, Email: contact.Email, Phone: contact.Phone, Address: address, VATID: vat}

	for attempt := 1; ; attempt++ {
		if currency != "" && currency != p.Currency && p.FirstPurchaseAt != nil {
			return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "the billing currency can change only before the first purchase")
		}
		link := false
		if p.StripeCustomerID == "" {
			// The adapter's idempotency key (customer:<partner>) makes a
			// retried creation return the same customer: one per partner.
			// The creation carries only the partner id, so a retry with
			// corrected details reuses the key with the same parameters
			// (Stripe refuses a key reused with others); the details follow
			// in the update.
			id, err := b.Payments.CreateCustomer(ctx, CustomerDetails{PartnerID: p.ID})
			if err != nil {
				return BillingInfo{}, err
			}
			p.StripeCustomerID, link = id, true
		}
		if err := b.Payments.UpdateCustomer(ctx, p.StripeCustomerID, details); err != nil {
			return BillingInfo{}, err
		}
		before := p
		p.Contact, p.Address, p.VATID = &contact, &address, vat
		if currency != "" {
			p.Currency = currency
		}
		var audits []dsu.AuditEvent
		if fields := dsu.ChangedContactFields(before, p); len(fields) > 0 {
			audits = append(audits, auditEvent(ctx, p.ID, dsu.AuditContactUpdated, map[string]any{"fields": fields}))
		}
		saved, err := b.Store.SavePartner(ctx, p, link, audits...)
		if err == nil {
			return b.Info(ctx, saved)
		}
		if !dsu.IsKind(err, dsu.KindConflict) || attempt == savePartnerAttempts {
			return BillingInfo{}, err
		}
		if p, err = b.Store.GetPartner(ctx, p.ID); err != nil {
			return BillingInfo{}, err
		}
	}
}

// CardSetup is a SetupIntent the portal confirms with Stripe Elements.
type CardSetup struct {
	SetupIntentID string
	ClientSecret  string
}

// StartCardSetup creates a SetupIntent (off-session usage) for the
// partner's customer. The card never reaches this system.
func (b *Billing) StartCardSetup(ctx context.Context, p dsu.Partner) (CardSetup, error) {
	if p.Contact == nil || p.StripeCustomerID == "" {
		return CardSetup{}, dsu.Errorf(dsu.KindContactRequired, "save a billing contact and address before adding a card")
	}
	si, err := b.Payments.CreateSetupIntent(ctx, p.StripeCustomerID, p.ID, "setupintent:"+p.ID+":"+b.IDs.NewID("req_"))
	if err != nil {
		return CardSetup{}, err
	}
	return CardSetup{SetupIntentID: si.ID, ClientSecret: si.ClientSecret}, nil
}

// SaveCard saves the card of a SetupIntent the portal confirmed (PUT
// /v1/billing/card).
func (b *Billing) SaveCard(ctx context.Context, p dsu.Partner, setupIntentID string) (BillingInfo, error) {
	if setupIntentID == "" || !strings.HasPrefix(setupIntentID, "seti_") || len(setupIntentID) > 255 {
		return BillingInfo{}, dsu.InvalidField("setupIntentId", "must be the id of a SetupIntent (seti_...)")
	}
	si, err := b.Payments.GetSetupIntent(ctx, setupIntentID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		return BillingInfo{}, dsu.Errorf(dsu.KindNotFound, "no such SetupIntent")
	}
	if err != nil {
		return BillingInfo{}, err
	}
	return b.saveCard(ctx, p, si)
}

// SaveCardFromSetupIntent is the setup_intent.succeeded webhook's path to
// the same result, so the card is saved even if the portal never calls PUT
// /v1/billing/card.
func (b *Billing) SaveCardFromSetupIntent(ctx context.Context, si SetupIntent) error {
	p, err := b.partnerOfSetupIntent(ctx, si)
	if err != nil {
		return err
	}
	_, err = b.saveCard(ctx, p, si)
	return err
}

func (b *Billing) partnerOfSetupIntent(ctx context.Context, si SetupIntent) (dsu.Partner, error) {
	if id := si.Metadata["partner_id"]; id != "" {
		return b.Store.GetPartner(ctx, id)
	}
	if si.CustomerID == "" {
		return dsu.Partner{}, dsu.Errorf(dsu.KindNotFound, "setup intent %s names no partner or customer", si.ID)
	}
	return b.Store.PartnerByCustomer(ctx, si.CustomerID)
}

// saveCard stores brand, last4 and expiry of the SetupIntent's card once
// Stripe reports it succeeded for this partner's customer, makes it the
// customer's default, resumes a plan its card paused (in the same write),
// and detaches the card it replaces. A card never replaces a newer one
// (RULES.md, "Cards"): a SetupIntent created no later than the one that
// saved the newest card changes nothing at Stripe or here. The SetupIntent
// that saved the current card, seen again, only finishes the detaching.
func (b *Billing) saveCard(ctx context.Context, p dsu.Partner, si SetupIntent) (BillingInfo, error) {
	// Another customer's SetupIntent is another partner's resource: 404.
	if p.StripeCustomerID == "" || si.CustomerID != p.StripeCustomerID ||
		(si.Metadata["partner_id"] != "" && si.Metadata["partner_id"] != p.ID) {
		return BillingInfo{}, dsu.Errorf(dsu.KindNotFound, "no such SetupIntent")
	}
	if si.Status != PISucceeded || si.PaymentMethodID == "" {
		return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "the card is not confirmed yet (SetupIntent status %s)", si.Status)
	}
	if si.Created.IsZero() {
		// An event rendered without it: Stripe's API always has it.
		fresh, err := b.Payments.GetSetupIntent(ctx, si.ID)
		if err != nil {
			return BillingInfo{}, err
		}
		if si.Created = fresh.Created; si.Created.IsZero() {
			return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "Stripe reports no creation time for SetupIntent %s; the card is not saved", si.ID)
		}
	}
	setup := dsu.SetupRef{ID: si.ID, Created: si.Created.UTC()}
	now := b.now()
	// Decided on the record as read before anything is asked of Stripe, and
	// again on the record as saved below: a late or retried SetupIntent
	// never makes its card the default and never detaches the newer one.
	probe := p
	switch _, err := probe.SaveCard(dsu.Card{PaymentMethodID: si.PaymentMethodID}, setup, now); {
	case errors.Is(err, dsu.ErrNoChange):
		return b.cardSavedBefore(ctx, p)
	case err != nil:
		b.Log.WarnContext(ctx, "card not saved: a newer card stays", "partner", p.ID, "setupIntent", si.ID)
		return BillingInfo{}, err
	}
	pm, err := b.Payments.GetPaymentMethod(ctx, si.PaymentMethodID)
	if err != nil {
		return BillingInfo{}, err
	}
	// A succeeded SetupIntent attached its card to its customer, checked
	// above. Since then the card may have moved to another customer, or
	// been detached because another card replaced it: both are refused.
	if pm.CustomerID != "" && pm.CustomerID != p.StripeCustomerID {
		return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "the card is not attached to this partner's customer")
	}
	if pm.CustomerID == "" && p.Card != nil && p.Card.PaymentMethodID != pm.ID {
		return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "the card was detached; the partner's current card stays")
	}
	if err := b.Payments.SetDefaultPaymentMethod(ctx, p.StripeCustomerID, pm.ID); err != nil {
		return BillingInfo{}, err
	}
	card := dsu.Card{PaymentMethodID: pm.ID, Brand: pm.Brand, Last4: pm.Last4, ExpMonth: pm.ExpMonth, ExpYear: pm.ExpYear}
	saved, acc, err := b.storeCard(ctx, p, card, setup, now)
	switch {
	case errors.Is(err, dsu.ErrNoChange):
		// A concurrent request or event saved it first (and resumed).
		return b.cardSavedBefore(ctx, saved)
	case dsu.IsKind(err, dsu.KindConflict):
		// A newer card was saved meanwhile: it stays Stripe's default.
		b.restoreDefault(ctx, saved)
		return BillingInfo{}, err
	case err != nil:
		return BillingInfo{}, err
	}
	b.Log.InfoContext(ctx, "card saved", "partner", p.ID, "brand", card.Brand)
	return b.infoOf(b.detachReplaced(ctx, saved), acc), nil
}

// storeCard saves the card on the billing record and, in the same write,
// resumes a plan its card paused (dsu.Partner.SaveCard decides both): a
// crash never leaves the card saved and the plan paused for it, and a
// card saved already never resumes anything (RULES.md, "Cards"). On a
// concurrent write of the record it reads the record again and decides
// again; the rule's refusal (ErrNoChange, KindConflict) comes back with the
// record as last read.
func (b *Billing) storeCard(ctx context.Context, p dsu.Partner, card dsu.Card, setup dsu.SetupRef, now time.Time) (dsu.Partner, dsu.Account, error) {
	audit := cardAudit(ctx)
	for attempt := 1; ; attempt++ {
		next := p
		resume, err := next.SaveCard(card, setup, now)
		if err != nil {
			return p, dsu.Account{}, err
		}
		var audits []dsu.AuditEvent
		if ev := audit(p, next); ev != nil {
			audits = append(audits, *ev)
		}
		saved, acc, _, err := b.Store.SavePartnerWithAccount(ctx, next, resume, audits...)
		if err == nil {
			return saved, acc, nil
		}
		if !dsu.IsKind(err, dsu.KindConflict) || attempt == savePartnerAttempts {
			return dsu.Partner{}, dsu.Account{}, err
		}
		if p, err = b.Store.GetPartner(ctx, p.ID); err != nil {
			return dsu.Partner{}, dsu.Account{}, err
		}
	}
}

// cardSavedBefore answers a retried request or event of a card saved
// already: it finishes detaching the cards that card replaced (a no-op
// once done) and leaves the plan alone. The plan resumed in the write that
// saved the card; a pause since then is the card's own (a decline, its
// expiry), and lifting it would charge that card again.
func (b *Billing) cardSavedBefore(ctx context.Context, p dsu.Partner) (BillingInfo, error) {
	acc, err := b.Store.GetAccount(ctx, p.ID)
	if err != nil {
		return BillingInfo{}, err
	}
	return b.infoOf(b.detachReplaced(ctx, p), acc), nil
}

// restoreDefault makes the saved card Stripe's default again after a
// concurrent, older card was made default and then refused. Charges name
// their card explicitly, so a failure here is logged, not fatal.
func (b *Billing) restoreDefault(ctx context.Context, p dsu.Partner) {
	if p.Card == nil || p.StripeCustomerID == "" {
		return
	}
	if err := b.Payments.SetDefaultPaymentMethod(ctx, p.StripeCustomerID, p.Card.PaymentMethodID); err != nil {
		b.Log.WarnContext(ctx, "could not make the saved card Stripe's default again", "partner", p.ID, "error", err.Error())
	}
}

// detachReplaced detaches at Stripe the cards newer ones replaced. Those
// detached (or gone) are forgotten; the others stay on the billing record,
// where the sweep finds them after dsu.DetachRetryDelay (RULES.md,
// "Cards"). It never fails the caller: what could not be done is retried.
func (b *Billing) detachReplaced(ctx context.Context, p dsu.Partner) dsu.Partner {
	if len(p.ReplacedCards) == 0 {
		return p
	}
	var detached []string
	for _, id := range p.ReplacedCards {
		if b.detach(ctx, p, id) {
			detached = append(detached, id)
		}
	}
	now := b.now()
	saved, err := b.updatePartner(ctx, p, func(p *dsu.Partner) bool { return p.CardsDetached(detached, now) })
	if err != nil {
		b.Log.WarnContext(ctx, "could not record the replaced cards detached; they are detached again later", "partner", p.ID, "error", err.Error())
		return p
	}
	return saved
}

// detach detaches a replaced card and reports whether it is off the
// partner's customer now.
func (b *Billing) detach(ctx context.Context, p dsu.Partner, paymentMethodID string) bool {
	err := b.Payments.DetachPaymentMethod(ctx, paymentMethodID)
	if err == nil || dsu.IsKind(err, dsu.KindNotFound) {
		return true
	}
	if !dsu.IsKind(err, dsu.KindUpstreamUnavailable) {
		// Refused (not attached any more, say): what matters is whether
		// the card is still on the partner's customer.
		if pm, gerr := b.Payments.GetPaymentMethod(ctx, paymentMethodID); dsu.IsKind(gerr, dsu.KindNotFound) ||
			(gerr == nil && pm.CustomerID != p.StripeCustomerID) {
			return true
		}
	}
	b.Log.WarnContext(ctx, "a replaced card could not be detached; it is retried", "partner", p.ID, "error", err.Error())
	return false
}

// DeleteCard detaches the card at Stripe and forgets it; an active plan
// pauses with card_missing.
func (b *Billing) DeleteCard(ctx context.Context, p dsu.Partner) (BillingInfo, error) {
	if p.Card == nil {
		return b.Info(ctx, p)
	}
	if err := b.Payments.DetachPaymentMethod(ctx, p.Card.PaymentMethodID); err != nil && !dsu.IsKind(err, dsu.KindNotFound) {
		return BillingInfo{}, err
	}
	return b.forgetCard(ctx, p, p.Card.PaymentMethodID)
}

// forgetCard removes the card from the billing record (if it is still
// that card) and pauses the plan.
func (b *Billing) forgetCard(ctx context.Context, p dsu.Partner, paymentMethodID string) (BillingInfo, error) {
	now := b.now()
	p, err := b.updatePartnerAudited(ctx, p, func(p *dsu.Partner) bool {
		if slices.Contains(p.ReplacedCards, paymentMethodID) {
			// A replaced card Stripe reports detached: nothing left to retry.
			return p.CardsDetached([]string{paymentMethodID}, now)
		}
		if p.Card == nil || p.Card.PaymentMethodID != paymentMethodID {
			return false
		}
		p.Card = nil
		return true
	}, cardAudit(ctx))
	if err != nil {
		return BillingInfo{}, err
	}
	if p.Card != nil {
		// Another card is saved: the detached one was replaced (saveCard
		// detaches the card it replaces, and Stripe reports that too). The
		// plan keeps charging the new card.
		return b.Info(ctx, p)
	}
	acc, change, err := b.Store.ChangeAccount(ctx, p.ID, func(a *dsu.Account) (dsu.PlanChange, error) {
		return a.Pause(dsu.PausedCardMissing)
	})
	if err != nil {
		return BillingInfo{}, err
	}
	if change.Paused != "" { // once, not again for the webhook that reports the same detach
		b.Events.Publish(ctx, DomainEvent{Type: EventAutoRefillPaused, PartnerID: p.ID, Reason: string(change.Paused)})
	}
	return b.infoOf(p, acc), nil
}

// CardDetached handles payment_method.detached: when the partner's saved
// card was detached at Stripe (by the Dashboard, say), forget it too.
func (b *Billing) CardDetached(ctx context.Context, pm PaymentMethod, previousCustomerID string) error {
	customer := pm.CustomerID
	if customer == "" {
		customer = previousCustomerID
	}
	if customer == "" {
		return nil
	}
	p, err := b.Store.PartnerByCustomer(ctx, customer)
	if dsu.IsKind(err, dsu.KindNotFound) {
		return nil // not one of ours
	}
	if err != nil {
		return err
	}
	_, err = b.forgetCard(ctx, p, pm.ID)
	return err
}

// CardUpdated handles payment_method.automatically_updated: the issuer
// renewed the card (new expiry or number); keep what is shown current. A
// new expiry re-arms the expiry announcements, and a card no longer expired
// resumes a plan paused for card_expired (RULES.md, "Cards").
func (b *Billing) CardUpdated(ctx context.Context, pm PaymentMethod) error {
	if pm.CustomerID == "" {
		return nil
	}
	p, err := b.Store.PartnerByCustomer(ctx, pm.CustomerID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	p, err = b.updatePartnerAudited(ctx, p, func(p *dsu.Partner) bool {
		_, err := p.RenewCard(pm.ID, pm.Brand, pm.Last4, pm.ExpMonth, pm.ExpYear)
		return err == nil
	}, cardAudit(ctx))
	if err != nil {
		return err
	}
	if c := p.Card; c != nil && c.PaymentMethodID == pm.ID && !c.Expired(b.now()) {
		// Also when the event is delivered again after a crash: resuming a
		// plan that is not paused card_expired changes nothing.
		if _, _, err := b.Store.ChangeAccount(ctx, p.ID, (*dsu.Account).ResumeForRenewedCard); err != nil {
			return err
		}
	}
	b.detachReplaced(ctx, p)
	return nil
}

// SweepCard does the card work the sweep found due on a partner's billing
// record (RULES.md, "Reconciliation and the sweep"): detaching replaced
// cards whose detach failed, and announcing a card that expires within 30
// days (card.expiring) or has expired (card.expired), each once. An expired
// card pauses an active plan (card_expired) before it is announced, so a
// crash in between announces at the next sweep and never skips the pause.
func (b *Billing) SweepCard(ctx context.Context, partnerID string) error {
	p, err := b.Store.GetPartner(ctx, partnerID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := b.now()
	if at, ok := p.CardSweepAt(); !ok || now.Before(at) {
		return nil // the index lagged a write that settled it
	}
	if len(p.ReplacedCards) > 0 && !now.Before(p.DetachRetryAt) {
		p = b.detachReplaced(ctx, p)
	}
	if p.Card == nil {
		return nil
	}
	if p.Card.Expired(now) && !p.Card.ExpiredNoticed {
		_, change, err := b.Store.ChangeAccount(ctx, p.ID, func(a *dsu.Account) (dsu.PlanChange, error) {
			return a.Pause(dsu.PausedCardExpired)
		})
		if err != nil {
			return err
		}
		if change.Paused != "" {
			b.Events.Publish(ctx, DomainEvent{Type: EventAutoRefillPaused, PartnerID: p.ID, Reason: string(change.Paused), At: now})
		}
	}
	_, notice, err := changePartner(ctx, b, p, func(p *dsu.Partner) (dsu.CardNotice, bool) {
		n, err := p.NoteCardExpiry(now)
		return n, err == nil
	}, nil)
	if err != nil {
		return err
	}
	switch notice {
	case dsu.CardExpiringNotice:
		b.Log.InfoContext(ctx, "card expiring", "partner", p.ID)
		b.Events.Publish(ctx, DomainEvent{Type: EventCardExpiring, PartnerID: p.ID, At: now})
	case dsu.CardExpiredNotice:
		b.Log.WarnContext(ctx, "card expired", "partner", p.ID)
		b.Events.Publish(ctx, DomainEvent{Type: EventCardExpired, PartnerID: p.ID, At: now})
	}
	return nil
}

// partnerAudit builds the audit event of a change of the billing record
// from the record before and after it; nil when it is not worth recording.
type partnerAudit func(before, after dsu.Partner) *dsu.AuditEvent

// cardAudit records a change of the saved card: card.saved with the new
// card's brand and last 4 digits, card.removed with the removed one's.
// Nothing is recorded when the card stays the same card.
func cardAudit(ctx context.Context) partnerAudit {
	return func(before, after dsu.Partner) *dsu.AuditEvent {
		switch {
		case after.Card != nil && (before.Card == nil || *before.Card != *after.Card):
			ev := auditEvent(ctx, after.ID, dsu.AuditCardSaved, map[string]any{"brand": after.Card.Brand, "last4": after.Card.Last4})
			return &ev
		case after.Card == nil && before.Card != nil:
			ev := auditEvent(ctx, after.ID, dsu.AuditCardRemoved, map[string]any{"brand": before.Card.Brand, "last4": before.Card.Last4})
			return &ev
		}
		return nil
	}
}

// updatePartner applies change to the billing record and saves it; when
// another writer saved first, it reads the record again and reapplies the
// change. change reports whether there is anything to save.
func (b *Billing) updatePartner(ctx context.Context, p dsu.Partner, change func(*dsu.Partner) bool) (dsu.Partner, error) {
	return b.updatePartnerAudited(ctx, p, change, nil)
}

// updatePartnerAudited is updatePartner that records, in the same write,
// the audit event audit builds from the record before and after the change
// that is saved.
func (b *Billing) updatePartnerAudited(ctx context.Context, p dsu.Partner, change func(*dsu.Partner) bool, audit partnerAudit) (dsu.Partner, error) {
	saved, _, err := changePartner(ctx, b, p, func(p *dsu.Partner) (struct{}, bool) { return struct{}{}, change(p) }, audit)
	return saved, err
}

// changePartner runs change on the billing record and saves what it
// edited (when it reports a change), with the audit event audit builds;
// on a concurrent write it reads the record again and runs change again.
// It returns the record as saved (or as last read when nothing was saved)
// and what change decided in that last run: a retried change hands its
// result back instead of setting variables of its caller.
func changePartner[T any](ctx context.Context, b *Billing, p dsu.Partner, change func(*dsu.Partner) (T, bool), audit partnerAudit) (dsu.Partner, T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		before := p
		decided, changed := change(&p)
		if !changed {
			return p, decided, nil
		}
		var audits []dsu.AuditEvent
		if audit != nil {
			if ev := audit(before, p); ev != nil {
				audits = append(audits, *ev)
			}
		}
		saved, err := b.Store.SavePartner(ctx, p, false, audits...)
		if err == nil {
			return saved, decided, nil
		}
		if !dsu.IsKind(err, dsu.KindConflict) || attempt == savePartnerAttempts {
			return dsu.Partner{}, zero, err
		}
		if p, err = b.Store.GetPartner(ctx, p.ID); err != nil {
			return dsu.Partner{}, zero, err
		}
	}
}

// UpdateAutoRefill validates and saves the plan's settings. Enabling needs
// a contact and a card; enabling (or re-enabling a paused plan) while the
// balance is at or below the threshold starts a refill: the account write
// reaches the autorefill function through the stream, and the sweep index
// marks it due. The rules themselves are dsu.Account.ConfigurePlan's.
func (b *Billing) UpdateAutoRefill(ctx context.Context, p dsu.Partner, in dsu.PlanSettings) (BillingInfo, error) {
	cat, err := b.Catalog.Catalog(ctx)
	if err != nil {
		return BillingInfo{}, err
	}
	if err := in.Validate(cat); err != nil {
		return BillingInfo{}, err
	}
	if in.Enabled {
		if p.Contact == nil {
			return BillingInfo{}, dsu.Errorf(dsu.KindContactRequired, "the automated plan needs a billing contact and address")
		}
		if p.Card == nil {
			return BillingInfo{}, dsu.Errorf(dsu.KindPaymentMethodRequired, "the automated plan needs a saved card")
		}
		if p.Card.Expired(b.now()) {
			// Enabled, it would only pause card_expired before its first charge.
			return BillingInfo{}, dsu.Errorf(dsu.KindPaymentMethodRequired, "the saved card has expired; save a new card to enable the automated plan")
		}
	}
	acc, _, err := b.Store.ChangeAccountAudited(ctx, p.ID, func(a *dsu.Account) (dsu.PlanChange, error) {
		return a.ConfigurePlan(in, cat)
	}, func(before, after dsu.Account) *dsu.AuditEvent {
		was, is := planSettingsOf(before), planSettingsOf(after)
		if maps.Equal(was, is) {
			return nil // saved as it was: nothing changed
		}
		ev := auditEvent(ctx, p.ID, dsu.AuditAutoRefillUpdated, map[string]any{"before": was, "after": is})
		return &ev
	})
	if err != nil {
		return BillingInfo{}, err
	}
	return b.infoOf(p, acc), nil
}

// planSettingsOf is what the audit log shows of the automated plan.
func planSettingsOf(a dsu.Account) map[string]any {
	ar := a.AutoRefill
	status := string(ar.Status)
	if status == "" {
		status = string(dsu.AutoRefillOff)
	}
	return map[string]any{"enabled": ar.Enabled, "packageId": ar.PackageID, "threshold": ar.Threshold,
		"monthlyLimit": ar.MonthlyLimit, "status": status}
}
