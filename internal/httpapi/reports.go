package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

type reportQueries interface {
	Statement(ctx context.Context, p dsu.Partner, month string) (app.MonthStatement, error)
	Usage(ctx context.Context, p dsu.Partner, month, tenantID string) (dsu.UsageReport, error)
}

type usageDayJSON struct {
	Date  string `json:"date"`
	Users int64  `json:"users"`
	Units int64  `json:"units"`
}

type tenantUsageJSON struct {
	TenantID string         `json:"tenantId"`
	Units    int64          `json:"units"`
	Days     []usageDayJSON `json:"days"`
}

func (d PurchasesDeps) usageReport(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	month := r.Query["month"]
	if month == "" {
		return events.APIGatewayV2HTTPResponse{}, dsu.InvalidField("month", "is required, as YYYY-MM")
	}
	rep, err := d.Reports.Usage(ctx, r.Partner, month, r.Query["tenantId"])
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	resp, err := usageResponse(r, rep)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	// The record cap does not bound the bytes: 40,000 rows of 128-character
	// tenant ids are over 6 MB. One tenant's month (at most 31 records)
	// always fits.
	fits, err := fitsLambdaResponse(resp)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if !fits {
		return events.APIGatewayV2HTTPResponse{}, dsu.InvalidField("tenantId", "the month's usage is larger than one response can carry; ask for one tenant at a time")
	}
	return resp, nil
}

// usageResponse renders a usage report as CSV when asked, else as JSON.
func usageResponse(r *Request, rep dsu.UsageReport) (events.APIGatewayV2HTTPResponse, error) {
	if wantsCSV(r) {
		rows := [][]string{{"date", "tenant_id", "users", "units", "billed"}}
		var days []dsu.UsageRecord
		for _, t := range rep.Tenants {
			days = append(days, t.Days...)
		}
		sortUsageRows(days)
		for _, u := range days {
			billed := "false"
			if d, err := parseDate(u.Date); err == nil && dsu.IsBilledDay(d) {
				billed = "true"
			}
			rows = append(rows, []string{u.Date, u.TenantID, strconv.FormatInt(u.Users, 10), strconv.FormatInt(u.Units, 10), billed})
		}
		return csvResponse("usage-"+r.Partner.ID+"-"+rep.Month+".csv", rows)
	}
	out := struct {
		Month      string            `json:"month"`
		TotalUnits int64             `json:"totalUnits"`
		Tenants    []tenantUsageJSON `json:"tenants"`
	}{Month: rep.Month, TotalUnits: rep.TotalUnits, Tenants: make([]tenantUsageJSON, 0, len(rep.Tenants))}
	for _, t := range rep.Tenants {
		tj := tenantUsageJSON{TenantID: t.TenantID, Units: t.Units, Days: make([]usageDayJSON, 0, len(t.Days))}
		for _, u := range t.Days {
			tj.Days = append(tj.Days, usageDayJSON{Date: u.Date, Users: u.Users, Units: u.Units})
		}
		out.Tenants = append(out.Tenants, tj)
	}
	return JSONResponse(http.StatusOK, out)
}

// maxLambdaResponse is the most a synchronous Lambda invocation may
// answer: 6 MB of the encoded APIGatewayV2HTTPResponse, whose body is a
// JSON string inside it (a CSV's line ends and quotes are escaped once
// more). Lambda refuses a larger answer, and API Gateway turns it into a
// 502.
const maxLambdaResponse = 6 << 20

// fitsLambdaResponse reports whether resp, encoded as the Lambda runtime
// encodes it (aws-lambda-go's json.Encoder, HTML not escaped, and a
// newline), is at most maxLambdaResponse bytes.
func fitsLambdaResponse(resp events.APIGatewayV2HTTPResponse) (bool, error) {
	if len(resp.Body) > maxLambdaResponse { // escaping only adds
		return false, nil
	}
	var n byteCounter
	enc := json.NewEncoder(&n)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return false, err
	}
	return n <= maxLambdaResponse, nil
}

// byteCounter counts what is written to it.
type byteCounter int

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

type statementPurchaseJSON struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Units      int64     `json:"units"`
	Amount     dsu.Money `json:"amount"`
	ReceiptURL *string   `json:"receiptUrl"`
}

func (d PurchasesDeps) statement(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	st, err := d.Reports.Statement(ctx, r.Partner, r.PathParams["month"])
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if wantsCSV(r) {
		rows := [][]string{{"created_at", "type", "units", "balance_after", "reference", "description"}}
		for _, e := range st.Entries {
			rows = append(rows, []string{timeJSON(e.CreatedAt), string(e.Type), strconv.FormatInt(e.Units, 10),
				strconv.FormatInt(e.BalanceAfter, 10), e.Reference, e.Summary()})
		}
		return csvResponse("statement-"+r.Partner.ID+"-"+st.Month+".csv", rows)
	}
	out := struct {
		Month          string                  `json:"month"`
		Currency       dsu.Currency            `json:"currency"`
		OpeningBalance int64                   `json:"openingBalance"`
		ClosingBalance int64                   `json:"closingBalance"`
		Totals         map[string]int64        `json:"totals"`
		Purchases      []statementPurchaseJSON `json:"purchases"`
		UsageUnits     int64                   `json:"usageUnits"`
		Entries        int                     `json:"entries"`
	}{Month: st.Month, Currency: st.Currency, OpeningBalance: st.OpeningBalance, ClosingBalance: st.ClosingBalance,
		Totals: map[string]int64{}, Purchases: make([]statementPurchaseJSON, 0, len(st.Purchases)), UsageUnits: st.UsageUnits, Entries: len(st.Entries)}
	for t, u := range st.Totals {
		out.Totals[string(t)] = u
	}
	for _, p := range st.Purchases {
		out.Purchases = append(out.Purchases, statementPurchaseJSON{ID: p.ID, Kind: string(p.Kind), Status: string(p.Status),
			Units: p.Units, Amount: p.Amount, ReceiptURL: receiptURL(p)})
	}
	return JSONResponse(http.StatusOK, out)
}

// receiptURL is the purchase's Stripe receipt, once it is paid and has
// one (as the Purchase view shows it).
func receiptURL(p dsu.Purchase) *string { return purchaseView(p).ReceiptURL }

// wantsCSV reports whether the caller asked for text/csv: an Accept header
// naming it before (or instead of) JSON.
func wantsCSV(r *Request) bool {
	for part := range strings.SplitSeq(r.Header("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true
		case "application/json", "application/*", "*/*":
			return false
		}
	}
	return false
}

// csvResponse renders rows as RFC 4180 CSV (CRLF line ends, fields quoted
// when they hold a comma, a quote or a line break) for download.
func csvResponse(filename string, rows [][]string) (events.APIGatewayV2HTTPResponse, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	if err := w.WriteAll(rows); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	h := baseHeaders("text/csv; charset=utf-8")
	h["Content-Disposition"] = `attachment; filename="` + safeFilename(filename) + `"`
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: h, Body: buf.String()}, nil
}

// safeFilename keeps letters, digits, dots, dashes and underscores: a
// partner id may hold quotes or slashes that would break the header.
func safeFilename(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			return c
		}
		return '_'
	}, s)
}

func parseDate(s string) (time.Time, error) { return time.Parse(dsu.DateLayout, s) }

// sortUsageRows orders a usage CSV by date, then tenant.
func sortUsageRows(days []dsu.UsageRecord) {
	slices.SortFunc(days, func(a, b dsu.UsageRecord) int {
		if c := strings.Compare(a.Date, b.Date); c != 0 {
			return c
		}
		return strings.Compare(a.TenantID, b.TenantID)
	})
}
