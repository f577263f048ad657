package httpapi

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

type usageRecorder interface {
	Record(ctx context.Context, records []app.UsageInput) ([]app.UsageResult, error)
}

// maxUsageBody fits 500 records; the usage route is internal (IAM-signed by
// the sync platform), so it is not held to the portal's 16 KiB.
const maxUsageBody = 256 << 10

// UsageEndpoints is the usage function's route.
func UsageEndpoints(u usageRecorder) map[string]Endpoint {
	return map[string]Endpoint{
		"POST /v1/internal/usage": func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			var body struct {
				Records []struct {
					PartnerID string `json:"partnerId"`
					TenantID  string `json:"tenantId"`
					Date      string `json:"date"`
					Users     int64  `json:"users"`
				} `json:"records"`
			}
			if err := r.decodeJSONUpTo(&body, maxUsageBody, false); err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			if len(body.Records) > app.MaxUsageRecords {
				return events.APIGatewayV2HTTPResponse{}, dsu.InvalidField("records", "must hold at most 500 records")
			}
			in := make([]app.UsageInput, len(body.Records))
			for i, rec := range body.Records {
				in[i] = app.UsageInput{PartnerID: rec.PartnerID, TenantID: rec.TenantID, Date: rec.Date, Users: rec.Users}
			}
			results, err := u.Record(ctx, in)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{}, err
			}
			type resultJSON struct {
				PartnerID string `json:"partnerId"`
				TenantID  string `json:"tenantId"`
				Date      string `json:"date"`
				Units     int64  `json:"units"`
				Status    string `json:"status"`
			}
			out := struct {
				Results []resultJSON `json:"results"`
			}{Results: make([]resultJSON, len(results))}
			for i, res := range results {
				out.Results[i] = resultJSON{res.PartnerID, res.TenantID, res.Date, res.Units, res.Status}
			}
			return JSONResponse(http.StatusOK, out)
		},
	}
}
