package routes

import (
	"regexp"
	"slices"
	"strings"
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
		// API.md, "Identity and roles": only the webhook is public; the
		// sync platform's /v1/internal/* and the operators' /v1/admin/*
		// use IAM, served by their own functions.
		if (r.Auth == AuthNone) != (r.Path == "/v1/stripe/webhook") {
			t.Errorf("%s: auth %s", r.Key(), r.Auth)
		}
		if (r.Auth == AuthIAM) != regexp.MustCompile(`^(/v1/internal/|/v1/admin/)`).MatchString(r.Path) {
			t.Errorf("%s: auth %s", r.Key(), r.Auth)
		}
		if strings.HasPrefix(r.Path, AdminPrefix) != (r.Function == Admin) {
			t.Errorf("%s: operator routes and only they are served by the admin function, not %s", r.Key(), r.Function)
		}
	}
}
