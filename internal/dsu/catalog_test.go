package dsu_test

import (
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/dsu"
)

func TestDefaultCatalog(t *testing.T) {
	c, err := catalog.Default()
	if err != nil {
		t.Fatalf("the catalog data file does not parse: %v", err)
	}
	want := []struct {
		id       string
		units    int64
		usd, eur int64
		savings  int
	}{
		{"dsu-1000", 1000, 5000, 4600, 0},
		{"dsu-5000", 5000, 23750, 21850, 5},
		{"dsu-10000", 10000, 45000, 41400, 10},
		{"dsu-50000", 50000, 200000, 184000, 20},
		{"dsu-100000", 100000, 375000, 345000, 25},
	}
	if len(c.Packages) != len(want) {
		t.Fatalf("%d packages, want %d", len(c.Packages), len(want))
	}
	for i, w := range want {
		p := c.Packages[i]
		if p.ID != w.id || p.Units != w.units || p.Prices[dsu.USD] != w.usd || p.Prices[dsu.EUR] != w.eur {
			t.Errorf("package %d = %+v, want %+v", i, p, w)
		}
		for _, cur := range dsu.Currencies {
			if got := c.SavingsPercent(p, cur); got != w.savings {
				t.Errorf("%s savings in %s = %d%%, want %d%%", p.ID, cur, got, w.savings)
			}
		}
	}
}

func TestSavingsRoundsHalfUp(t *testing.T) {
	c := dsu.Catalog{Packages: []dsu.Package{
		{ID: "a", Name: "a", Units: 100, Prices: map[dsu.Currency]int64{dsu.USD: 300, dsu.EUR: 300}},
		// 2.955 per unit vs 3.00: 1.5% → 2
		{ID: "b", Name: "b", Units: 200, Prices: map[dsu.Currency]int64{dsu.USD: 591, dsu.EUR: 700}},
	}}
	if got := c.SavingsPercent(c.Packages[1], dsu.USD); got != 2 {
		t.Errorf("savings = %d, want 2", got)
	}
	// A package dearer per unit than the baseline saves nothing, not a negative.
	if got := c.SavingsPercent(c.Packages[1], dsu.EUR); got != 0 {
		t.Errorf("savings = %d, want 0", got)
	}
}

func TestCatalogRejectsBrokenPriceLists(t *testing.T) {
	cases := map[string]string{
		"empty":          `{"packages":[]}`,
		"unknown field":  `{"packages":[{"id":"a","name":"A","units":1,"prices":{"usd":1,"eur":1},"discount":5}]}`,
		"bad id":         `{"packages":[{"id":"A B","name":"A","units":1,"prices":{"usd":1,"eur":1}}]}`,
		"duplicate":      `{"packages":[{"id":"a","name":"A","units":1,"prices":{"usd":1,"eur":1}},{"id":"a","name":"B","units":2,"prices":{"usd":1,"eur":1}}]}`,
		"no units":       `{"packages":[{"id":"a","name":"A","units":0,"prices":{"usd":1,"eur":1}}]}`,
		"missing eur":    `{"packages":[{"id":"a","name":"A","units":1,"prices":{"usd":1}}]}`,
		"zero price":     `{"packages":[{"id":"a","name":"A","units":1,"prices":{"usd":0,"eur":1}}]}`,
		"float price":    `{"packages":[{"id":"a","name":"A","units":1,"prices":{"usd":1.5,"eur":1}}]}`,
		"other currency": `{"packages":[{"id":"a","name":"A","units":1,"prices":{"usd":1,"eur":1,"gbp":1}}]}`,
		"no name":        `{"packages":[{"id":"a","name":"","units":1,"prices":{"usd":1,"eur":1}}]}`,
	}
	for name, data := range cases {
		if _, err := dsu.ParseCatalog([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCatalogFind(t *testing.T) {
	c, _ := catalog.Default()
	if p, ok := c.Find("dsu-5000"); !ok || p.Units != 5000 {
		t.Errorf("Find(dsu-5000) = %+v, %v", p, ok)
	}
	if _, ok := c.Find("dsu-7"); ok {
		t.Error("found a package that does not exist")
	}
	if m, ok := c.Packages[0].Price(dsu.EUR); !ok || m != (dsu.Money{Amount: 4600, Currency: dsu.EUR}) {
		t.Errorf("price = %+v", m)
	}
	if !strings.Contains(string(catalog.Data()), "dsu-100000") {
		t.Error("Data() does not return the file")
	}
}
