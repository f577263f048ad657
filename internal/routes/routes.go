// Package routes is the one table of HTTP routes (docs/API.md, "Routes"):
// which function serves each route and how API Gateway authorizes it. The
// CDK stack generates the HTTP API from it, the local stack emulates API
// Gateway from it, and each function's handler dispatches by it.
package routes

import "slices"

// Auth is how API Gateway authorizes a route.
type Auth string

const (
	AuthJWT  Auth = "jwt"  // the JWT authorizer; handlers read the claims
	AuthIAM  Auth = "iam"  // SigV4-signed callers with an IAM policy (open in the local stack)
	AuthNone Auth = "none" // public; the handler authenticates (Stripe signatures)
)

// Function names, one per directory under functions/.
const (
	Billing       = "billing"
	Purchases     = "purchases"
	StripeWebhook = "stripewebhook"
	AutoRefill    = "autorefill"
	Usage         = "usage"
	Admin         = "admin"
)

// Functions lists every Lambda function, HTTP or not.
var Functions = []string{Billing, Purchases, StripeWebhook, AutoRefill, Usage, Admin}

// Path prefixes of the IAM-authorized routes: the sync platform's and the
// operators'. Each caller's role may invoke its own prefix only.
const (
	InternalPrefix = "/v1/internal/"
	AdminPrefix    = "/v1/admin/"
)

// Route is one method and path template, as API Gateway writes route keys.
type Route struct {
	Method   string
	Path     string // with {name} parameters
	Function string
	Auth     Auth
}

// Key is the API Gateway route key, "GET /v1/purchases/{id}".
func (r Route) Key() string { return r.Method + " " + r.Path }

// Write reports whether the route changes state (and so needs the admin
// group on JWT routes).
func (r Route) Write() bool {
	return r.Method == "POST" || r.Method == "PUT" || r.Method == "DELETE" || r.Method == "PATCH"
}

// adminReads are the reads that also need the admin group: who changed
// what is for the partner's billing admins.
var adminReads = map[string]bool{"GET /v1/audit": true}

// NeedsAdminGroup reports whether a JWT route needs the admin group: every
// write, and the reads of adminReads.
func (r Route) NeedsAdminGroup() bool { return r.Write() || adminReads[r.Key()] }

// All is the route table (docs/API.md, "Routes").
var All = []Route{
	{"GET", "/v1/billing", Billing, AuthJWT},
	{"PUT", "/v1/billing/contact", Billing, AuthJWT},
	{"POST", "/v1/billing/card/setup-intent", Billing, AuthJWT},
	{"PUT", "/v1/billing/card", Billing, AuthJWT},
	{"DELETE", "/v1/billing/card", Billing, AuthJWT},
	{"PUT", "/v1/billing/auto-refill", Billing, AuthJWT},
	{"GET", "/v1/audit", Billing, AuthJWT},

	{"GET", "/v1/packages", Purchases, AuthJWT},
	{"POST", "/v1/purchases", Purchases, AuthJWT},
	{"GET", "/v1/purchases", Purchases, AuthJWT},
	{"GET", "/v1/purchases/{id}", Purchases, AuthJWT},
	{"POST", "/v1/purchases/{id}/confirm", Purchases, AuthJWT},
	{"GET", "/v1/balance", Purchases, AuthJWT},
	{"GET", "/v1/ledger", Purchases, AuthJWT},
	{"GET", "/v1/usage", Purchases, AuthJWT},
	{"GET", "/v1/statements/{month}", Purchases, AuthJWT},

	{"POST", "/v1/stripe/webhook", StripeWebhook, AuthNone},

	{"POST", "/v1/internal/usage", Usage, AuthIAM},

	{"GET", "/v1/admin/partners/{partnerId}", Admin, AuthIAM},
	{"POST", "/v1/admin/partners/{partnerId}/adjustments", Admin, AuthIAM},
	{"POST", "/v1/admin/partners/{partnerId}/dispute-hold/release", Admin, AuthIAM},
	{"GET", "/v1/admin/partners/{partnerId}/verify", Admin, AuthIAM},
}

// ForFunction returns the routes a function serves.
func ForFunction(fn string) []Route {
	var out []Route
	for _, r := range All {
		if r.Function == fn {
			out = append(out, r)
		}
	}
	return out
}

// ByKey finds a route by its route key.
func ByKey(key string) (Route, bool) {
	i := slices.IndexFunc(All, func(r Route) bool { return r.Key() == key })
	if i < 0 {
		return Route{}, false
	}
	return All[i], true
}
