package httpapi

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// packageLister lists the catalog for a partner.
type packageLister interface {
	List(ctx context.Context, partner dsu.Partner) (app.PackageList, error)
}

// PurchasesDeps are the use cases behind the purchases function.
type PurchasesDeps struct {
	Packages packageLister
}

// PurchasesEndpoints are the purchases function's routes.
func PurchasesEndpoints(d PurchasesDeps) map[string]Endpoint {
	return map[string]Endpoint{
		"GET /v1/packages": d.listPackages,
	}
}

type packageJSON struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Units          int64     `json:"units"`
	Price          dsu.Money `json:"price"`
	SavingsPercent int       `json:"savingsPercent"`
}

type packagesJSON struct {
	Currency dsu.Currency  `json:"currency"`
	Packages []packageJSON `json:"packages"`
}

func (d PurchasesDeps) listPackages(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	list, err := d.Packages.List(ctx, r.Partner)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	out := packagesJSON{Currency: list.Currency, Packages: make([]packageJSON, 0, len(list.Packages))}
	for _, p := range list.Packages {
		out.Packages = append(out.Packages, packageJSON{ID: p.ID, Name: p.Name, Units: p.Units, Price: p.Price, SavingsPercent: p.SavingsPercent})
	}
	return JSONResponse(http.StatusOK, out)
}
