package httpapi

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// queryParameters are the query parameters each route accepts (API.md,
// "Query strings"). A route not listed takes none.
var queryParameters = map[string][]string{
	"GET /v1/purchases": {"limit", "cursor"},
	"GET /v1/ledger":    {"limit", "cursor"},
	"GET /v1/audit":     {"limit", "cursor"},
	"GET /v1/usage":     {"month", "tenantId"},
}

// longNumberParameters hold the sync platform's ids, which may be long
// numbers: their values are not taken for card numbers (as on
// POST /v1/internal/usage; API.md, "Card data").
var longNumberParameters = map[string]bool{"tenantId": true}

// maxQueryString bounds the raw query string; a cursor is at most 2 KiB.
const maxQueryString = 4 << 10

// queryField names the query string as a whole in field errors.
const queryField = "query"

// parseQuery reads API Gateway's rawQueryString strictly (API.md, "Query
// strings"). API Gateway also passes queryStringParameters, but it joins a
// repeated parameter's values with commas and leaves out what it cannot
// decode, so the raw string is the only place the rules can be checked, in
// AWS and locally alike.
//
// Refused with 400 validation_failed: bad percent-encoding, an empty or
// nameless parameter, a ';' separator, a value that is not UTF-8 text, a
// repeated parameter, one the route does not accept, and card data. A name
// is repeated in an error only when it is a plain name (isPlainKey); a
// value never is.
func parseQuery(raw string, allowed []string) (map[string]string, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxQueryString {
		return nil, dsu.InvalidField(queryField, "is too long")
	}
	out := map[string]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			return nil, dsu.InvalidField(queryField, "has an empty parameter (a stray '&')")
		}
		if strings.Contains(pair, ";") {
			return nil, dsu.InvalidField(queryField, "separates parameters with ';'; use '&'")
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, dsu.InvalidField(queryField, "has a parameter name that is not valid percent-encoding")
		}
		if name == "" {
			return nil, dsu.InvalidField(queryField, "has a parameter without a name")
		}
		if keyHoldsCardDigits(name) {
			return nil, dsu.InvalidField(queryField, cardMessage)
		}
		field := queryField
		if isPlainKey(name) {
			field = name
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, dsu.InvalidField(field, "is not valid percent-encoding")
		}
		if !utf8.ValidString(value) || strings.ContainsFunc(value, isControl) {
			return nil, dsu.InvalidField(field, "must be UTF-8 text without control characters")
		}
		if LooksLikeCardNumber(value) && !longNumberParameters[name] {
			return nil, dsu.InvalidField(field, cardMessage)
		}
		if !slices.Contains(allowed, name) {
			if field == queryField {
				return nil, dsu.InvalidField(queryField, "has a parameter that is not known")
			}
			return nil, dsu.InvalidField(field, "is not a known query parameter")
		}
		if _, dup := out[name]; dup {
			return nil, dsu.InvalidField(field, "appears more than once")
		}
		out[name] = value
	}
	return out, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
