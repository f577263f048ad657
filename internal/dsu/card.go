package dsu

import (
	"slices"
	"time"
)

// The card rules (RULES.md, "Cards"): which SetupIntent may save a card,
// what happens to the card it replaces, and when a card expires. Storage
// applies them to the billing record as read and saves it under its
// version, so concurrent webhooks and requests decide on what is stored.

// SetupRef names the SetupIntent that saved a card and when Stripe created
// it: the order of SetupIntents is the order of their creation, not of
// their (retried, late) events.
type SetupRef struct {
	ID      string
	Created time.Time
}

// CardExpiringWindow is how long before its end a card counts as expiring
// soon: card.expiring is announced, and BillingInfo says so.
const CardExpiringWindow = 30 * 24 * time.Hour

// DetachRetryDelay is the wait before the sweep retries detaching a
// replaced card: long enough for the detach right after the replacement
// to finish first.
const DetachRetryDelay = 15 * time.Minute

// HasExpiry reports whether the card's expiry is known.
func (c Card) HasExpiry() bool {
	return c.ExpYear > 0 && c.ExpMonth >= 1 && c.ExpMonth <= 12
}

// ValidUntil is the first instant after the card's last valid day (the last
// day of its expiry month, UTC): the start of the following month.
func (c Card) ValidUntil() time.Time {
	return time.Date(c.ExpYear, time.Month(c.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)
}

// Expired reports whether the card's last valid day is over. A card whose
// expiry is unknown never counts as expired.
func (c Card) Expired(now time.Time) bool {
	return c.HasExpiry() && !now.Before(c.ValidUntil())
}

// ExpiresSoon reports whether the card's last valid day is within
// CardExpiringWindow, or past.
func (c Card) ExpiresSoon(now time.Time) bool {
	return c.HasExpiry() && !now.Before(c.ValidUntil().Add(-CardExpiringWindow))
}

// noticeAt is when the next expiry announcement of the card is due.
func (c Card) noticeAt() (time.Time, bool) {
	switch {
	case !c.HasExpiry():
		return time.Time{}, false
	case !c.ExpiringNoticed:
		return c.ValidUntil().Add(-CardExpiringWindow), true
	case !c.ExpiredNoticed:
		return c.ValidUntil(), true
	}
	return time.Time{}, false
}

// CardSweepAt is when the scheduled sweep must look at the billing record,
// and whether it must at all: a replaced card still to detach, or an
// expiry announcement due. Storage indexes exactly the records for which ok
// is true, so the sweep never reads the others.
func (p Partner) CardSweepAt() (at time.Time, ok bool) {
	if p.Card != nil {
		at, ok = p.Card.noticeAt()
	}
	if len(p.ReplacedCards) > 0 && (!ok || p.DetachRetryAt.Before(at)) {
		at, ok = p.DetachRetryAt, true
	}
	return at, ok
}

// SaveCard makes card the partner's card, saved by the SetupIntent setup,
// and returns the change of the account that belongs in the same write: a
// plan its card paused resumes (Account.ResumeForNewCard). Only the write
// that saves the card resumes the plan: the SetupIntent that saved the
// current card, seen again (Stripe resends setup_intent.succeeded, the
// portal retries PUT /v1/billing/card), is ErrNoChange with no resume, so
// a pause this card caused since (a decline, its expiry) stands.
// A card never replaces a newer one: a SetupIntent created no later than
// the one that saved the newest card (a late or retried event) changes
// nothing, and neither does a card that a newer one replaced
// (KindConflict). The card it replaces is remembered in ReplacedCards
// until it is detached; the sweep retries that from now + DetachRetryDelay.
func (p *Partner) SaveCard(card Card, setup SetupRef, now time.Time) (resume AccountMutation, err error) {
	if p.CardSetup != nil && p.CardSetup.ID == setup.ID {
		return nil, ErrNoChange
	}
	if slices.Contains(p.ReplacedCards, card.PaymentMethodID) {
		return nil, Errorf(KindConflict, "this card was replaced by a newer one; the partner's current card stays")
	}
	if p.CardSetup != nil && !setup.Created.After(p.CardSetup.Created) {
		return nil, Errorf(KindConflict, "a newer card was saved since this card setup started; the partner's current card stays")
	}
	card.ExpiringNoticed, card.ExpiredNoticed = false, false
	if old := p.Card; old != nil {
		if old.PaymentMethodID != card.PaymentMethodID {
			// Clipped: a copy of the record never shares what it appends.
			p.ReplacedCards = append(slices.Clip(p.ReplacedCards), old.PaymentMethodID)
			p.DetachRetryAt = now.UTC().Add(DetachRetryDelay)
		} else if old.ExpMonth == card.ExpMonth && old.ExpYear == card.ExpYear {
			// The same card again: what was announced for it stands.
			card.ExpiringNoticed, card.ExpiredNoticed = old.ExpiringNoticed, old.ExpiredNoticed
		}
	}
	p.Card, p.CardSetup = &card, &setup
	return (*Account).ResumeForNewCard, nil
}

// CardsDetached forgets the replaced cards that are detached at Stripe (or
// gone there); the others are retried after DetachRetryDelay. It reports
// whether the record changed: false when there was nothing to detach.
func (p *Partner) CardsDetached(detached []string, now time.Time) bool {
	if len(p.ReplacedCards) == 0 {
		return false
	}
	left := slices.DeleteFunc(slices.Clone(p.ReplacedCards), func(id string) bool { return slices.Contains(detached, id) })
	p.ReplacedCards = left
	if len(left) == 0 {
		p.ReplacedCards, p.DetachRetryAt = nil, time.Time{}
	} else {
		p.DetachRetryAt = now.UTC().Add(DetachRetryDelay)
	}
	return true
}

// RenewCard takes the details Stripe reports for the saved card after the
// issuer renewed it. A new expiry re-arms both expiry announcements.
// ErrNoChange when paymentMethodID is not the saved card or nothing changed.
func (p *Partner) RenewCard(paymentMethodID, brand, last4 string, expMonth, expYear int) (newExpiry bool, err error) {
	c := p.Card
	if c == nil || c.PaymentMethodID != paymentMethodID {
		return false, ErrNoChange
	}
	next := *c
	next.Brand, next.Last4, next.ExpMonth, next.ExpYear = brand, last4, expMonth, expYear
	newExpiry = next.ExpMonth != c.ExpMonth || next.ExpYear != c.ExpYear
	if newExpiry {
		next.ExpiringNoticed, next.ExpiredNoticed = false, false
	}
	if next == *c {
		return false, ErrNoChange
	}
	p.Card = &next
	return newExpiry, nil
}

// CardNotice is an announcement about the saved card's expiry.
type CardNotice string

const (
	CardExpiringNotice CardNotice = "expiring"
	CardExpiredNotice  CardNotice = "expired"
)

// NoteCardExpiry marks the expiry announcement due now as made and says
// which it is: expired once the last valid day is over (which also covers
// the expiring one), else expiring within CardExpiringWindow. Each is made
// once per card and expiry; ErrNoChange when none is due.
func (p *Partner) NoteCardExpiry(now time.Time) (CardNotice, error) {
	c := p.Card
	if c == nil {
		return "", ErrNoChange
	}
	next := *c
	var notice CardNotice
	switch {
	case c.Expired(now) && !c.ExpiredNoticed:
		next.ExpiringNoticed, next.ExpiredNoticed, notice = true, true, CardExpiredNotice
	case c.ExpiresSoon(now) && !c.ExpiringNoticed:
		next.ExpiringNoticed, notice = true, CardExpiringNotice
	default:
		return "", ErrNoChange
	}
	p.Card = &next
	return notice, nil
}
