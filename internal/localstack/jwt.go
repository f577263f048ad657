package localstack

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The local stack stands in for API Gateway's JWT authorizer with HS256
// tokens signed by DSU_LOCAL_JWT_SECRET. Production verifies RS256
// tokens from the identity provider; handlers see the same claims either way.

// TokenClaims describes a local token.
type TokenClaims struct {
	PartnerID string
	Admin     bool
	TTL       time.Duration
	// Claim names, as the functions are configured.
	PartnerClaim, GroupsClaim, AdminGroup string
}

// SignToken issues an HS256 JWT like the portal's identity provider would.
func SignToken(secret []byte, c TokenClaims, now time.Time) (string, error) {
	if c.PartnerID == "" {
		return "", errors.New("a partner id is required")
	}
	groups := []string{}
	if c.Admin {
		groups = append(groups, c.AdminGroup)
	}
	claims := map[string]any{
		"sub":          "local-user-" + c.PartnerID,
		"iss":          "dsu-local",
		"token_use":    "id",
		"iat":          now.Unix(),
		"exp":          now.Add(c.TTL).Unix(),
		c.PartnerClaim: c.PartnerID,
		c.GroupsClaim:  groups,
	}
	header := b64(mustJSON(map[string]string{"alg": "HS256", "typ": "JWT"}))
	payload := b64(mustJSON(claims))
	return header + "." + payload + "." + b64(sign(secret, header+"."+payload)), nil
}

// VerifyToken checks an HS256 token's signature and expiry and returns its
// claims rendered the way API Gateway hands them to a Lambda function: every
// value a string, arrays as "[a b]".
func VerifyToken(secret []byte, token string, now time.Time) (map[string]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &header) != nil {
		return nil, errors.New("bad header")
	}
	// Only HS256: never "none", never an algorithm the token picks.
	if header.Alg != "HS256" {
		return nil, fmt.Errorf("algorithm %q not accepted", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, sign(secret, parts[0]+"."+parts[1])) {
		return nil, errors.New("bad signature")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("bad payload")
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, errors.New("bad payload")
	}
	exp, ok := raw["exp"].(json.Number)
	if !ok {
		return nil, errors.New("no exp claim")
	}
	expAt, err := exp.Int64()
	if err != nil || !now.Before(time.Unix(expAt, 0)) {
		return nil, errors.New("token expired")
	}
	if nbf, ok := raw["nbf"].(json.Number); ok {
		if at, err := nbf.Int64(); err != nil || now.Before(time.Unix(at, 0)) {
			return nil, errors.New("token not yet valid")
		}
	}
	claims := make(map[string]string, len(raw))
	for k, v := range raw {
		claims[k] = renderClaim(v)
	}
	return claims, nil
}

// renderClaim renders a claim value as API Gateway does for HTTP APIs.
func renderClaim(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return fmt.Sprint(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = renderClaim(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case nil:
		return ""
	default:
		return string(mustJSON(t))
	}
}

func sign(secret []byte, data string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
