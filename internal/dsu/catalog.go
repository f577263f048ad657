package dsu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// Package is a purchasable bundle of DSUs with a price per billing currency.
type Package struct {
	ID     string             `json:"id"`
	Name   string             `json:"name"`
	Units  Units              `json:"units"`
	Prices map[Currency]int64 `json:"prices"` // minor units
}

// Price is the package's price in currency c.
func (p Package) Price(c Currency) (Money, bool) {
	amount, ok := p.Prices[c]
	return Money{Amount: amount, Currency: c}, ok
}

// Catalog is the ordered list of packages, smallest first.
type Catalog struct {
	Packages []Package `json:"packages"`
}

var packageIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// ParseCatalog reads the catalog data file and checks every rule a price list
// must satisfy before anybody can be charged from it.
func ParseCatalog(data []byte) (Catalog, error) {
	var c Catalog
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Catalog{}, fmt.Errorf("catalog: %w", err)
	}
	return c, c.Validate()
}

// Validate checks ids, names, units and that every package has a positive
// price in every billing currency.
func (c Catalog) Validate() error {
	if len(c.Packages) == 0 {
		return fmt.Errorf("catalog: no packages")
	}
	seen := map[string]bool{}
	for i, p := range c.Packages {
		switch {
		case !packageIDPattern.MatchString(p.ID):
			return fmt.Errorf("catalog: package %d: bad id %q", i, p.ID)
		case seen[p.ID]:
			return fmt.Errorf("catalog: duplicate package id %q", p.ID)
		case p.Name == "":
			return fmt.Errorf("catalog: package %q: empty name", p.ID)
		case p.Units <= 0:
			return fmt.Errorf("catalog: package %q: units must be positive", p.ID)
		}
		seen[p.ID] = true
		for _, cur := range Currencies {
			if p.Prices[cur] <= 0 {
				return fmt.Errorf("catalog: package %q: no positive %s price", p.ID, cur)
			}
		}
		for cur := range p.Prices {
			if _, err := ParseCurrency(string(cur)); err != nil {
				return fmt.Errorf("catalog: package %q: %w", p.ID, err)
			}
		}
	}
	return nil
}

// Find returns the package with the given id.
func (c Catalog) Find(id string) (Package, bool) {
	i := slices.IndexFunc(c.Packages, func(p Package) bool { return p.ID == id })
	if i < 0 {
		return Package{}, false
	}
	return c.Packages[i], true
}

// baseline is the package with the fewest units: the reference for savings.
func (c Catalog) baseline() Package {
	base := c.Packages[0]
	for _, p := range c.Packages[1:] {
		if p.Units < base.Units {
			base = p
		}
	}
	return base
}

// SavingsPercent is how much cheaper one DSU of p is than one DSU of the
// smallest package, in whole percent (rounded half up), in currency cur.
func (c Catalog) SavingsPercent(p Package, cur Currency) int {
	if len(c.Packages) == 0 {
		return 0
	}
	base := c.baseline()
	// Compare price/units against basePrice/baseUnits without division:
	// savings = 1 - (price*baseUnits) / (basePrice*units).
	num := base.Prices[cur]*p.Units - p.Prices[cur]*base.Units
	den := base.Prices[cur] * p.Units
	if den <= 0 || num <= 0 {
		return 0
	}
	return int((100*num + den/2) / den)
}
