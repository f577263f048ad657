package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
)

// lambdaResponseLimit is Lambda's limit on a synchronous invocation's
// answer: 6 MB of the response document the runtime sends.
const lambdaResponseLimit = 6 * 1024 * 1024

// usageReports answers every usage report with rep.
type usageReports struct{ rep dsu.UsageReport }

func (u usageReports) Statement(context.Context, dsu.Partner, string) (app.MonthStatement, error) {
	return app.MonthStatement{}, errors.New("not in this test")
}

func (u usageReports) Usage(context.Context, dsu.Partner, string, string) (dsu.UsageReport, error) {
	return u.rep, nil
}

// usageOf is an October of tenants × days records (days from the 1st),
// each of the most users a record may hold, tenant i's id from id(i).
func usageOf(tenants, days int, id func(int) string) dsu.UsageReport {
	recs := make([]dsu.UsageRecord, 0, tenants*days)
	for i := range tenants {
		for d := range days {
			date := fmt.Sprintf("2026-10-%02d", 1+d)
			units := dsu.Units(dsu.MaxUsageUsers)
			if d+1 > dsu.LastBilledDay {
				units = 0
			}
			recs = append(recs, dsu.UsageRecord{PartnerID: "partner-acme", TenantID: id(i), Date: date, Users: dsu.MaxUsageUsers, Units: units})
		}
	}
	return dsu.NewUsageReport("2026-10", recs)
}

// tenantIDs of 128 bytes, the longest the usage route takes, made of
// what each encoding grows most: a CSV doubles quotes and the Lambda
// response escapes them again; JSON escapes '<' as \u003c; U+2028 is
// escaped in both.
var tenantIDs = map[string]func(int) string{
	"letters": func(i int) string { return fmt.Sprintf("%06d", i) + strings.Repeat("x", 122) },
	"quotes":  func(i int) string { return fmt.Sprintf("%06d", i) + strings.Repeat(`"`, 122) },
	"angles":  func(i int) string { return fmt.Sprintf("%06d", i) + strings.Repeat("<", 122) },
	"u2028":   func(i int) string { return fmt.Sprintf("%05d", i) + strings.Repeat("\u2028", 41) },
}

// invokeUsage sends GET /v1/usage?month=2026-10 (CSV when csv) to the
// purchases function through aws-lambda-go's own handler, and returns the
// response and the size of the document the runtime would send back.
func invokeUsage(t *testing.T, rep dsu.UsageReport, csv bool, tenantID string) (events.APIGatewayV2HTTPResponse, int) {
	t.Helper()
	f, err := NewFunction(routes.Purchases, routes.ForFunction(routes.Purchases),
		Config{Claims: DefaultClaimNames, Partners: &fakePartners{}, Log: logging.Discard()}, PurchasesEndpoints(PurchasesDeps{Reports: usageReports{rep}}))
	if err != nil {
		t.Fatal(err)
	}
	ev := eventfixtures.HTTP(t, "purchases/get-usage.json")
	if csv {
		ev = eventfixtures.HTTP(t, "purchases/get-usage-csv.json")
	}
	ev.RawQueryString, ev.QueryStringParameters = "month=2026-10", map[string]string{"month": "2026-10"}
	if tenantID != "" {
		ev.RawQueryString += "&tenantId=x"
		ev.QueryStringParameters["tenantId"] = "x"
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(f.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	size := len(out)
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if size <= 64<<10 || resp.StatusCode != 200 { // the schema check of megabytes is slow; their shape is TestUsageReport's
		openapitest.CheckEvent(t, ev, resp)
	}
	return resp, size
}

// However long its tenant ids, a usage report's answer fits in one Lambda
// response: a report that would not is refused 400 on tenantId (ask for
// one tenant at a time), in CSV and in JSON alike. What the API promises
// fits: 1,000 tenants reporting every day of a month, with 128-character
// ids; and one tenant's month always does.
func TestUsageReportFitsInALambdaResponse(t *testing.T) {
	for _, c := range []struct {
		csv           bool
		ids           string
		tenants, days int
		status        int
	}{
		// The promise: 31,000 records of 128-character ids.
		{false, "letters", 1000, 31, 200},
		{true, "letters", 1000, 31, 200},
		// The record cap: as 40,000 rows of CSV it is over 6 MB.
		{true, "letters", 1291, 31, 400},
		// 18,600 rows of quotes: 5.3 MB of CSV, which fits, but the
		// runtime escapes every quote and line end once more.
		{true, "quotes", 600, 31, 400},
		// As JSON, a tenant's id once for its days: 1,291 tenants of
		// every day fit even with the most escaping; 40,000 tenants of
		// one day do not.
		{false, "angles", 1291, 31, 200},
		{false, "letters", 40_000, 1, 400},
	} {
		format := map[bool]string{false: "JSON", true: "CSV"}[c.csv]
		what := fmt.Sprintf("%s, %s ids, %d tenants × %d days", format, c.ids, c.tenants, c.days)
		resp, size := invokeUsage(t, usageOf(c.tenants, c.days, tenantIDs[c.ids]), c.csv, "")
		t.Logf("%s: %d, %d bytes", what, resp.StatusCode, size)
		if size > lambdaResponseLimit {
			t.Errorf("%s: a %d-byte answer (%d), over Lambda's %d", what, size, resp.StatusCode, lambdaResponseLimit)
		}
		if resp.StatusCode != c.status || (c.status == 400 && !strings.Contains(resp.Body, `"field":"tenantId"`)) {
			t.Errorf("%s: %d %.300s; want %d", what, resp.StatusCode, resp.Body, c.status)
		}
	}
	// The quotes case is the runtime's escaping: its CSV alone fits.
	csv, err := usageResponse(&Request{headers: map[string]string{"accept": "text/csv"}}, usageOf(600, 31, tenantIDs["quotes"]))
	if err != nil || len(csv.Body) > lambdaResponseLimit {
		t.Errorf("600 tenants of quotes: %d bytes of CSV, %v", len(csv.Body), err)
	}
	// One tenant's month, as the refusal advises, whatever its id.
	for name, id := range tenantIDs {
		for _, csv := range []bool{false, true} {
			if resp, size := invokeUsage(t, usageOf(1, 31, id), csv, "x"); resp.StatusCode != 200 || size > 64<<10 {
				t.Errorf("one tenant of %s ids (CSV %v): %d, %d bytes", name, csv, resp.StatusCode, size)
			}
		}
	}
}
