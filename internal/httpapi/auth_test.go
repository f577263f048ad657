package httpapi

import (
	"reflect"
	"testing"

	"github.com/cirasync/dsubilling/internal/dsu"
)

func TestParseClaimList(t *testing.T) {
	cases := map[string][]string{
		"[billing-admin]":            {"billing-admin"},
		"[viewer billing-admin]":     {"viewer", "billing-admin"},
		`["viewer","billing-admin"]`: {"viewer", "billing-admin"},
		"viewer,billing-admin":       {"viewer", "billing-admin"},
		"billing-admin":              {"billing-admin"},
		"[]":                         {},
		"":                           {},
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
