package app

import (
	"context"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// partnerStore is the storage a partner's first request needs.
type partnerStore interface {
	GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error)
	CreatePartner(ctx context.Context, p dsu.Partner, grant dsu.Units) (dsu.Account, error)
}

// Partners resolves the partner behind a request, creating its billing
// record and applying the welcome grant the first time it is seen (API.md, "First request of a partner").
type Partners struct {
	Store    partnerStore
	Defaults dsu.PartnerDefaults
	Clock    dsu.Clock
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// Ensure returns the partner's billing record, creating it when unknown. The
// store creates record, account and grant in one transaction, so concurrent
// first requests grant once: the losers read what the winner wrote.
func (s *Partners) Ensure(ctx context.Context, partnerID string) (dsu.Partner, error) {
	p, err := s.Store.GetPartner(ctx, partnerID)
	if !dsu.IsKind(err, dsu.KindNotFound) {
		return p, err
	}
	p = dsu.NewPartner(partnerID, s.Defaults, s.Clock.Now())
	if _, err := s.Store.CreatePartner(ctx, p, s.Defaults.WelcomeGrant); err != nil {
		if dsu.IsKind(err, dsu.KindConflict) {
			return s.Store.GetPartner(ctx, partnerID)
		}
		return dsu.Partner{}, err
	}
	countUnits(s.Metrics, s.Defaults.WelcomeGrant)
	return p, nil
}
