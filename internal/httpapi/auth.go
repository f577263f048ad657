package httpapi

import (
	"slices"
	"strings"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// ClaimNames says which JWT claims carry the partner and the groups, and
// which group may write (API.md, "Identity and roles"; all configurable).
type ClaimNames struct {
	Partner    string // custom:partner_id
	Groups     string // cognito:groups
	AdminGroup string // billing-admin
}

// DefaultClaimNames are Cognito's names and the spec's admin group.
var DefaultClaimNames = ClaimNames{Partner: "custom:partner_id", Groups: "cognito:groups", AdminGroup: "billing-admin"}

// Identity is who is calling, from the verified claims.
type Identity struct {
	PartnerID string
	Admin     bool
}

// Identify reads the caller from the claims API Gateway's JWT authorizer
// passed on. The partner always comes from the token, never from the path,
// query or body.
func (c ClaimNames) Identify(claims map[string]string) (Identity, error) {
	partner := strings.TrimSpace(claims[c.Partner])
	if partner == "" {
		return Identity{}, dsu.Errorf(dsu.KindUnauthenticated, "the token names no partner")
	}
	if err := dsu.ValidatePartnerID(partner); err != nil {
		return Identity{}, dsu.Errorf(dsu.KindUnauthenticated, "the token's partner id is not usable")
	}
	return Identity{PartnerID: partner, Admin: slices.Contains(ParseClaimList(claims[c.Groups]), c.AdminGroup)}, nil
}

// ParseClaimList reads a list claim as API Gateway renders it: "[a b c]".
// A JSON array or a comma-separated list is accepted too, so a change of
// rendering never silently drops the admin group.
func ParseClaimList(v string) []string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
	out := fields[:0]
	for _, f := range fields {
		if f = strings.Trim(f, `"`); f != "" {
			out = append(out, f)
		}
	}
	return out
}
