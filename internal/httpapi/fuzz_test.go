package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// The decoders see hostile input first. They must never panic, and every
// refusal must be a client error of a known kind.

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`, `{"a":{"b":[1,2,{"c":"4242424242424242"}]}}`, `[`, `{"items":null}`, `"x"`, `{"note":"\u0000"}`,
		`{"items":[{"packageId":"x","quantity":"1"}]}`, `{"items":[{"odd key":1}]}`, `{"ITEMS":[{"PackageID":1}]}`, `{"item\u017f":{"a b":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var s sample
		err := jsonRequest(string(body)).DecodeJSON(&s)
		if err == nil {
			return
		}
		e, ok := errors.AsType[*dsu.Error](err)
		if !ok {
			t.Fatalf("untyped error %v", err)
		}
		switch e.Kind {
		case dsu.KindInvalid:
			if len(e.Fields) == 0 {
				t.Fatal("validation error without a field")
			}
			// Unknown fields and type errors too name plain keys only.
			if f := e.Fields[0].Field; !plainField(f) {
				t.Fatalf("the error names %q", f)
			}
		case dsu.KindPayloadTooLarge:
		default:
			t.Fatalf("kind %s for a body", e.Kind)
		}
	})
}

// plainSegment is one part of a field an error may name: a plain key
// and its indices ("items[1]"), or indices alone at the top ("[0]").
var plainSegment = regexp.MustCompile(`^([A-Za-z0-9_-]{1,64})?(\[[0-9]+\])*$`)

// plainField reports "body" or a path of plain segments, none of whose
// keys holds card digits.
func plainField(f string) bool {
	if f == "body" {
		return true
	}
	for seg := range strings.SplitSeq(f, ".") {
		if seg == "" || !plainSegment.MatchString(seg) {
			return false
		}
		key, _, _ := strings.Cut(seg, "[")
		if keyHoldsCardDigits(key) {
			return false
		}
	}
	return true
}

// FuzzScanJSON checks the key rules against an independent reading of the
// body: what the scanner accepts has no two keys of one object that
// encoding/json would match to the same field (bytes.EqualFold) and no key
// that looks like card data; what it refuses names only plain fields.
func FuzzScanJSON(f *testing.F) {
	for _, s := range []string{
		`{"paymentMethod":"new","PaymentMethod":"saved"}`, `{"4242424242424242":"x"}`, `{"items":[],"item\u017f":[]}`,
		`{"k":1,"\u212a":2}`, `{"a":{"b":{"CVC":1}}}`, `{"note":"x","n\u006fte":"y"}`, `{"x y":{"4242 4242 4242 4242":1}}`,
		`{"a":[{"b":1},{"b":2,"B":3}]}`, `{}`, `[]`, `{"a":"\ud800"}`,
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, cardDigits bool) {
		if len(body) > MaxBodyBytes {
			return // refused before the scan; the oracle below is quadratic
		}
		err := scanJSON(body, cardDigits)
		if err != nil {
			e, ok := errors.AsType[*dsu.Error](err)
			if !ok || e.Kind != dsu.KindInvalid || len(e.Fields) != 1 {
				t.Fatalf("refusal %v", err)
			}
			if f := e.Fields[0].Field; !plainField(f) {
				t.Fatalf("the error names %q", f)
			}
			return
		}
		if problem := independentKeyCheck(json.NewDecoder(bytes.NewReader(body))); problem != "" {
			t.Fatalf("accepted %q although %s", body, problem)
		}
	})
}

// independentKeyCheck reads one JSON value and reports a key rule it
// breaks, comparing every pair of keys of an object with bytes.EqualFold.
func independentKeyCheck(dec *json.Decoder) string {
	tok, err := dec.Token()
	if err != nil {
		return ""
	}
	d, ok := tok.(json.Delim)
	if !ok || (d != '{' && d != '[') {
		return ""
	}
	var keys []string
	for dec.More() {
		if d == '{' {
			kt, _ := dec.Token()
			k, _ := kt.(string)
			for _, prev := range keys {
				if bytes.EqualFold([]byte(prev), []byte(k)) {
					return fmt.Sprintf("keys %q and %q are one field", prev, k)
				}
			}
			for _, card := range []string{"number", "cardNumber", "cvc", "cvv"} {
				if bytes.EqualFold([]byte(card), []byte(k)) {
					return fmt.Sprintf("key %q is a card field", k)
				}
			}
			if n := strings.Count(strings.Map(func(r rune) rune {
				if unicode.IsDigit(r) {
					return '1'
				}
				return -1
			}, k), "1"); n >= 13 {
				return fmt.Sprintf("key %q holds %d digits", k, n)
			}
			keys = append(keys, k)
		}
		if p := independentKeyCheck(dec); p != "" {
			return p
		}
	}
	_, _ = dec.Token()
	return ""
}

