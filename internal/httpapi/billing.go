package httpapi

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// billingUseCases is what the billing function calls.
type billingUseCases interface {
	Info(ctx context.Context, p dsu.Partner) (app.BillingInfo, error)
	UpdateContact(ctx context.Context, p dsu.Partner, in app.ContactInput) (app.BillingInfo, error)
	StartCardSetup(ctx context.Context, p dsu.Partner) (app.CardSetup, error)
	SaveCard(ctx context.Context, p dsu.Partner, setupIntentID string) (app.BillingInfo, error)
	DeleteCard(ctx context.Context, p dsu.Partner) (app.BillingInfo, error)
	UpdateAutoRefill(ctx context.Context, p dsu.Partner, in dsu.PlanSettings) (app.BillingInfo, error)
}

type auditLister interface {
	List(ctx context.Context, p dsu.Partner, page dsu.Page) ([]dsu.AuditEvent, string, error)
}

type auditEventJSON struct {
	ID    string `json:"id"`
	At    string `json:"at"`
	Actor struct {
		Sub   string  `json:"sub"`
		Email *string `json:"email"`
	} `json:"actor"`
	Action  string         `json:"action"`
	Details map[string]any `json:"details"`
}

// auditEndpoint lists the audit log (billing-admin only).
func auditEndpoint(l auditLister) Endpoint {
	return func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
		page, err := ParsePage(r.Query)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		evs, next, err := l.List(ctx, r.Partner, page)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		out := struct {
			Events     []auditEventJSON `json:"events"`
			NextCursor *string          `json:"nextCursor"`
		}{Events: make([]auditEventJSON, 0, len(evs)), NextCursor: strPtr(next)}
		for _, ev := range evs {
			v := auditEventJSON{ID: ev.ID, At: timeJSON(ev.At), Action: string(ev.Action), Details: ev.Details}
			v.Actor.Sub, v.Actor.Email = ev.Actor.Sub, strPtr(ev.Actor.Email)
			if v.Details == nil {
				v.Details = map[string]any{}
			}
			out.Events = append(out.Events, v)
		}
		return JSONResponse(http.StatusOK, out)
	}
}

// BillingEndpoints are the billing function's routes: billing info and
// the audit log of its changes.
func BillingEndpoints(b billingUseCases, audit auditLister) map[string]Endpoint {
	info := func(i app.BillingInfo, err error) (events.APIGatewayV2HTTPResponse, error) {
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return JSONResponse(http.StatusOK, billingInfoView(i))
	}
	return map[string]Endpoint{
		"GET /v1/audit": auditEndpoint(audit),
		"GET /v1/billing": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			return info(b.Info(ctx, r.Partner))
		},
		"PUT /v1/billing/contact": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			// The contact and address come in the shape BillingInfo shows them.
			var body struct {
				Contact  *contactJSON `json:"contact"`
				Address  *addressJSON `json:"address"`
				VATID    *string      `json:"vatId"`
				Currency *string      `json:"currency"`
			}
			if err := r.DecodeJSON(&body); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			in := app.ContactInput{Currency: body.Currency, VATID: deref(body.VATID)}
			if c := body.Contact; c != nil {
				in.Contact = &dsu.Contact{Name: c.Name, Email: c.Email, Phone: deref(c.Phone)}
			}
			if a := body.Address; a != nil {
				in.Address = &dsu.Address{Line1: a.Line1, Line2: deref(a.Line2), City: a.City, State: deref(a.State), PostalCode: a.PostalCode, Country: a.Country}
			}
			return info(b.UpdateContact(ctx, r.Partner, in))
		},
		"POST /v1/billing/card/setup-intent": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			if err := r.DecodeEmpty(); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			setup, err := b.StartCardSetup(ctx, r.Partner)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return JSONResponse(http.StatusCreated, map[string]string{"setupIntentId": setup.SetupIntentID, "clientSecret": setup.ClientSecret})
		},
		"PUT /v1/billing/card": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			var body struct {
				SetupIntentID string `json:"setupIntentId"`
			}
			if err := r.DecodeJSON(&body); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			// Its shape first: the id goes into a Stripe URL and is stored
			// (API.md, "Ids in paths and bodies").
			if !dsu.ValidSetupIntentID(body.SetupIntentID) {
				return events.APIGatewayV2HTTPResponse{}, dsu.InvalidField("setupIntentId", "must be the id of a SetupIntent (seti_...)")
			}
			return info(b.SaveCard(ctx, r.Partner, body.SetupIntentID))
		},
		"DELETE /v1/billing/card": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			if err := r.DecodeEmpty(); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return info(b.DeleteCard(ctx, r.Partner))
		},
		"PUT /v1/billing/auto-refill": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			var body struct {
				Enabled      *bool   `json:"enabled"`
				PackageID    *string `json:"packageId"`
				Threshold    *int64  `json:"threshold"`
				MonthlyLimit *int    `json:"monthlyLimit"`
			}
			if err := r.DecodeJSON(&body); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if body.Enabled == nil {
				return events.APIGatewayV2HTTPResponse{}, dsu.InvalidField("enabled", "is required (true or false)")
			}
			return info(b.UpdateAutoRefill(ctx, r.Partner, dsu.PlanSettings{
				Enabled: *body.Enabled, PackageID: body.PackageID, Threshold: body.Threshold, MonthlyLimit: body.MonthlyLimit,
			}))
		},
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
