package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// StartRefill claims the partner's one refill in flight and creates its
// purchase, in one transaction under the account's version: of any number
// of concurrent triggers exactly one claims. claim applies the domain's
// rules to the account as read; the purchase is written only when the
// claimed account names it as the refill in flight (a claim that paused the
// plan for its monthly limit writes the pause alone). It returns the
// account as written, or the unchanged account with dsu.ErrRefillNotNeeded.
func (s *Store) StartRefill(ctx context.Context, purchase dsu.Purchase, claim dsu.AccountMutation) (dsu.Account, dsu.PlanChange, error) {
	res, err := s.change(ctx, balanceChange{
		partnerID: purchase.PartnerID,
		mutate:    claim,
		extra: func(acc dsu.Account, _ *dsu.Entry) []txItem {
			if acc.Refill.Phase != dsu.RefillInFlight || acc.Refill.PurchaseID != purchase.ID {
				return nil
			}
			return []txItem{
				s.putNew(s.purchaseItem(purchase), dsu.Errorf(dsu.KindConflict, "purchase %s exists", purchase.ID)),
				s.markFirstPurchase(purchase),
			}
		},
	})
	return res.Account, res.Plan, err
}

// DecodeAccountImage reads an account from a balance item image, as the
// stream delivers it (converted to SDK values by internal/dynamostream).
func DecodeAccountImage(image map[string]types.AttributeValue) (dsu.Account, bool, error) {
	r := reader{it: image}
	if r.str(AttrType) != typeBalance {
		return dsu.Account{}, false, nil
	}
	acc, err := decodeBalance(image)
	return acc, err == nil, err
}

// DueAccounts lists the partners whose accounts need the sweep at or
// before now, from one shard of the sparse index: a query whose cost grows
// with the accounts needing attention, never with all accounts (RULES.md, "The sparse index and no Scan").
func (s *Store) DueAccounts(ctx context.Context, shard int, now time.Time) ([]string, error) {
	return s.duePartners(ctx, sweepAccounts, shard, now)
}
