package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/cirasync/dsubilling/internal/dsu"
)

func entryItem(e dsu.Entry) item {
	it := withKey(item{}, key(partnerPK(e.PartnerID), ledgerSK(e.Seq)))
	it[AttrType] = avS(typeLedger)
	it["partnerId"] = avS(e.PartnerID)
	it["id"] = avS(e.ID)
	setN(it, "seq", e.Seq)
	it["entryType"] = avS(string(e.Type))
	setN(it, "units", e.Units)
	setN(it, "balanceAfter", e.BalanceAfter)
	it["reference"] = avS(e.Reference)
	setS(it, "description", e.Description)
	setTime(it, "createdAt", e.CreatedAt)
	return it
}

// guardItem marks a reference as applied and keeps the entry it produced, so
// a repeated application can answer with the first result.
func guardItem(e dsu.Entry) item {
	it := entryItem(e)
	withKey(it, refKey(e.PartnerID, e.Reference))
	it[AttrType] = avS(typeRef)
	return it
}

func decodeEntry(it item) (dsu.Entry, error) {
	r := reader{it: it}
	e := dsu.Entry{
		ID:           r.str("id"),
		PartnerID:    r.str("partnerId"),
		Seq:          r.num("seq"),
		Type:         dsu.EntryType(r.str("entryType")),
		Units:        r.num("units"),
		BalanceAfter: r.num("balanceAfter"),
		Reference:    r.str("reference"),
		Description:  r.str("description"),
		CreatedAt:    r.time("createdAt"),
	}
	if r.err != nil {
		return dsu.Entry{}, fmt.Errorf("ledger entry %s: %w", e.ID, r.err)
	}
	return e, nil
}

// balanceChange is one atomic change of a partner's account: optionally a
// ledger entry, optionally a change of the plan's state, and optionally other
// items that must be written in the same transaction.
type balanceChange struct {
	partnerID string
	entry     *dsu.LedgerChange
	// mutate changes the account as read; it runs again on every retry,
	// and the result of the attempt that was stored is returned. An error
	// other than dsu.ErrNoChange aborts the change and is returned as is.
	mutate dsu.AccountMutation
	// extra builds items written in the same transaction, after the guard.
	// A failed condition on one of them ends the change with that item's
	// failure.
	extra func(acc dsu.Account, e *dsu.Entry) []txItem
	// audit builds the audit event of the change from the account before
	// and after it (and the entry, if any); it is written in the same
	// transaction, and only when something is written.
	audit func(before, after dsu.Account, e *dsu.Entry) *dsu.AuditEvent
	// checkUnchanged, when set, is the item that stands for the account
	// when mutate reports dsu.ErrNoChange and there is no entry: a check
	// under its version instead of a write, so the extras are still
	// decided on the account as it stands. (A value, not a flag: only the
	// callers that set it need IAM's ConditionCheckItem.)
	checkUnchanged func(dsu.Account) txItem
}

// changeResult is what a balance change did.
type changeResult struct {
	Account dsu.Account
	Entry   dsu.Entry
	// Applied is false when the entry's reference had been applied before;
	// Entry is then the first application's entry and nothing was written.
	Applied bool
	// Plan is what the stored mutation did to the automated plan.
	Plan dsu.PlanChange
}

// change applies c with optimistic concurrency: read the account, compute
// its next state, and write entry, guard, extras and account in one
// transaction conditioned on the version read. One read and one transaction
// when nobody races; a lost race retries from the read.
func (s *Store) change(ctx context.Context, c balanceChange) (changeResult, error) {
	if c.entry != nil {
		if err := c.entry.Validate(); err != nil {
			return changeResult{}, dsu.Wrap(err, dsu.KindInternal, "invalid ledger change")
		}
	}
	for attempt := 1; ; attempt++ {
		res, retry, err := s.tryChange(ctx, c)
		if !retry {
			return res, err
		}
		if attempt >= s.opts.MaxAttempts {
			return changeResult{}, dsu.Wrap(err, dsu.KindUpstreamUnavailable, "the balance is too busy; try again")
		}
		if err := backoff(ctx, attempt); err != nil {
			return changeResult{}, storageErr(err, "balance change")
		}
	}
}

