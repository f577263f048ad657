package routes

import (
	"regexp"
	"slices"
	"testing"
)

func TestTableIsWellFormed(t *testing.T) {
	keys := map[string]bool{}
	pathRe := regexp.MustCompile(`^/v1(/([a-z0-9-]+|\{[a-zA-Z]+\}))+$`)
	for _, r := range All {
		if keys[r.Key()] {
			t.Errorf("duplicate route %s", r.Key())
		}
		keys[r.Key()] = true
		if !pathRe.MatchString(r.Path) {
			t.Errorf("%s: path is not a /v1 template", r.Key())
		}
		if !slices.Contains(Functions, r.Function) {
			t.Errorf("%s: unknown function %q", r.Key(), r.Function)
		}
		switch r.Auth {
		case AuthJWT, AuthIAM, AuthNone:
		default:
			t.Errorf("%s: unknown auth %q", r.Key(), r.Auth)
		}
		// §3: only the webhook is public, only /v1/internal/* uses IAM.
		if (r.Auth == AuthNone) != (r.Path == "/v1/stripe/webhook") {
			t.Errorf("%s: auth %s", r.Key(), r.Auth)
		}
		if (r.Auth == AuthIAM) != regexp.MustCompile(`^/v1/internal/`).MatchString(r.Path) {
			t.Errorf("%s: auth %s", r.Key(), r.Auth)
		}
	}
}

func TestMatch(t *testing.T) {
	r, params, ok := Match(All, "GET", "/v1/packages")
	if !ok || r.Key() != "GET /v1/packages" || len(params) != 0 {
		t.Fatalf("Match = %+v %v %v", r, params, ok)
	}
	for _, miss := range [][2]string{{"POST", "/v1/packages"}, {"GET", "/v1/packages/x"}, {"GET", "/v2/packages"}, {"GET", "/"}} {
		if _, _, ok := Match(All, miss[0], miss[1]); ok {
			t.Errorf("%s %s matched", miss[0], miss[1])
		}
	}
}

func TestMatchPathParameters(t *testing.T) {
	params, ok := MatchPath("/v1/purchases/{id}/confirm", "/v1/purchases/pur_1/confirm")
	if !ok || params["id"] != "pur_1" {
		t.Fatalf("MatchPath = %v %v", params, ok)
	}
	if _, ok := MatchPath("/v1/purchases/{id}", "/v1/purchases/"); ok {
		t.Error("an empty parameter matched")
	}
	table := []Route{
		{Method: "GET", Path: "/v1/purchases/{id}"},
		{Method: "GET", Path: "/v1/purchases/latest"},
	}
	if r, _, _ := Match(table, "GET", "/v1/purchases/latest"); r.Path != "/v1/purchases/latest" {
		t.Errorf("a literal segment lost to a parameter: %s", r.Path)
	}
}
