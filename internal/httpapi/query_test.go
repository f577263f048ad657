package httpapi

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
)

var pageParams = []string{"limit", "cursor"}

// Tenant ids are the sync platform's, and may be long numbers.
func TestTenantIDsMayBeLongNumbers(t *testing.T) {
	usage := queryParameters["GET /v1/usage"]
	got, err := parseQuery("month=2026-11&tenantId=4242424242424242", usage)
	if err != nil || got["tenantId"] != "4242424242424242" {
		t.Fatalf("%v %v", err, got)
	}
	if _, err := parseQuery("month=4242424242424242", usage); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Fatalf("a card number as the month: %v", err)
	}
}

func TestParseQueryAccepts(t *testing.T) {
	cases := map[string]map[string]string{
		"":                            nil,
		"limit=10":                    {"limit": "10"},
		"limit=10&cursor=abc.def":     {"limit": "10", "cursor": "abc.def"},
		"cursor=a%2Eb":                {"cursor": "a.b"},
		"cursor=a+b":                  {"cursor": "a b"},
		"limit":                       {"limit": ""},
		"cursor=":                     {"cursor": ""},
		"cursor=%E2%82%AC&limit=1":    {"cursor": "€", "limit": "1"},
		"cursor=x%3Dy&limit=100":      {"cursor": "x=y", "limit": "100"},
		"cursor=YWJj.ZGVm-_&limit=25": {"cursor": "YWJj.ZGVm-_", "limit": "25"},
	}
	for raw, want := range cases {
		got, err := parseQuery(raw, pageParams)
		if err != nil {
			t.Errorf("%q: %v", raw, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%q: %v, want %v", raw, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%q: %s=%q, want %q", raw, k, got[k], v)
			}
		}
	}
}

// Every malformed query string is a 400 naming the parameter (when its
// name is plain) or "query", and repeats no hostile name or value.
func TestParseQueryRefuses(t *testing.T) {
	cases := []struct {
		raw, field, message string
		allowed             []string
		hostile             []string
	}{
		{"cursor=%%%garbage", "cursor", "percent-encoding", pageParams, []string{"garbage"}},
		{"cursor=%zz", "cursor", "percent-encoding", pageParams, nil},
		{"cursor=%E2%82", "cursor", "UTF-8", pageParams, nil},
		{"cursor=%FF", "cursor", "UTF-8", pageParams, nil},
		{"cursor=a%00b", "cursor", "control", pageParams, nil},
		{"li%mit=1", "query", "percent-encoding", pageParams, nil},
		{"limit=1&limit=2", "limit", "more than once", pageParams, nil},
		{"limit=1&li%6Dit=2", "limit", "more than once", pageParams, nil},
		{"cursor=a&cursor=a", "cursor", "more than once", pageParams, nil},
		{"limit=1&", "query", "empty parameter", pageParams, nil},
		{"&limit=1", "query", "empty parameter", pageParams, nil},
		{"limit=1;cursor=x", "query", "';'", pageParams, nil},
		{"=1", "query", "without a name", pageParams, nil},
		{"partnerId=p-other", "partnerId", "not a known query parameter", pageParams, []string{"p-other"}},
		{"LIMIT=5", "LIMIT", "not a known query parameter", pageParams, nil},
		{"limit=5", "limit", "not a known query parameter", nil, nil},
		{"a%20b=1", "query", "not known", pageParams, []string{"a b", "a%20b"}},
		{"4242424242424242=1", "query", "Stripe Elements", pageParams, []string{"4242424242424242"}},
		{"card%204242%204242%204242%204242=1", "query", "Stripe Elements", pageParams, []string{"4242"}},
		{"cursor=4242424242424242", "cursor", "Stripe Elements", pageParams, []string{"4242424242424242"}},
		{"note=4242+4242+4242+4242", "note", "Stripe Elements", pageParams, []string{"4242"}},
		{"cursor=" + strings.Repeat("a", maxQueryString), "query", "too long", pageParams, nil},
	}
	for _, c := range cases {
		t.Run(c.raw[:min(len(c.raw), 40)], func(t *testing.T) {
			_, err := parseQuery(c.raw, c.allowed)
			e, ok := errors.AsType[*dsu.Error](err)
			if !ok || e.Kind != dsu.KindInvalid || len(e.Fields) != 1 {
				t.Fatalf("%q: %v", c.raw, err)
			}
			if e.Fields[0].Field != c.field || !strings.Contains(e.Fields[0].Message, c.message) {
				t.Fatalf("%q: %+v, want field %q and %q", c.raw, e.Fields[0], c.field, c.message)
			}
			for _, h := range c.hostile {
				if strings.Contains(err.Error(), h) {
					t.Errorf("the error repeats %q: %v", h, err)
				}
			}
		})
	}
}

// The handler reads rawQueryString, not queryStringParameters, whose
// joined or dropped values would hide a repeated or malformed parameter.
func TestNewRequestReadsTheRawQueryString(t *testing.T) {
	ev := events.APIGatewayV2HTTPRequest{RouteKey: "GET /v1/ledger", RawQueryString: "limit=1&limit=2",
		QueryStringParameters: map[string]string{"limit": "1,2"}}
	if _, err := NewRequest(&ev); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Fatalf("a repeated parameter: %v", err)
	}
	ev.RawQueryString, ev.QueryStringParameters = "cursor=%%%garbage", nil
	if _, err := NewRequest(&ev); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Fatalf("bad percent-encoding: %v", err)
	}
	ev.RawQueryString = "limit=7"
	r, err := NewRequest(&ev)
	if err != nil || r.Query["limit"] != "7" {
		t.Fatalf("%v %v", err, r.Query)
	}
	page, err := ParsePage(r.Query)
	if err != nil || page.Limit != 7 {
		t.Fatalf("%v %+v", err, page)
	}
	// A route that takes no query refuses any.
	ev.RouteKey, ev.RawQueryString = "GET /v1/billing", "limit=7"
	if _, err := NewRequest(&ev); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Fatalf("a parameter on a route without any: %v", err)
	}
}

// queryParameters is the contract of docs/openapi.yaml: each route accepts
// exactly the query parameters its operation documents.
func TestQueryParametersAreTheDocumentedOnes(t *testing.T) {
	doc := openapitest.Document(t)
	for _, r := range routes.All {
		_, op, ok, err := openapitest.Operation(doc, r.Key())
		if err != nil || !ok {
			t.Fatalf("%s: %v", r.Key(), err)
		}
		var documented []string
		params := op.Parameters
		if item := doc.Paths.Find(r.Path); item != nil {
			params = append(params, item.Parameters...)
		}
		for _, p := range params {
			if p.Value != nil && p.Value.In == "query" {
				documented = append(documented, p.Value.Name)
			}
		}
		accepted := slices.Clone(queryParameters[r.Key()])
		slices.Sort(documented)
		slices.Sort(accepted)
		if !slices.Equal(documented, accepted) {
			t.Errorf("%s: documented %v, accepted %v", r.Key(), documented, accepted)
		}
	}
	for key := range queryParameters {
		if _, ok := routes.ByKey(key); !ok {
			t.Errorf("query parameters for %s, which is not a route", key)
		}
	}
}
