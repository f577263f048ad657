package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/cirasync/dsubilling/internal/billingcontact"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// billingStore is the storage the billing use cases need.
type billingStore interface {
	GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error)
	GetAccount(ctx context.Context, partnerID string) (dsu.Account, error)
	SavePartner(ctx context.Context, p dsu.Partner, linkCustomer bool) (dsu.Partner, error)
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
}

// BillingInfo is the partner's billing record with its account.
type BillingInfo struct {
	Partner dsu.Partner
	Account dsu.Account
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
	return BillingInfo{Partner: p, Account: acc}, nil
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
		p.Contact, p.Address, p.VATID = &contact, &address, vat
		if currency != "" {
			p.Currency = currency
		}
		saved, err := b.Store.SavePartner(ctx, p, link)
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
// customer's default, resumes a plan the missing card paused, and detaches
// the card it replaces.
func (b *Billing) saveCard(ctx context.Context, p dsu.Partner, si SetupIntent) (BillingInfo, error) {
	// Another customer's SetupIntent is another partner's resource: 404.
	if p.StripeCustomerID == "" || si.CustomerID != p.StripeCustomerID ||
		(si.Metadata["partner_id"] != "" && si.Metadata["partner_id"] != p.ID) {
		return BillingInfo{}, dsu.Errorf(dsu.KindNotFound, "no such SetupIntent")
	}
	if si.Status != PISucceeded || si.PaymentMethodID == "" {
		return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "the card is not confirmed yet (SetupIntent status %s)", si.Status)
	}
	pm, err := b.Payments.GetPaymentMethod(ctx, si.PaymentMethodID)
	if err != nil {
		return BillingInfo{}, err
	}
	// A succeeded SetupIntent attached its card to its customer, checked
	// above. Since then the card may have moved to another customer, or
	// been detached because another card replaced it (a late
	// setup_intent.succeeded must not bring it back): both are refused.
	if pm.CustomerID != "" && pm.CustomerID != p.StripeCustomerID {
		return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "the card is not attached to this partner's customer")
	}
	if pm.CustomerID == "" && p.Card != nil && p.Card.PaymentMethodID != pm.ID {
		return BillingInfo{}, dsu.Errorf(dsu.KindConflict, "the card was detached; the partner's current card stays")
	}
	if err := b.Payments.SetDefaultPaymentMethod(ctx, p.StripeCustomerID, pm.ID); err != nil {
		return BillingInfo{}, err
	}
	card := &dsu.Card{PaymentMethodID: pm.ID, Brand: pm.Brand, Last4: pm.Last4, ExpMonth: pm.ExpMonth, ExpYear: pm.ExpYear}
	var replaced string
	p, err = b.updatePartner(ctx, p, func(p *dsu.Partner) bool {
		replaced = ""
		if p.Card != nil && *p.Card == *card {
			return false // saved before (the webhook and the portal both report it)
		}
		if p.Card != nil && p.Card.PaymentMethodID != pm.ID {
			replaced = p.Card.PaymentMethodID
		}
		p.Card = card
		return true
	})
	if err != nil {
		return BillingInfo{}, err
	}
	acc, _, err := b.Store.ChangeAccount(ctx, p.ID, (*dsu.Account).ResumeForNewCard)
	if err != nil {
		return BillingInfo{}, err
	}
	if replaced != "" {
		if err := b.Payments.DetachPaymentMethod(ctx, replaced); err != nil && !dsu.IsKind(err, dsu.KindNotFound) {
			b.Log.WarnContext(ctx, "the replaced card could not be detached; it stays on the Stripe customer", "partner", p.ID, "error", err.Error())
		}
	}
	b.Log.InfoContext(ctx, "card saved", "partner", p.ID, "brand", card.Brand)
	return BillingInfo{Partner: p, Account: acc}, nil
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
	p, err := b.updatePartner(ctx, p, func(p *dsu.Partner) bool {
		if p.Card == nil || p.Card.PaymentMethodID != paymentMethodID {
			return false
		}
		p.Card = nil
		return true
	})
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
	return BillingInfo{Partner: p, Account: acc}, nil
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
// renewed the card (new expiry or number); keep what is shown current.
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
	updated := dsu.Card{PaymentMethodID: pm.ID, Brand: pm.Brand, Last4: pm.Last4, ExpMonth: pm.ExpMonth, ExpYear: pm.ExpYear}
	_, err = b.updatePartner(ctx, p, func(p *dsu.Partner) bool {
		if p.Card == nil || p.Card.PaymentMethodID != pm.ID || *p.Card == updated {
			return false
		}
		p.Card = &updated
		return true
	})
	return err
}

// updatePartner applies change to the billing record and saves it; when
// another writer saved first, it reads the record again and reapplies the
// change. change reports whether there is anything to save.
func (b *Billing) updatePartner(ctx context.Context, p dsu.Partner, change func(*dsu.Partner) bool) (dsu.Partner, error) {
	for attempt := 1; ; attempt++ {
		if !change(&p) {
			return p, nil
		}
		saved, err := b.Store.SavePartner(ctx, p, false)
		if err == nil {
			return saved, nil
		}
		if !dsu.IsKind(err, dsu.KindConflict) || attempt == savePartnerAttempts {
			return dsu.Partner{}, err
		}
		if p, err = b.Store.GetPartner(ctx, p.ID); err != nil {
			return dsu.Partner{}, err
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
	}
	acc, _, err := b.Store.ChangeAccount(ctx, p.ID, func(a *dsu.Account) (dsu.PlanChange, error) {
		return a.ConfigurePlan(in, cat)
	})
	if err != nil {
		return BillingInfo{}, err
	}
	return BillingInfo{Partner: p, Account: acc}, nil
}
