package localstack

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func claimsFor(admin bool) TokenClaims {
	return TokenClaims{PartnerID: "acme", Admin: admin, TTL: time.Hour, PartnerClaim: "custom:partner_id", GroupsClaim: "cognito:groups", AdminGroup: "billing-admin"}
}

func TestTokenRoundTripRendersClaimsLikeAPIGateway(t *testing.T) {
	secret := []byte("local-dev-secret")
	tok, err := SignToken(secret, claimsFor(true), now)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := VerifyToken(secret, tok, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if claims["custom:partner_id"] != "acme" || claims["cognito:groups"] != "[billing-admin]" {
		t.Fatalf("claims %v", claims)
	}
	if claims["exp"] != strconv.FormatInt(now.Add(time.Hour).Unix(), 10) {
		t.Fatalf("numbers must arrive as their decimal string, got exp=%q", claims["exp"])
	}
	reader, _ := SignToken(secret, claimsFor(false), now)
	claims, _ = VerifyToken(secret, reader, now)
	if claims["cognito:groups"] != "[]" {
		t.Fatalf("groups %q", claims["cognito:groups"])
	}
	if _, err := SignToken(secret, TokenClaims{TTL: time.Hour}, now); err == nil {
		t.Error("a token without a partner was issued")
	}
}

func TestVerifyRefusesBadTokens(t *testing.T) {
	secret := []byte("local-dev-secret")
	tok, _ := SignToken(secret, claimsFor(true), now)
	parts := strings.Split(tok, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"custom:partner_id":"victim","exp":9999999999}`))
	cases := map[string]string{
		"expired":        tok,
		"wrong secret":   tok,
		"alg none":       none + "." + parts[1] + ".",
		"forged payload": parts[0] + "." + forged + "." + parts[2],
		"not a jwt":      "abc",
		"bad base64":     parts[0] + ".!!!." + parts[2],
	}
	for name, tk := range cases {
		s, at := secret, now
		switch name {
		case "expired":
			at = now.Add(2 * time.Hour)
		case "wrong secret":
			s = []byte("other")
		}
		if _, err := VerifyToken(s, tk, at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	secret := []byte("k")
	tok, _ := SignToken(secret, claimsFor(true), now)
	f.Add(tok)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := VerifyToken(secret, token, now)
		if err != nil {
			return
		}
		// Anything accepted must carry a valid signature over its content.
		parts := strings.Split(token, ".")
		if len(parts) != 3 || base64.RawURLEncoding.EncodeToString(sign(secret, parts[0]+"."+parts[1])) != parts[2] && claims != nil {
			t.Fatalf("accepted an unsigned token %q", token)
		}
	})
}
