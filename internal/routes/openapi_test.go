package routes_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
)

// docs/openapi.yaml, loaded and validated by kin-openapi, must describe
// exactly the routes of the table, each with the authorization API Gateway
// applies to it. internal/openapitest checks the responses themselves.

// operations maps "GET /v1/purchases/{id}" to its documented operation.
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops
}

// parameterRefs lists the component parameters an operation and its path
// item use.
func parameterRefs(item *openapi3.PathItem, op *openapi3.Operation) []string {
	var refs []string
	for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
		refs = append(refs, p.Ref)
	}
	return refs
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := openapitest.Document(t)
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("not an OpenAPI 3.1 document: %q", doc.OpenAPI)
	}
	ops := operations(doc)
	if len(ops) == 0 {
		t.Fatal("no operations under paths")
	}
	for _, r := range routes.All {
		if _, ok := ops[r.Key()]; !ok {
			t.Errorf("%s is in the route table but not in docs/openapi.yaml", r.Key())
		}
	}
	for key := range ops {
		if _, ok := routes.ByKey(key); !ok {
			t.Errorf("docs/openapi.yaml documents %s, which no function serves", key)
		}
	}

	want := map[routes.Auth][]string{routes.AuthJWT: {"bearerAuth"}, routes.AuthIAM: {"awsSigV4"}, routes.AuthNone: {}}
	for _, r := range routes.All {
		op, ok := ops[r.Key()]
		if !ok {
			continue
		}
		// Explicit on every operation, so the document-wide default never
		// silently applies to the webhook or the IAM route.
		if op.Security == nil {
			t.Errorf("%s: no security of its own", r.Key())
		} else {
			schemes := []string{}
			for _, req := range *op.Security {
				for name := range req {
					schemes = append(schemes, name)
				}
			}
			slices.Sort(schemes)
			if !slices.Equal(schemes, want[r.Auth]) {
				t.Errorf("%s: security %v, want %v (auth %s)", r.Key(), schemes, want[r.Auth], r.Auth)
			}
		}
		responds := func(status int) bool { return op.Responses.Status(status) != nil }
		if r.Auth == routes.AuthJWT && !responds(401) {
			t.Errorf("%s: 401 not documented", r.Key())
		}
		if r.Auth == routes.AuthJWT && r.Write() && !responds(403) {
			t.Errorf("%s: a write without the billing-admin group is 403; not documented", r.Key())
		}
		// Every portal write decodes a body (JSON, or none / {}), so it can
		// refuse one as invalid, too large or not JSON.
		if r.Auth == routes.AuthJWT && r.Write() {
			for _, s := range []int{400, 413, 415} {
				if !responds(s) {
					t.Errorf("%s: a write decodes a body; %d not documented", r.Key(), s)
				}
			}
		}
		for _, s := range []int{500, 503} {
			if !responds(s) {
				t.Errorf("%s: %d not documented", r.Key(), s)
			}
		}
		if op.Responses.Default() != nil {
			t.Errorf("%s: a default response would let any status pass", r.Key())
		}
		refs := parameterRefs(doc.Paths.Value(r.Path), op)
		if strings.Contains(r.Path, "{") && !slices.ContainsFunc(refs, func(ref string) bool { return strings.HasPrefix(ref, "#/components/parameters/") }) {
			t.Errorf("%s: the path parameter is not documented", r.Key())
		}
	}
	// The headers and query parameters the contract names.
	for key, ref := range map[string]string{
		"POST /v1/purchases":      "#/components/parameters/IdempotencyKey",
		"POST /v1/stripe/webhook": "#/components/parameters/StripeSignature",
		"GET /v1/purchases":       "#/components/parameters/Cursor",
		"GET /v1/ledger":          "#/components/parameters/Limit",
	} {
		r, _ := routes.ByKey(key)
		if op, ok := ops[key]; ok && !slices.Contains(parameterRefs(doc.Paths.Value(r.Path), op), ref) {
			t.Errorf("%s does not use %s", key, ref)
		}
	}
}