func (s *Store) tryChange(ctx context.Context, c balanceChange) (res changeResult, retry bool, err error) {
	acc, err := s.GetAccount(ctx, c.partnerID)
	if err != nil {
		return changeResult{}, false, err
	}
	now := s.now()
	next := acc
	var plan dsu.PlanChange
	unchanged := false
	if c.mutate != nil {
		plan, err = c.mutate(&next)
		switch {
		case errors.Is(err, dsu.ErrNoChange) && c.entry == nil && c.extra == nil:
			// Nothing to write, not even the audit of a change that did
			// not happen.
			return changeResult{Account: acc}, false, nil
		case errors.Is(err, dsu.ErrNoChange):
			// The plan stays as it is; the entry and extras still apply.
			next, plan, unchanged = acc, dsu.PlanChange{}, true
		case err != nil:
			return changeResult{}, false, err
		}
	}
	next.Version++
	next.UpdatedAt = now

	var items []txItem
	var entry *dsu.Entry
	if c.entry != nil {
		units, ok := dsu.AddInt(next.Units, c.entry.Units)
		if !ok {
			return changeResult{}, false, dsu.Errorf(dsu.KindInternal, "balance overflow")
		}
		next.Units = units
		next.LedgerSeq++
		entry = &dsu.Entry{
			ID: s.opts.IDs.NewID("le_"), PartnerID: c.partnerID, Seq: next.LedgerSeq,
			Type: c.entry.Type, Units: c.entry.Units, BalanceAfter: units,
			Reference: c.entry.Reference, Description: c.entry.Description, CreatedAt: now,
		}
		items = append(items, s.putNew(guardItem(*entry), errApplied))
	}
	if c.extra != nil {
		items = append(items, c.extra(next, entry)...)
	}
	if c.audit != nil {
		if ev := c.audit(acc, next, entry); ev != nil {
			ti, err := s.putAudit(*ev)
			if err != nil {
				return changeResult{}, false, err
			}
			items = append(items, ti)
		}
	}
	if entry != nil {
		if marker, ok := monthMarker(acc, &next, *entry); ok {
			items = append(items, s.putNew(marker, errStale))
		}
		items = append(items, s.putNew(entryItem(*entry), errStale))
	}
	if unchanged && entry == nil && c.checkUnchanged != nil {
		next = acc
		items = append(items, c.checkUnchanged(acc))
	} else {
		items = append(items, s.putAccount(next, acc.Version))
	}

	err = s.transact(ctx, "balance change", items)
	switch {
	case err == nil:
		res = changeResult{Account: next, Applied: true, Plan: plan}
		if entry != nil {
			res.Entry = *entry
		}
		return res, false, nil
	case errors.Is(err, errApplied):
		first, err := s.appliedEntry(ctx, c.partnerID, c.entry.Reference)
		return changeResult{Account: acc, Entry: first}, false, err
	case errors.Is(err, errStale), errors.Is(err, errTxConflict):
		// The account (or the entry's sequence number) moved on, or the
		// transaction collided with another: read again and retry.
		return changeResult{}, true, err
	}
	return changeResult{Account: acc}, false, err
}

// appliedEntry returns the entry a reference produced when first applied.
func (s *Store) appliedEntry(ctx context.Context, partnerID, reference string) (dsu.Entry, error) {
	it, err := s.get(ctx, refKey(partnerID, reference))
	if err != nil {
		return dsu.Entry{}, err
	}
	if it == nil {
		return dsu.Entry{}, dsu.Errorf(dsu.KindInternal, "reference %s reported applied but has no record", reference)
	}
	return decodeEntry(it)
}

// ApplyLedger applies one ledger change exactly once per reference: the
// entry, the reference's guard and the new balance in one transaction.
// When the reference was applied before, it writes nothing and returns the
// first entry with applied = false.
func (s *Store) ApplyLedger(ctx context.Context, change dsu.LedgerChange) (dsu.Entry, bool, error) {
	res, err := s.change(ctx, balanceChange{partnerID: change.PartnerID, entry: &change})
	if err != nil {
		return dsu.Entry{}, false, err
	}
	return res.Entry, res.Applied, nil
}

// Ledger lists a partner's entries newest first.
func (s *Store) Ledger(ctx context.Context, partnerID string, page Page) ([]dsu.Entry, string, error) {
	items, next, err := s.list(ctx, partnerID, skLedgerPrefix, "ledger", page)
	if err != nil {
		return nil, "", err
	}
	out := make([]dsu.Entry, 0, len(items))
	for _, it := range items {
		e, err := decodeEntry(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	return out, next, nil
}

// AllLedgerEntries returns every entry of a partner in Seq order, for
// invariant checks in tests and operator tooling. Not for request paths.
func (s *Store) AllLedgerEntries(ctx context.Context, partnerID string) ([]dsu.Entry, error) {
	var out []dsu.Entry
	var start item
	for {
		resp, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.opts.Table),
			KeyConditionExpression:    aws.String("pk = :pk AND begins_with(sk, :prefix)"),
			ExpressionAttributeValues: item{":pk": avS(partnerPK(partnerID)), ":prefix": avS(skLedgerPrefix)},
			ConsistentRead:            aws.Bool(true),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, storageErr(err, "list ledger")
		}
		for _, it := range resp.Items {
			e, err := decodeEntry(it)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if len(resp.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = resp.LastEvaluatedKey
	}
}
