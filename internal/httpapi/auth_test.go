package httpapi

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/logging"

	"github.com/cirasync/dsubilling/internal/dsu"
)

func TestParseClaimList(t *testing.T) {
	cases := map[string][]string{
		"[billing-admin]":            {"billing-admin"},
		"[viewer billing-admin]":     {"viewer", "billing-admin"},
		`["viewer","billing-admin"]`: {"viewer", "billing-admin"},
		`[ "viewer" , "x" ]`:         {"viewer", "x"},
		"billing-admin":              {"billing-admin"},
		"[]":                         {},
		"":                           {},
		// Exactly one value each: nothing but the two array forms splits.
		"viewer,billing-admin":     {"viewer,billing-admin"},
		"viewer billing-admin":     {"viewer billing-admin"},
		`[x"billing-admin]`:        {`x"billing-admin`},
		`["billing-admin]`:         {`"billing-admin`},
		`[billing-admin"]`:         {`billing-admin"`},
		`[x,billing-admin]`:        {"x,billing-admin"},
		`[viewer "billing-admin"]`: {"viewer", `"billing-admin"`},
		"[":                        {"["},
	}
	for in, want := range cases {
		got := ParseClaimList(in)
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseClaimList(%q) = %q, want %q", in, got, want)
		}
	}
}

// A group whose name merely contains the admin group, or adds quotes,
// brackets or commas around it, never makes an admin.
func TestAdminGroupMatchesExactly(t *testing.T) {
	for _, groups := range []string{
		`[x"billing-admin]`, `["billing-admin]`, `[billing-admin"]`, `[x,billing-admin]`, `[billing-admins]`, `[xbilling-admin]`,
		`[viewer "billing-admin]`, `x"billing-admin`, `"billing-admin"`, `viewer,billing-admin`, `viewer billing-admin`,
		`billing-admin,viewer`, `[billing-admin,]`, `[[billing-admin]]`, `["x\"billing-admin"]`, `["billing-admin "]`,
		`[BILLING-ADMIN]`, ` billing-admin`, `billing-admin `, `[billing-admin\u0000]`,
	} {
		id, err := DefaultClaimNames.Identify(map[string]string{"custom:partner_id": "p1", "cognito:groups": groups})
		if err != nil || id.Admin {
			t.Errorf("groups %q made an admin (%v)", groups, err)
		}
	}
	for _, groups := range []string{"[billing-admin]", "[viewer billing-admin]", `["viewer","billing-admin"]`, "billing-admin"} {
		id, err := DefaultClaimNames.Identify(map[string]string{"custom:partner_id": "p1", "cognito:groups": groups})
		if err != nil || !id.Admin {
			t.Errorf("groups %q did not make an admin (%v)", groups, err)
		}
	}
}

func TestNewFunctionRefusesAnAdminGroupNoClaimCanCarry(t *testing.T) {
	ok := func(context.Context, *Request) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{}, nil
	}
	for _, group := range []string{"", "billing admin", `billing"admin`, "[admin]", "a,b"} {
		cfg := Config{Claims: ClaimNames{Partner: "p", Groups: "g", AdminGroup: group}, Partners: &fakePartners{}, Log: logging.Discard()}
		if _, err := NewFunction("test", testRoutes[:1], cfg, map[string]Endpoint{"GET /v1/things": ok}); err == nil {
			t.Errorf("admin group %q accepted", group)
		}
	}
}

func TestIdentify(t *testing.T) {
	names := DefaultClaimNames
	id, err := names.Identify(map[string]string{"custom:partner_id": "p1", "cognito:groups": "[viewer billing-admin]"})
	if err != nil || id.PartnerID != "p1" || !id.Admin {
		t.Fatalf("%+v %v", id, err)
	}
	id, err = names.Identify(map[string]string{"custom:partner_id": "p1", "cognito:groups": "[billing-admins]"})
	if err != nil || id.Admin {
		t.Fatalf("a group merely containing the admin group's name made an admin: %+v", id)
	}
	for _, claims := range []map[string]string{nil, {"custom:partner_id": ""}, {"custom:partner_id": "  "}, {"sub": "x"}, {"custom:partner_id": "a#b"}} {
		if _, err := names.Identify(claims); dsu.ErrorKind(err) != dsu.KindUnauthenticated {
			t.Errorf("%v: %v", claims, err)
		}
	}
	custom := ClaimNames{Partner: "tenant", Groups: "roles", AdminGroup: "owner"}
	id, err = custom.Identify(map[string]string{"tenant": "t9", "roles": "[owner]"})
	if err != nil || id.PartnerID != "t9" || !id.Admin {
		t.Fatalf("configured claim names ignored: %+v %v", id, err)
	}
}
