package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// PackageItems renders the catalog as table items, in catalog order. The
// local stack writes them with PutCatalog; the CDK stack writes the same
// items on deployment.
func PackageItems(c dsu.Catalog) []map[string]types.AttributeValue {
	out := make([]map[string]types.AttributeValue, 0, len(c.Packages))
	for i, p := range c.Packages {
		prices := item{}
		for cur, amount := range p.Prices {
			prices[string(cur)] = avN(amount)
		}
		it := withKey(item{}, key(pkCatalog, fmt.Sprintf("%s%03d#%s", skPackagePrefix, i, p.ID)))
		it[AttrType] = avS(typePackage)
		it["id"] = avS(p.ID)
		it["name"] = avS(p.Name)
		setN(it, "units", p.Units)
		it["prices"] = &types.AttributeValueMemberM{Value: prices}
		out = append(out, it)
	}
	return out
}

// PutCatalog writes the catalog's packages. Packages removed from the file
// are not deleted here: purchases may still name them.
func (s *Store) PutCatalog(ctx context.Context, c dsu.Catalog) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, it := range PackageItems(c) {
		if _, err := s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.opts.Table), Item: it}); err != nil {
			return storageErr(err, "put catalog")
		}
	}
	return nil
}

// Catalog reads the package catalog: one query.
func (s *Store) Catalog(ctx context.Context) (dsu.Catalog, error) {
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.opts.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: item{":pk": avS(pkCatalog)},
	})
	if err != nil {
		return dsu.Catalog{}, storageErr(err, "read catalog")
	}
	var c dsu.Catalog
	for _, it := range out.Items {
		r := reader{it: it}
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
		c.Packages = append(c.Packages, p)
	}
	if len(c.Packages) == 0 {
		return dsu.Catalog{}, dsu.Errorf(dsu.KindInternal, "the package catalog is empty; seed the table")
	}
	return c, nil
}
