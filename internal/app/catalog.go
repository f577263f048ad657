package app

import (
	"context"
	"sync"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

type catalogSource interface {
	Catalog(ctx context.Context) (dsu.Catalog, error)
}

// CachedCatalog keeps the catalog read from storage for a while, so a warm
// function reads it once per TTL instead of once per request. Price changes
// reach every function within the TTL.
type CachedCatalog struct {
	Source catalogSource
	Clock  dsu.Clock
	TTL    time.Duration

	mu      sync.Mutex
	cached  dsu.Catalog
	expires time.Time
}

// Catalog returns the cached catalog, reading it when stale.
func (c *CachedCatalog) Catalog(ctx context.Context) (dsu.Catalog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Clock.Now()
	if len(c.cached.Packages) > 0 && now.Before(c.expires) {
		return c.cached, nil
	}
	cat, err := c.Source.Catalog(ctx)
	if err != nil {
		return dsu.Catalog{}, err
	}
	c.cached, c.expires = cat, now.Add(c.TTL)
	return cat, nil
}

// PricedPackage is a package priced in one currency.
type PricedPackage struct {
	ID             string
	Name           string
	Units          dsu.Units
	Price          dsu.Money
	SavingsPercent int
}

// PackageList is the catalog as a partner sees it.
type PackageList struct {
	Currency dsu.Currency
	Packages []PricedPackage
}

// Packages lists the catalog in the partner's billing currency.
type Packages struct {
	Catalog catalogSource
}

// List prices every package in the partner's currency.
func (q *Packages) List(ctx context.Context, partner dsu.Partner) (PackageList, error) {
	cat, err := q.Catalog.Catalog(ctx)
	if err != nil {
		return PackageList{}, err
	}
	out := PackageList{Currency: partner.Currency, Packages: make([]PricedPackage, 0, len(cat.Packages))}
	for _, p := range cat.Packages {
		price, ok := p.Price(partner.Currency)
		if !ok {
			return PackageList{}, dsu.Errorf(dsu.KindInternal, "package %s has no %s price", p.ID, partner.Currency)
		}
		out.Packages = append(out.Packages, PricedPackage{
			ID: p.ID, Name: p.Name, Units: p.Units, Price: price,
			SavingsPercent: cat.SavingsPercent(p, partner.Currency),
		})
	}
	return out, nil
}
