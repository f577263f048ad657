package httpapi

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

type packageLister interface {
	List(ctx context.Context, partner dsu.Partner) (app.PackageList, error)
}

type purchaseUseCases interface {
	Create(ctx context.Context, p dsu.Partner, in app.CreatePurchaseInput) (app.PurchaseResult, error)
	Get(ctx context.Context, p dsu.Partner, id string) (dsu.Purchase, error)
	List(ctx context.Context, p dsu.Partner, page dsu.Page) ([]dsu.Purchase, string, error)
	Confirm(ctx context.Context, p dsu.Partner, id string) (app.PurchaseResult, error)
}

type balanceQueries interface {
	Balance(ctx context.Context, p dsu.Partner) (app.BalanceView, error)
	Ledger(ctx context.Context, p dsu.Partner, page dsu.Page) ([]dsu.Entry, string, error)
}

// PurchasesDeps are the use cases behind the purchases function.
type PurchasesDeps struct {
	Packages  packageLister
	Purchases purchaseUseCases
	Balances  balanceQueries
	Reports   reportQueries
}

// PurchasesEndpoints are the purchases function's routes.
func PurchasesEndpoints(d PurchasesDeps) map[string]Endpoint {
	return map[string]Endpoint{
		"GET /v1/packages":                d.listPackages,
		"POST /v1/purchases":              d.createPurchase,
		"GET /v1/purchases":               d.listPurchases,
		"GET /v1/purchases/{id}":          d.getPurchase,
		"POST /v1/purchases/{id}/confirm": d.confirmPurchase,
		"GET /v1/balance":                 d.balance,
		"GET /v1/ledger":                  d.ledger,
		"GET /v1/usage":                   d.usageReport,
		"GET /v1/statements/{month}":      d.statement,
	}
}

type packageJSON struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Units          int64     `json:"units"`
	Price          dsu.Money `json:"price"`
	SavingsPercent int       `json:"savingsPercent"`
}

func (d PurchasesDeps) listPackages(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	list, err := d.Packages.List(ctx, r.Partner)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	out := struct {
		Currency dsu.Currency  `json:"currency"`
		Packages []packageJSON `json:"packages"`
	}{Currency: list.Currency, Packages: make([]packageJSON, 0, len(list.Packages))}
	for _, p := range list.Packages {
		out.Packages = append(out.Packages, packageJSON{ID: p.ID, Name: p.Name, Units: p.Units, Price: p.Price, SavingsPercent: p.SavingsPercent})
	}
	return JSONResponse(http.StatusOK, out)
}

func (d PurchasesDeps) createPurchase(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	key := r.Header("Idempotency-Key")
	if err := dsu.ValidateIdempotencyKey(key); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	var body struct {
		Items []struct {
			PackageID string `json:"packageId"`
			Quantity  int64  `json:"quantity"`
		} `json:"items"`
		PaymentMethod string `json:"paymentMethod"`
	}
	if err := r.DecodeJSON(&body); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	in := app.CreatePurchaseInput{
		IdempotencyKey: key, Fingerprint: dsu.Fingerprint(r.RouteKey, r.Body), PaymentMethod: body.PaymentMethod,
	}
	for _, it := range body.Items {
		in.Lines = append(in.Lines, dsu.PurchaseLine{PackageID: it.PackageID, Quantity: it.Quantity})
	}
	res, err := d.Purchases.Create(ctx, r.Partner, in)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return JSONResponse(http.StatusCreated, purchaseResultView(res))
}

func (d PurchasesDeps) listPurchases(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	page, err := ParsePage(r.Query)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	list, next, err := d.Purchases.List(ctx, r.Partner, page)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	out := struct {
		Purchases  []purchaseJSON `json:"purchases"`
		NextCursor *string        `json:"nextCursor"`
	}{Purchases: make([]purchaseJSON, 0, len(list)), NextCursor: strPtr(next)}
	for _, p := range list {
		out.Purchases = append(out.Purchases, purchaseView(p))
	}
	return JSONResponse(http.StatusOK, out)
}

func (d PurchasesDeps) getPurchase(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	p, err := d.Purchases.Get(ctx, r.Partner, r.PathParams["id"])
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return JSONResponse(http.StatusOK, purchaseView(p))
}

func (d PurchasesDeps) confirmPurchase(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	if err := r.DecodeEmpty(); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	res, err := d.Purchases.Confirm(ctx, r.Partner, r.PathParams["id"])
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return JSONResponse(http.StatusOK, purchaseResultView(res))
}

func (d PurchasesDeps) balance(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	b, err := d.Balances.Balance(ctx, r.Partner)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return JSONResponse(http.StatusOK, struct {
		Units        int64  `json:"units"`
		Threshold    int64  `json:"threshold"`
		DailyAverage *int64 `json:"dailyAverage"`
		RunwayDays   *int   `json:"runwayDays"`
		AsOf         string `json:"asOf"`
	}{b.Units, b.Threshold, b.DailyAverage, b.RunwayDays, timeJSON(b.AsOf)})
}

func (d PurchasesDeps) ledger(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	page, err := ParsePage(r.Query)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	entries, next, err := d.Balances.Ledger(ctx, r.Partner, page)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	out := struct {
		Entries    []entryJSON `json:"entries"`
		NextCursor *string     `json:"nextCursor"`
	}{Entries: make([]entryJSON, 0, len(entries)), NextCursor: strPtr(next)}
	for _, e := range entries {
		out.Entries = append(out.Entries, entryView(e))
	}
	return JSONResponse(http.StatusOK, out)
}
