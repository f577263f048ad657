package httpapi

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

type adminUseCases interface {
	Show(ctx context.Context, partnerID string) (app.PartnerOverview, error)
	Adjust(ctx context.Context, partnerID, key string, adj dsu.Adjustment, actor dsu.Actor) (dsu.Entry, bool, error)
	ReleaseDisputeHold(ctx context.Context, partnerID string, actor dsu.Actor) (app.BillingInfo, error)
	Verify(ctx context.Context, partnerID string) (app.Verification, error)
}

// LocalOperator is the actor of operator changes made through the local
// stack, where no IAM identity signs the request.
const LocalOperator = "local-operator"

// operator is who called an operator route: the IAM identity that signed
// it in AWS.
func operator(r *Request) dsu.Actor {
	if r.CallerARN != "" {
		return dsu.Actor{Sub: r.CallerARN}
	}
	return dsu.Actor{Sub: LocalOperator}
}

type planJSON struct {
	Enabled       bool    `json:"enabled"`
	Status        string  `json:"status"`
	PausedReason  *string `json:"pausedReason"`
	PackageID     *string `json:"packageId"`
	Threshold     int64   `json:"threshold"`
	MonthlyLimit  int     `json:"monthlyLimit"`
	DisputeHold   bool    `json:"disputeHold"`
	Phase         string  `json:"phase"`
	PurchaseID    *string `json:"purchaseId"`
	StartedAt     *string `json:"startedAt"`
	Failures      int     `json:"failures"`
	NextAttemptAt *string `json:"nextAttemptAt"`
	Month         *string `json:"month"`
	MonthCount    int     `json:"monthCount"`
}

func planView(a dsu.Account) planJSON {
	ar, rf := a.AutoRefill, a.Refill
	status, phase := ar.Status, string(rf.Phase)
	if status == "" {
		status = dsu.AutoRefillOff
	}
	if phase == "" {
		phase = "idle"
	}
	return planJSON{Enabled: ar.Enabled, Status: string(status), PausedReason: strPtr(string(ar.PausedReason)), PackageID: strPtr(ar.PackageID),
		Threshold: ar.Threshold, MonthlyLimit: ar.MonthlyLimit, DisputeHold: ar.DisputeHold, Phase: phase, PurchaseID: strPtr(rf.PurchaseID),
		StartedAt: zeroTimeJSON(rf.StartedAt), Failures: rf.Failures, NextAttemptAt: zeroTimeJSON(rf.NextAttemptAt), Month: strPtr(rf.Month), MonthCount: rf.MonthCount}
}

// AdminEndpoints are the operator routes, served by the admin function.
func AdminEndpoints(a adminUseCases) map[string]Endpoint {
	return map[string]Endpoint{
		"GET /v1/admin/partners/{partnerId}": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			o, err := a.Show(ctx, r.PathParams["partnerId"])
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			out := struct {
				Billing   billingInfoJSON `json:"billing"`
				Plan      planJSON        `json:"plan"`
				Ledger    []entryJSON     `json:"ledger"`
				Purchases []purchaseJSON  `json:"purchases"`
				Invariant struct {
					LedgerSum int64 `json:"ledgerSum"`
					Balance   int64 `json:"balance"`
					OK        bool  `json:"ok"`
				} `json:"invariant"`
			}{Billing: billingInfoView(o.Billing), Plan: planView(o.Billing.Account),
				Ledger: make([]entryJSON, 0, len(o.Ledger)), Purchases: make([]purchaseJSON, 0, len(o.Purchases))}
			for _, e := range o.Ledger {
				out.Ledger = append(out.Ledger, entryView(e))
			}
			for _, p := range o.Purchases {
				out.Purchases = append(out.Purchases, purchaseView(p))
			}
			out.Invariant.LedgerSum, out.Invariant.Balance, out.Invariant.OK = o.Invariant.LedgerSum, o.Invariant.Balance, o.Invariant.OK
			return JSONResponse(http.StatusOK, out)
		},
		"POST /v1/admin/partners/{partnerId}/adjustments": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			key := r.Header("Idempotency-Key")
			if err := dsu.ValidateIdempotencyKey(key); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			var body struct {
				Units  *int64 `json:"units"`
				Reason string `json:"reason"`
				Ticket string `json:"ticket"`
			}
			if err := r.DecodeJSON(&body); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if body.Units == nil {
				return events.APIGatewayV2HTTPResponse{}, dsu.InvalidField("units", "is required")
			}
			e, _, err := a.Adjust(ctx, r.PathParams["partnerId"], key, dsu.Adjustment{Units: *body.Units, Reason: body.Reason, Ticket: body.Ticket}, operator(r))
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return JSONResponse(http.StatusCreated, entryView(e))
		},
		"POST /v1/admin/partners/{partnerId}/dispute-hold/release": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			if err := r.DecodeEmpty(); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			info, err := a.ReleaseDisputeHold(ctx, r.PathParams["partnerId"], operator(r))
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			return JSONResponse(http.StatusOK, billingInfoView(info))
		},
		"GET /v1/admin/partners/{partnerId}/verify": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			v, err := a.Verify(ctx, r.PathParams["partnerId"])
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			type problemJSON struct {
				Kind       string  `json:"kind"`
				Detail     string  `json:"detail"`
				PurchaseID *string `json:"purchaseId,omitempty"`
			}
			out := struct {
				OK       bool          `json:"ok"`
				Problems []problemJSON `json:"problems"`
			}{OK: v.OK, Problems: make([]problemJSON, 0, len(v.Problems))}
			for _, p := range v.Problems {
				out.Problems = append(out.Problems, problemJSON{Kind: p.Kind, Detail: p.Detail, PurchaseID: strPtr(p.PurchaseID)})
			}
			return JSONResponse(http.StatusOK, out)
		},
	}
}
