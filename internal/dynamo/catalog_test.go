package dynamo_test

import (
	"context"
	"testing"

	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/dsu"
)

func TestCatalogChangesReplaceTheOldOne(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.store.Catalog(ctx); dsu.ErrorKind(err) != dsu.KindInternal {
		t.Fatalf("an unseeded catalog: %v", err)
	}
	full, _ := catalog.Default()
	if err := f.store.PutCatalog(ctx, full); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.Catalog(ctx)
	if err != nil || len(got.Packages) != 5 || got.Packages[0].ID != "dsu-1000" || got.Packages[4].Prices[dsu.EUR] != 345000 {
		t.Fatalf("catalog %+v %v", got, err)
	}
	// A new file drops a package and reorders the rest.
	smaller := dsu.Catalog{Packages: []dsu.Package{full.Packages[2], full.Packages[0]}}
	if err := f.store.PutCatalog(ctx, smaller); err != nil {
		t.Fatal(err)
	}
	got, _ = f.store.Catalog(ctx)
	if len(got.Packages) != 2 || got.Packages[0].ID != "dsu-10000" || got.Packages[1].ID != "dsu-1000" {
		t.Fatalf("after the change: %+v; removed packages must not be sold, order must follow the file", got.Packages)
	}
}
