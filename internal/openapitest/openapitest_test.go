package openapitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
)

// objectSchemasWithoutDecision walks schema and returns where an object
// schema leaves additionalProperties unsaid (kin-openapi, like JSON Schema,
// then accepts any extra field).
func objectSchemasWithoutDecision(where string, ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) []string {
	if ref == nil || ref.Value == nil {
		return nil
	}
	s := ref.Value
	if ref.Ref != "" {
		where = ref.Ref
	}
	if seen[s] {
		return nil
	}
	seen[s] = true
	var out []string
	if (s.Type.Includes(openapi3.TypeObject) || len(s.Properties) > 0) && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
		out = append(out, where)
	}
	for name, p := range s.Properties {
		out = append(out, objectSchemasWithoutDecision(where+"."+name, p, seen)...)
	}
	out = append(out, objectSchemasWithoutDecision(where+"[]", s.Items, seen)...)
	out = append(out, objectSchemasWithoutDecision(where+"{}", s.AdditionalProperties.Schema, seen)...)
	for _, group := range []struct {
		name string
		refs openapi3.SchemaRefs
	}{{"oneOf", s.OneOf}, {"anyOf", s.AnyOf}, {"allOf", s.AllOf}} {
		for i, r := range group.refs {
			out = append(out, objectSchemasWithoutDecision(fmt.Sprintf("%s.%s[%d]", where, group.name, i), r, seen)...)
		}
	}
	return out
}

// A field the code sends and the document lacks must fail a test, and
// kin-openapi rejects unknown fields only where a schema says
// additionalProperties: false. So every object a response can carry decides:
// closed, or an explicit open map.
func TestEveryResponseObjectDecidesAdditionalProperties(t *testing.T) {
	doc := Document(t)
	seen := map[*openapi3.Schema]bool{}
	var open []string
	responses := 0
	walk := func(where string, r *openapi3.ResponseRef) {
		if r == nil || r.Value == nil {
			return
		}
		for mt, media := range r.Value.Content {
			responses++
			open = append(open, objectSchemasWithoutDecision(where+" "+mt, media.Schema, seen)...)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, r := range op.Responses.Map() {
				walk(method+" "+path+" "+status, r)
			}
		}
	}
	for name, r := range doc.Components.Responses {
		walk("#/components/responses/"+name, r)
	}
	if responses < 20 {
		t.Fatalf("only %d response bodies found: the walk is broken", responses)
	}
	slices.Sort(open)
	for _, where := range slices.Compact(open) {
		t.Errorf("%s: an object schema of a response without an additionalProperties decision", where)
	}
}

// balance is a correct GET /v1/balance answer.
const balance = `{"units":2000,"threshold":500,"dailyAverage":null,"runwayDays":null,"asOf":"2026-11-12T10:00:00Z"}`

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

func TestValidatorCatchesWhatTheDocumentDoesNotSay(t *testing.T) {
	doc := Document(t)
	problem := http.Header{"Content-Type": {"application/problem+json"}}
	const forbidden = `{"type":"urn:dsu-billing:problem:forbidden","title":"Forbidden","status":403,"detail":"no","code":"forbidden"}`
	for _, c := range []struct {
		name, route string
		status      int
		header      http.Header
		body        string
		want        string // in the error; "" for valid
	}{
		{"valid", "GET /v1/balance", 200, jsonHeader, balance, ""},
		{"valid by route key", "GET /v1/purchases/{id}", 404, problem, strings.ReplaceAll(forbidden, "forbidden", "not_found"), ""},
		{"valid by concrete path", "GET /v1/purchases/pur_1", 404, problem, strings.ReplaceAll(forbidden, "forbidden", "not_found"), ""},
		{"undocumented status by concrete path", "GET /v1/purchases/pur_1", 403, problem, forbidden, "status is not supported"},
		{"valid problem", "PUT /v1/billing/card", 403, problem, forbidden, ""},
		{"undocumented field", "GET /v1/balance", 200, jsonHeader, strings.Replace(balance, `{`, `{"secret":"x",`, 1), "secret"},
		{"undocumented nested field", "GET /v1/billing", 200, jsonHeader, `{"partnerId":"p","currency":"usd","stripeCustomerId":null,"contact":null,"address":null,"vatId":null,` +
			`"card":{"brand":"visa","last4":"4242","expMonth":1,"expYear":2031,"expiresSoon":false,"paymentMethodId":"pm_1"},` +
			`"autoRefill":{"enabled":false,"packageId":null,"threshold":0,"monthlyLimit":null,"status":"off","pausedReason":null},"balance":{"units":1}}`, "paymentMethodId"},
		{"undocumented problem field", "PUT /v1/billing/card", 403, problem, strings.Replace(forbidden, `{`, `{"stack":"main.go:1",`, 1), "stack"},
		{"undocumented status", "GET /v1/balance", 418, jsonHeader, balance, "status is not supported"},
		{"undocumented status of a write", "GET /v1/balance", 403, problem, forbidden, "status is not supported"},
		{"wrong type", "GET /v1/balance", 200, jsonHeader, strings.Replace(balance, `"units":2000`, `"units":"2000"`, 1), "units"},
		{"missing field", "GET /v1/balance", 200, jsonHeader, strings.Replace(balance, `"asOf":"2026-11-12T10:00:00Z"`, `"asOf2":1`, 1), "asOf"},
		{"value outside the enum", "PUT /v1/billing/card", 403, problem, strings.Replace(forbidden, `"code":"forbidden"`, `"code":"nope"`, 1), "code"},
		{"undocumented content type", "GET /v1/balance", 200, http.Header{"Content-Type": {"text/plain"}}, balance, "text/plain"},
		{"no content type", "GET /v1/balance", 200, http.Header{}, balance, "Content-Type"},
		{"problem as plain JSON", "PUT /v1/billing/card", 403, jsonHeader, forbidden, "application/json"},
		{"not a route", "GET /v1/nowhere", 200, jsonHeader, `{}`, "no such route"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(doc, c.route, c.status, c.header, []byte(c.body))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("a valid response refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatal("accepted")
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("the error does not name %q: %v", c.want, err)
			}
		})
	}
}

