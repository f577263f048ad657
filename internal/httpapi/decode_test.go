package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/dsu"
)

type sample struct {
	Items []struct {
		PackageID string `json:"packageId"`
		Quantity  int64  `json:"quantity"`
	} `json:"items"`
	PaymentMethod string `json:"paymentMethod"`
	Note          string `json:"note"`
}

func jsonRequest(body string) *Request {
	return &Request{Body: []byte(body), headers: map[string]string{"content-type": "application/json"}}
}

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	e, ok := errors.AsType[*dsu.Error](err)
	if !ok || e.Kind != dsu.KindInvalid || len(e.Fields) == 0 {
		t.Fatalf("want a validation error with fields, got %v", err)
	}
	return e.Fields[0].Field
}

func TestDecodeAcceptsValidJSON(t *testing.T) {
	var s sample
	r := jsonRequest(`{"items":[{"packageId":"dsu-1000","quantity":2}],"paymentMethod":"new"}`)
	r.headers["content-type"] = "application/json; charset=UTF-8"
	if err := r.DecodeJSON(&s); err != nil {
		t.Fatal(err)
	}
	if len(s.Items) != 1 || s.Items[0].Quantity != 2 || s.PaymentMethod != "new" {
		t.Fatalf("decoded %+v", s)
	}
}

