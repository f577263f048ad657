package httpapi

import (
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// The decoders see hostile input first. They must never panic, and every
// refusal must be a client error of a known kind.

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`, `{"a":{"b":[1,2,{"c":"4242424242424242"}]}}`, `[`, `{"items":null}`, `"x"`, `{"note":"\u0000"}`} {
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
		case dsu.KindPayloadTooLarge:
		default:
			t.Fatalf("kind %s for a body", e.Kind)
		}
	})
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

func FuzzParseClaimList(f *testing.F) {
	for _, s := range []string{"[billing-admin]", "[a b c]", `["a","b"]`, "a,b", "", "[", "]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, g := range ParseClaimList(v) {
			if g == "" {
				t.Fatal("empty group")
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