// kin-openapi accepts any body for a response that documents no content;
// the contract says there is none, so a body is a mismatch.
func TestABodyWhereNoneIsDocumented(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(`
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /v1/balance:
    get:
      responses:
        '204': {description: nothing}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(doc, "GET /v1/balance", 204, http.Header{}, nil); err != nil {
		t.Fatalf("an empty 204 refused: %v", err)
	}
	if err := Validate(doc, "GET /v1/balance", 204, jsonHeader, []byte(`{"units":1}`)); err == nil || !strings.Contains(err.Error(), "describes none") {
		t.Fatalf("a body on a documented empty response: %v", err)
	}
}

// recorder is a testing.TB whose Errorf is recorded rather than failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckResponseFailsTheTest(t *testing.T) {
	rec := &recorder{TB: t}
	ok := events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: balance}
	CheckResponse(rec, "GET /v1/balance", ok)
	CheckEvent(rec, events.APIGatewayV2HTTPRequest{RouteKey: "GET /v1/balance"}, ok)
	if len(rec.errs) != 0 {
		t.Fatalf("valid responses failed: %v", rec.errs)
	}
	bad := ok
	bad.Body = strings.Replace(balance, `"units":2000`, `"units":2000.5`, 1)
	CheckResponse(rec, "GET /v1/balance", bad)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "GET /v1/balance (getBalance) → 200") {
		t.Fatalf("errors %v", rec.errs)
	}
	// A base64 body is checked decoded, as API Gateway sends it.
	rec.errs = nil
	CheckResponse(rec, "GET /v1/balance", events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: ok.Headers,
		Body: "eyJ1bml0cyI6MX0=", IsBase64Encoded: true}) // {"units":1}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "asOf") {
		t.Fatalf("errors %v", rec.errs)
	}
	rec.errs = nil
	CheckProblem(rec, events.APIGatewayV2HTTPResponse{StatusCode: 500, Headers: map[string]string{"Content-Type": "application/problem+json"},
		Body: `{"type":"t","title":"t","status":500,"detail":"d","code":"internal","trace":"x"}`})
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "trace") {
		t.Fatalf("errors %v", rec.errs)
	}
}

func TestTransportChecksAPIResponsesOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/balance":
			io.WriteString(w, strings.Replace(balance, `{`, `{"extra":1,`, 1))
		default: // stripe-mock, say
			io.WriteString(w, `{"id":"cus_1","object":"customer"}`)
		}
	}))
	defer srv.Close()
	rec := &recorder{TB: t}
	client := &http.Client{Transport: Transport(rec, nil)}
	for _, path := range []string{"/v1/customers", "/v1/balance"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(body) == 0 {
			t.Fatalf("%s: the body did not reach the test", path)
		}
	}
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "GET /v1/balance (getBalance) → 200") || !strings.Contains(rec.errs[0], "extra") {
		t.Fatalf("errors %v", rec.errs)
	}
}
