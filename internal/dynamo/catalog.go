package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// The catalog in the table: one item per package, keyed by package id
// (sk PKG#<id>) and stamped with the catalog's version and its position,
// plus one pointer item (sk VERSION) naming the current version. Readers
// take only the packages of the current version, so a package removed
// from the data file stops being sold and a reordering never duplicates.
// Writers put the packages first and the pointer last: a reader sees the
// old catalog or the new one, never half of it.

const skCatalogVersion = "VERSION"

// CatalogVersion identifies a catalog's content.
func CatalogVersion(c dsu.Catalog) string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// CatalogItems renders the catalog for the table: the package items and
// the pointer item. The local stack writes them with PutCatalog; the CDK
// stack writes the same items on deployment.
func CatalogItems(c dsu.Catalog) (packages []map[string]types.AttributeValue, pointer map[string]types.AttributeValue) {
	version := CatalogVersion(c)
	for i, p := range c.Packages {
		prices := item{}
		for cur, amount := range p.Prices {
			prices[string(cur)] = avN(amount)
		}
		it := withKey(item{}, key(pkCatalog, skPackagePrefix+p.ID))
		it[AttrType] = avS(typePackage)
		it["id"] = avS(p.ID)
		it["name"] = avS(p.Name)
		setN(it, "units", p.Units)
		it["prices"] = &types.AttributeValueMemberM{Value: prices}
		setN(it, "position", int64(i))
		it["catalogVersion"] = avS(version)
		packages = append(packages, it)
	}
	pointer = withKey(item{}, key(pkCatalog, skCatalogVersion))
	pointer[AttrType] = avS("catalog")
	pointer["catalogVersion"] = avS(version)
	return packages, pointer
}

// PutCatalog writes the catalog: packages first, the pointer last.
func (s *Store) PutCatalog(ctx context.Context, c dsu.Catalog) error {
	if err := c.Validate(); err != nil {
		return err
	}
	packages, pointer := CatalogItems(c)
	for _, it := range append(packages, pointer) {
		if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: it}); err != nil {
			return storageErr(err, "put catalog")
		}
	}
	return nil
}

// Catalog reads the current catalog: one query.
func (s *Store) Catalog(ctx context.Context) (dsu.Catalog, error) {
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: item{":pk": avS(pkCatalog)},
	})
	if err != nil {
		return dsu.Catalog{}, storageErr(err, "read catalog")
	}
	current := ""
	for _, it := range out.Items {
		if r := (reader{it: it}); r.str(AttrSK) == skCatalogVersion {
			current = r.str("catalogVersion")
		}
	}
	type positioned struct {
		pos int64
		pkg dsu.Package
	}
	var found []positioned
	for _, it := range out.Items {
		r := reader{it: it}
		if r.str(AttrType) != typePackage || r.str("catalogVersion") != current {
			continue
		}
		p := dsu.Package{ID: r.str("id"), Name: r.str("name"), Units: r.num("units"), Prices: map[dsu.Currency]int64{}}
		if m := r.mapAt("prices"); m != nil {
			for cur := range m.it {
				p.Prices[dsu.Currency(cur)] = m.num(cur)
			}
			r.merge(m, "prices")
		}
		if r.err != nil {
			return dsu.Catalog{}, fmt.Errorf("catalog item %s: %w", p.ID, r.err)
		}
		found = append(found, positioned{r.num("position"), p})
	}
	if current == "" || len(found) == 0 {
		return dsu.Catalog{}, dsu.Errorf(dsu.KindInternal, "the package catalog is not seeded")
	}
	sort.Slice(found, func(i, j int) bool { return found[i].pos < found[j].pos })
	c := dsu.Catalog{Packages: make([]dsu.Package, len(found))}
	for i, f := range found {
		c.Packages[i] = f.pkg
	}
	return c, nil
}
