package httpapi

import (
	"encoding/json"
	"fmt"
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

// ParseClaimList reads a list claim in the forms API Gateway hands it over
// (API.md, "The JWT and its claims"), exactly:
//
//   - "[a b c]": how the JWT authorizer renders an array claim, such as
//     Cognito's groups: the items between the brackets, separated by
//     spaces (Cognito group names have none);
//   - `["a","b"]`: a claim the identity provider issued as a string
//     holding a JSON array of strings;
//   - anything else: one value, as it is.
//
// Nothing else splits a value: a comma, a quote or a bracket inside a
// name is part of the name, so `[x"billing-admin]` is the one group
// `x"billing-admin` and `viewer,billing-admin` is one group too.
func ParseClaimList(v string) []string {
	if v == "" {
		return nil
	}
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return []string{v}
	}
	var items []string
	if json.Unmarshal([]byte(v), &items) != nil {
		items = strings.Split(v[1:len(v)-1], " ")
	}
	return slices.DeleteFunc(items, func(s string) bool { return s == "" })
}

// checkAdminGroup refuses an admin group no rendering could carry intact:
// the claim forms above split on spaces and quote with '"'.
func checkAdminGroup(group string) error {
	if group == "" || strings.ContainsAny(group, " \t\n\"[],") {
		return fmt.Errorf("the admin group %q must be a group name without spaces, quotes, brackets or commas", group)
	}
	return nil
}
