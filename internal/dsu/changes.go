package dsu

import "errors"

// What must happen atomically with a purchase's move, for the store to do
// in one transaction.

// Errors of the store's UpdatePurchase: which condition failed. Callers
// re-read and decide.
var (
	// ErrPurchaseMoved: the purchase changed since it was read (another
	// version), is no longer in a status the update may start from, or
	// carries another PaymentIntent.
	ErrPurchaseMoved = errors.New("the purchase changed meanwhile")
	// ErrEventProcessed: the webhook event was processed before.
	ErrEventProcessed = errors.New("event already processed")
	// ErrPaymentIntentTaken: the PaymentIntent is linked to another purchase.
	ErrPaymentIntentTaken = errors.New("payment intent linked to another purchase")
)

// PurchaseUpdate is one forward move of a purchase and everything that must
// happen with it, atomically.
type PurchaseUpdate struct {
	// Purchase is the new state, built from the purchase as read: its
	// Version is the version read, which storage checks and increments.
	Purchase Purchase
	// From lists the statuses the stored purchase may be in; storage checks
	// it, so a late or duplicate event can never move a purchase back.
	From []PurchaseStatus
	// LinkPaymentIntent records Purchase.PaymentIntentID → purchase. The
	// stored purchase must then have no PaymentIntent or the same one.
	LinkPaymentIntent bool
	// Ledger applies an entry in the same transaction (a credit or debit).
	Ledger *LedgerChange
	// Account changes the partner's account in the same transaction.
	Account AccountMutation
	// EventID records the Stripe event that caused the update.
	EventID string
	// Complete stores the result of the Idempotency-Key claim that created
	// the purchase.
	Complete *IdempotencyCompletion
}

// IdempotencyCompletion is a claim and its encoded result.
type IdempotencyCompletion struct {
	Claim  IdempotencyClaim
	Result []byte
}

// UpdateResult tells what an update did.
type UpdateResult struct {
	Account Account
	// Plan is what the stored change did to the automated plan.
	Plan PlanChange
	// Applied is false when the update's ledger reference had been applied
	// before: then nothing at all was written.
	Applied bool
	Entry   Entry
}

// Page selects one page of a newest-first list (API.md, "Lists and
// pagination").
type Page struct {
	Limit  int    // 1–100; the HTTP layer validates it
	Cursor string // opaque, from a previous page's next cursor
}