func TestDecodeRules(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		kind                    dsu.Kind
		field                   string
	}{
		{"no content type", "", `{}`, dsu.KindUnsupportedMediaType, ""},
		{"form", "application/x-www-form-urlencoded", `a=b`, dsu.KindUnsupportedMediaType, ""},
		{"text", "text/plain", `{}`, dsu.KindUnsupportedMediaType, ""},
		{"latin1", "application/json; charset=latin1", `{}`, dsu.KindUnsupportedMediaType, ""},
		{"too large", "application/json", `{"note":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, dsu.KindPayloadTooLarge, ""},
		{"empty", "application/json", ``, dsu.KindInvalid, "body"},
		{"malformed", "application/json", `{"items":`, dsu.KindInvalid, "body"},
		{"two values", "application/json", `{} {}`, dsu.KindInvalid, "body"},
		{"unknown field", "application/json", `{"amount":100}`, dsu.KindInvalid, "amount"},
		{"unknown nested", "application/json", `{"items":[{"packageId":"x","quantity":1,"price":5}]}`, dsu.KindInvalid, "items[0].price"},
		{"duplicate key", "application/json", `{"paymentMethod":"new","paymentMethod":"saved"}`, dsu.KindInvalid, "paymentMethod"},
		{"wrong type", "application/json", `{"items":[{"packageId":"x","quantity":"2"}]}`, dsu.KindInvalid, "items.quantity"},
		{"fraction", "application/json", `{"items":[{"packageId":"x","quantity":1.5}]}`, dsu.KindInvalid, "items.quantity"},
		{"card number field", "application/json", `{"number":"4242"}`, dsu.KindInvalid, "number"},
		{"cardNumber field", "application/json", `{"card":{"cardNumber":"x"}}`, dsu.KindInvalid, "card.cardNumber"},
		{"cvc", "application/json", `{"cvc":"123"}`, dsu.KindInvalid, "cvc"},
		{"CVV upper", "application/json", `{"CVV":"123"}`, dsu.KindInvalid, "CVV"},
		{"pan in a known field", "application/json", `{"note":"4242424242424242"}`, dsu.KindInvalid, "note"},
		{"grouped pan", "application/json", `{"note":"4242 4242 4242 4242"}`, dsu.KindInvalid, "note"},
		{"pan in an array", "application/json", `{"items":[{"packageId":"5555555555554444","quantity":1}]}`, dsu.KindInvalid, "items[0].packageId"},
		{"pan as a number", "application/json", `{"note":4000056655665556}`, dsu.KindInvalid, "note"},
		{"too deep", "application/json", strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40), dsu.KindInvalid, "body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Request{Body: []byte(c.body), headers: map[string]string{}}
			if c.contentType != "" {
				r.headers["content-type"] = c.contentType
			}
			var s sample
			err := r.DecodeJSON(&s)
			if dsu.ErrorKind(err) != c.kind {
				t.Fatalf("kind %s (%v), want %s", dsu.ErrorKind(err), err, c.kind)
			}
			if c.field != "" {
				if f := fieldOf(t, err); f != c.field {
					t.Fatalf("field %q, want %q", f, c.field)
				}
			}
			if c.kind == dsu.KindInvalid && strings.Contains(c.name, "pan") || strings.Contains(c.name, "cv") {
				if !strings.Contains(err.(*dsu.Error).Fields[0].Message, "Stripe Elements") {
					t.Errorf("card data refused without saying why: %v", err)
				}
			}
		})
	}
}

// Keys are compared as encoding/json matches them to fields, and a key is
// named in an error only when it is a plain name: never card data, never
// arbitrary input.
func TestDecodeHostileKeys(t *testing.T) {
	cases := []struct {
		name, body, field, message string
		hostile                    []string // never in the error
	}{
		{"duplicate in another case", `{"paymentMethod":"new","PaymentMethod":"saved"}`, "PaymentMethod", "appears more than once", nil},
		{"duplicate in upper case", `{"items":[{"packageId":"a","PACKAGEID":"b","quantity":1}]}`, "items[0].PACKAGEID", "appears more than once", nil},
		{"duplicate by escape", `{"note":"a","n\u006fte":"b"}`, "note", "appears more than once", nil},
		{"duplicate by Unicode folding", `{"items":[],"item\u017f":[]}`, "body", "has a key that appears more than once", []string{"item\u017f", "itemſ"}},
		{"card number key", `{"4242424242424242":"x"}`, "body", cardMessage, []string{"4242424242424242"}},
		{"card number key nested", `{"items":[{"packageId":"a","quantity":1,"5555 5555 5555 4444":1}]}`, "items[0]", cardMessage, []string{"5555 5555 5555 4444"}},
		{"card number inside a key", `{"card=4000056655665556;exp=12/30":1}`, "body", cardMessage, []string{"4000056655665556"}},
		{"card number key repeated", `{"4242424242424242":1,"4242424242424242":2}`, "body", cardMessage, []string{"4242424242424242"}},
		{"card field in another case", `{"CardNumber":"x"}`, "CardNumber", cardMessage, nil},
		{"unknown key with spaces", `{"my secret key":1}`, "body", "has a key that is not a known field", []string{"my secret key"}},
		{"unknown key nested", `{"items":[{"packageId":"a","quantity":1,"<script>":1}]}`, "items[0]", "has a key that is not a known field", []string{"<script>"}},
		{"unknown plain key under an odd one", `{"odd key":{"x":1}}`, "body", "has a key that is not a known field", []string{"odd key"}},
		{"card value under an odd key", `{"odd key":{"v":"4242424242424242"}}`, "body", cardMessage, []string{"odd key", "4242424242424242"}},
		{"long key", `{"` + strings.Repeat("k", 65) + `":1}`, "body", "has a key that is not a known field", []string{strings.Repeat("k", 65)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s sample
			err := jsonRequest(c.body).DecodeJSON(&s)
			if f := fieldOf(t, err); f != c.field {
				t.Fatalf("field %q, want %q (%v)", f, c.field, err)
			}
			if msg := err.(*dsu.Error).Fields[0].Message; !strings.Contains(msg, c.message) {
				t.Fatalf("message %q, want %q", msg, c.message)
			}
			for _, h := range c.hostile {
				if strings.Contains(err.Error(), h) {
					t.Errorf("the error repeats %q: %v", h, err)
				}
			}
		})
	}
	// A key in another case alone is the field, as encoding/json reads it.
	var s sample
	if err := jsonRequest(`{"PaymentMethod":"saved"}`).DecodeJSON(&s); err != nil || s.PaymentMethod != "saved" {
		t.Fatalf("%v %+v", err, s)
	}
}

func TestFoldKeyAgreesWithEqualFold(t *testing.T) {
	pairs := [][2]string{{"paymentMethod", "PAYMENTMETHOD"}, {"items", "item\u017f"}, {"k", "\u212a"}, {"straße", "STRASSE"}, {"Σ", "ς"}, {"a", "b"}, {"1", "１"}}
	for _, p := range pairs {
		a, _ := strconv.Unquote(`"` + p[0] + `"`)
		b, _ := strconv.Unquote(`"` + p[1] + `"`)
		if (foldKey(a) == foldKey(b)) != bytes.EqualFold([]byte(a), []byte(b)) {
			t.Errorf("%q and %q: foldKey says %v, bytes.EqualFold %v", a, b, foldKey(a) == foldKey(b), bytes.EqualFold([]byte(a), []byte(b)))
		}
	}
}

func TestCardNumberHeuristic(t *testing.T) {
	cards := []string{"4242424242424242", "4000 0566 5566 5556", "5555-5555-5555-4444", "378282246310005", "6011111111111117", "3056930009020004"}
	for _, c := range cards {
		if !LooksLikeCardNumber(c) {
			t.Errorf("%q not recognised", c)
		}
	}
	notCards := []string{"+49 151 12345678", "0049 151 1234 5670", "123456789012", "dsu-100000", "2026-11-29", "DE123456789", "12345678901234567890", "-4242424242424242", "4242 4242 4242 4242 "}
	for _, c := range notCards {
		if LooksLikeCardNumber(c) {
			t.Errorf("%q taken for a card", c)
		}
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, ok := range []string{"", "  ", "{}"} {
		r := jsonRequest(ok)
		if err := r.DecodeEmpty(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if err := jsonRequest(`{"x":1}`).DecodeEmpty(); fieldOf(t, err) != "x" {
		t.Error("a field in a body-less request passed")
	}
}

func TestNewRequestDecodesBase64(t *testing.T) {
	ev := events.APIGatewayV2HTTPRequest{Body: base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)), IsBase64Encoded: true,
		Headers: map[string]string{"Content-Type": "application/json"}}
	r, err := NewRequest(&ev)
	if err != nil || string(r.Body) != `{"a":1}` || r.Header("content-type") != "application/json" {
		t.Fatalf("%v %q", err, r.Body)
	}
	ev.Body = "!!!"
	if _, err := NewRequest(&ev); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Fatalf("bad base64: %v", err)
	}
	ev.Body = strings.Repeat("A", base64.StdEncoding.EncodedLen(maxAnyBody)+4)
	if _, err := NewRequest(&ev); dsu.ErrorKind(err) != dsu.KindPayloadTooLarge {
		t.Fatalf("huge base64: %v", err)
	}
}

// The internal usage route takes long numeric ids (the sync platform is
// the caller, never a person with a card); card field names stay refused.
func TestUsageBodiesMayHoldLongNumbers(t *testing.T) {
	var body struct {
		Records []struct {
			PartnerID string `json:"partnerId"`
			TenantID  string `json:"tenantId"`
		} `json:"records"`
	}
	r := jsonRequest(`{"records":[{"partnerId":"4242424242424242","tenantId":"1234567890123"}]}`)
	if err := r.decodeJSONUpTo(&body, 1<<20, false); err != nil || body.Records[0].TenantID != "1234567890123" {
		t.Fatalf("%v %+v", err, body)
	}
	r = jsonRequest(`{"records":[{"partnerId":"p","cvc":"123"}]}`)
	if err := r.decodeJSONUpTo(&body, 1<<20, false); fieldOf(t, err) != "records[0].cvc" {
		t.Fatal("a card field name passed")
	}
}
