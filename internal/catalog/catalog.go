// Package catalog holds the package price list as a data file. The local stack
// seeds the table from it and the CDK stack does the same on deployment;
// functions read the catalog from the table, never from this file.
package catalog

import (
	_ "embed"

	"github.com/cirasync/dsubilling/internal/dsu"
)

//go:embed packages.json
var data []byte

// Data is the raw catalog file, for deployment tooling that seeds the table.
func Data() []byte { return append([]byte(nil), data...) }

// Default parses the embedded catalog. The file is validated by its test, so
// an error here means a broken build.
func Default() (dsu.Catalog, error) { return dsu.ParseCatalog(data) }