func FuzzNewRequest(f *testing.F) {
	f.Add("eyJhIjoxfQ==", true)
	f.Add(`{"a":1}`, false)
	f.Add("", true)
	f.Fuzz(func(t *testing.T, body string, b64 bool) {
		ev := events.APIGatewayV2HTTPRequest{Body: body, IsBase64Encoded: b64}
		r, err := NewRequest(&ev)
		if err != nil {
			if k := dsu.ErrorKind(err); k != dsu.KindInvalid && k != dsu.KindPayloadTooLarge {
				t.Fatalf("kind %s", k)
			}
			return
		}
		if !b64 && string(r.Body) != body {
			t.Fatal("plain body changed")
		}
	})
}

// FuzzParseClaimList checks exact group matching two ways. A claim makes
// an admin only through one of the three forms: the value itself, a
// space-separated item of "[a b]", or an element of a JSON array. And a
// group name that is not the admin group, rendered as API Gateway renders
// Cognito's groups ("[g]", "[viewer g]") or alone, never makes an admin,
// except where two forms are the same string (API.md, "The JWT and its
// claims"): a name that is a JSON string of the admin group
// (`"billing-admin"`, quotes included), whose rendering `["billing-admin"]`
// is also a JSON array of it, and a bracketed name (`[billing-admin]`)
// issued alone as a string claim.
func FuzzParseClaimList(f *testing.F) {
	for _, s := range []string{"[billing-admin]", "[a b c]", `["a","b"]`, "a,b", "", "[", "]", `x"billing-admin`, `"billing-admin`, "billing-admin,", "billing-admins", `"billing-admin"`} {
		f.Add(s)
	}
	const admin = "billing-admin"
	f.Fuzz(func(t *testing.T, v string) {
		groups := ParseClaimList(v)
		for _, g := range groups {
			if g == "" {
				t.Fatal("empty group")
			}
		}
		if slices.Contains(groups, admin) {
			var arr []string
			viaJSON := json.Unmarshal([]byte(v), &arr) == nil && slices.Contains(arr, admin)
			viaBrackets := strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") && len(v) >= 2 &&
				slices.Contains(strings.Split(v[1:len(v)-1], " "), admin)
			if v != admin && !viaJSON && !viaBrackets {
				t.Fatalf("%q made an admin", v)
			}
		}
		// v as one group name.
		if v == admin || strings.ContainsAny(v, " ") {
			return // Cognito group names have no spaces
		}
		var arr []string
		ambiguous := json.Unmarshal([]byte("["+v+"]"), &arr) == nil
		bracketed := strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]")
		for _, rendered := range []string{"[" + v + "]", "[viewer " + v + "]", v} {
			if (ambiguous && rendered == "["+v+"]") || (bracketed && rendered == v) {
				continue
			}
			if slices.Contains(ParseClaimList(rendered), admin) {
				t.Fatalf("the group %q, rendered %q, made an admin", v, rendered)
			}
		}
	})
}

func FuzzLooksLikeCardNumber(f *testing.F) {
	f.Add("4242424242424242")
	f.Add("4242 4242 4242 4242")
	f.Fuzz(func(t *testing.T, s string) {
		if LooksLikeCardNumber(s) {
			digits := 0
			for _, c := range s {
				if c >= '0' && c <= '9' {
					digits++
				}
			}
			if digits < 13 || digits > 19 {
				t.Fatalf("%q has %d digits", s, digits)
			}
		}
	})
}

// FuzzParseQuery checks the strict query parser against net/url: what it
// accepts, url.ParseQuery reads to the same single values of accepted
// names; what it refuses names "query" or a plain parameter name only.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"limit=10&cursor=abc.def", "cursor=%%%garbage", "limit=1&limit=2", "limit=1&li%6Dit=2", "a;b", "&", "=",
		"4242424242424242=1", "cursor=4242+4242+4242+4242", "cursor=%FF", "cursor=a+b%20c", "partnerId=p1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := parseQuery(raw, []string{"limit", "cursor"})
		if err != nil {
			e, ok := errors.AsType[*dsu.Error](err)
			if !ok || e.Kind != dsu.KindInvalid || len(e.Fields) != 1 {
				t.Fatalf("refusal %v", err)
			}
			if field := e.Fields[0].Field; field != queryField && !isPlainKey(field) {
				t.Fatalf("the error names %q", field)
			}
			return
		}
		want, perr := url.ParseQuery(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which net/url refuses: %v", raw, perr)
		}
		if len(want) != len(got) {
			t.Fatalf("%q: %v, net/url %v", raw, got, want)
		}
		for k, vs := range want {
			if (k != "limit" && k != "cursor") || len(vs) != 1 || got[k] != vs[0] {
				t.Fatalf("%q: accepted %s=%v (got %q)", raw, k, vs, got[k])
			}
			if LooksLikeCardNumber(vs[0]) || !utf8.ValidString(vs[0]) {
				t.Fatalf("%q: accepted the value %q", raw, vs[0])
			}
		}
	})
}
