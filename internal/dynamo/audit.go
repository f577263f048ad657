package dynamo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Audit events (sk AUDIT#<id>, ids sort by time) record who changed a
// partner's billing, each written in the same transaction as the change it
// records, and listed newest first.

const skAuditPrefix = "AUDIT#"

func auditKey(partnerID, id string) item { return key(partnerPK(partnerID), skAuditPrefix+id) }

func auditItem(ev dsu.AuditEvent) (item, error) {
	details, err := json.Marshal(ev.Details)
	if err != nil {
		return nil, fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	it := withKey(item{}, auditKey(ev.PartnerID, ev.ID))
	it[AttrType] = avS(typeAudit)
	it["id"] = avS(ev.ID)
	it["partnerId"] = avS(ev.PartnerID)
	setTime(it, "at", ev.At)
	it["actorSub"] = avS(ev.Actor.Sub)
	setS(it, "actorEmail", ev.Actor.Email)
	it["action"] = avS(string(ev.Action))
	it["details"] = avS(string(details))
	return it, nil
}

func decodeAudit(it item) (dsu.AuditEvent, error) {
	r := reader{it: it}
	ev := dsu.AuditEvent{
		ID: r.str("id"), PartnerID: r.str("partnerId"), At: r.time("at"),
		Actor: dsu.Actor{Sub: r.str("actorSub"), Email: r.str("actorEmail")}, Action: dsu.AuditAction(r.str("action")),
	}
	if r.err != nil {
		return dsu.AuditEvent{}, r.err
	}
	if err := json.Unmarshal([]byte(r.str("details")), &ev.Details); err != nil {
		return dsu.AuditEvent{}, fmt.Errorf("audit %s: %w", ev.ID, err)
	}
	return ev, nil
}

// putAudit is the transaction item of an audit event; an id that exists
// already means the change was recorded before.
func (s *Store) putAudit(ev dsu.AuditEvent) (txItem, error) {
	if ev.ID == "" {
		ev.ID = s.opts.IDs.NewID("aud_")
	}
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	it, err := auditItem(ev)
	if err != nil {
		return txItem{}, dsu.Wrap(err, dsu.KindInternal, "unrecordable audit event")
	}
	return s.putNew(it, dsu.Errorf(dsu.KindInternal, "audit event %s exists", ev.ID)), nil
}

// ListAudit lists a partner's audit events newest first.
func (s *Store) ListAudit(ctx context.Context, partnerID string, page Page) ([]dsu.AuditEvent, string, error) {
	items, next, err := s.list(ctx, partnerID, skAuditPrefix, "audit", page)
	if err != nil {
		return nil, "", err
	}
	out := make([]dsu.AuditEvent, 0, len(items))
	for _, it := range items {
		ev, err := decodeAudit(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, ev)
	}
	return out, next, nil
}

// RecordAudit writes an audit event on its own, for an action that changes
// nothing else (a purchase confirmed on-session).
func (s *Store) RecordAudit(ctx context.Context, ev dsu.AuditEvent) error {
	ti, err := s.putAudit(ev)
	if err != nil {
		return err
	}
	return s.single(ctx, ti)
}

// ApplyAdjustment applies an operator's adjustment exactly once per
// reference, with its audit event in the same transaction. Applied again,
// it writes nothing and returns the first entry with applied = false.
func (s *Store) ApplyAdjustment(ctx context.Context, change dsu.LedgerChange, audit dsu.AuditEvent) (dsu.Entry, bool, error) {
	res, err := s.change(ctx, balanceChange{partnerID: change.PartnerID, entry: &change,
		audit: func(_, _ dsu.Account, e *dsu.Entry) *dsu.AuditEvent {
			ev := audit
			ev.Details = map[string]any{}
			for k, v := range audit.Details {
				ev.Details[k] = v
			}
			ev.Details["entryId"] = e.ID
			return &ev
		}})
	if err != nil {
		return dsu.Entry{}, false, err
	}
	return res.Entry, res.Applied, nil
}

// ChangeAccountAudited is ChangeAccount with an audit event, built from the
// account before and after the change that is stored, in the same
// transaction; nothing is recorded when the mutation changes nothing.
func (s *Store) ChangeAccountAudited(ctx context.Context, partnerID string, mutate dsu.AccountMutation, audit func(before, after dsu.Account) dsu.AuditEvent) (dsu.Account, dsu.PlanChange, error) {
	res, err := s.change(ctx, balanceChange{partnerID: partnerID, mutate: mutate,
		audit: func(before, after dsu.Account, _ *dsu.Entry) *dsu.AuditEvent {
			ev := audit(before, after)
			return &ev
		}})
	return res.Account, res.Plan, err
}
