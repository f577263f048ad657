package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// MaxBodyBytes is the largest request body accepted (API.md, "Request bodies").
const MaxBodyBytes = 16 << 10

// cardMessage is the answer to anything that looks like card data.
const cardMessage = "card details are entered through Stripe Elements only and must never be sent to this API"

// cardFieldNames are field names that only card data would use (compared
// case-insensitively).
var cardFieldNames = map[string]bool{"number": true, "cardnumber": true, "cvc": true, "cvv": true}

// DecodeJSON applies the input rules (API.md, "Input rules") to the body and decodes it into dst:
// 413 over 16 KiB; 415 unless application/json; 400 for malformed JSON,
// duplicate keys, anything that looks like card data, unknown fields and
// wrong types, each naming the field.
func (r *Request) DecodeJSON(dst any) error { return r.decodeJSONUpTo(dst, MaxBodyBytes, true) }

// decodeJSONUpTo applies the rules with another size limit. cardDigits
// says whether bare 13–19 digit values count as card data: not on the
// internal usage route, whose ids may be long numbers and whose caller is
// the sync platform, never a person with a card (card field names are
// refused everywhere).
func (r *Request) decodeJSONUpTo(dst any, limit int, cardDigits bool) error {
	if len(r.Body) > limit {
		return dsu.Errorf(dsu.KindPayloadTooLarge, "the request body is larger than %d bytes", limit)
	}
	if err := checkJSONContentType(r.Header("Content-Type")); err != nil {
		return err
	}
	return decodeStrict(r.Body, dst, cardDigits)
}

// DecodeEmpty accepts a body-less request: an empty body or "{}". Anything
// else is an unknown field.
func (r *Request) DecodeEmpty() error {
	if len(bytes.TrimSpace(r.Body)) == 0 {
		return nil
	}
	var none struct{}
	return r.DecodeJSON(&none)
}

func checkJSONContentType(ct string) error {
	unsupported := dsu.Errorf(dsu.KindUnsupportedMediaType, "send the body as application/json")
	if ct == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupported
	}
	return nil
}

func decodeStrict(body []byte, dst any, cardDigits bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return dsu.InvalidField("body", "a JSON body is required")
	}
	// First pass: syntax, duplicate keys and card data, over the generic
	// structure, so the card check sees fields dst does not declare.
	if err := scanJSON(body, cardDigits); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, body, dst)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dsu.InvalidField("body", "must hold exactly one JSON value")
	}
	return nil
}

// decodeError turns encoding/json's errors into field-level validation
// errors without echoing input values.
func decodeError(err error, body []byte, dst any) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return dsu.InvalidField(field, "must be "+jsonTypeName(te.Type.Kind().String()))
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		name, _ := strconv.Unquote(strings.TrimPrefix(msg, "json: unknown field "))
		// encoding/json names only the key; find where it is.
		var v any
		if json.Unmarshal(body, &v) == nil {
			if path := unknownFieldPath(v, reflect.TypeOf(dst), ""); path != "" {
				name = path
			}
		}
		return dsu.InvalidField(name, "is not a known field")
	}
	return dsu.InvalidField("body", "is not valid JSON")
}

// unknownFieldPath walks a decoded JSON value alongside the Go type it was
// decoded into and returns the path of the first key the type does not
// declare.
func unknownFieldPath(v any, t reflect.Type, path string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return ""
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fields[strings.ToLower(name)] = f.Type
		}
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				return joinPath(path, k)
			}
			if p := unknownFieldPath(val[k], ft, joinPath(path, k)); p != "" {
				return p
			}
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return ""
		}
		for i, e := range val {
			if p := unknownFieldPath(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

func jsonTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "struct", kind == "map", kind == "ptr":
		return "an object"
	}
	return "of another type"
}

// scanJSON walks the body token by token: it rejects malformed JSON,
// duplicate object keys (which encoding/json would silently resolve) and
// anything that looks like card data.
func scanJSON(body []byte, cardDigits bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := scanValue(dec, "", 0, cardDigits); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dsu.InvalidField("body", "must hold exactly one JSON value")
	}
	return nil
}

const maxDepth = 32

func scanValue(dec *json.Decoder, path string, depth int, cardDigits bool) error {
	if depth > maxDepth {
		return dsu.InvalidField("body", "is nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return dsu.InvalidField("body", "is not valid JSON")
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return dsu.InvalidField("body", "is not valid JSON")
				}
				k, _ := kt.(string)
				field := joinPath(path, k)
				if seen[k] {
					return dsu.InvalidField(field, "appears more than once")
				}
				seen[k] = true
				if cardFieldNames[strings.ToLower(k)] {
					return dsu.InvalidField(field, cardMessage)
				}
				if err := scanValue(dec, field, depth+1, cardDigits); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := scanValue(dec, fmt.Sprintf("%s[%d]", path, i), depth+1, cardDigits); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return dsu.InvalidField("body", "is not valid JSON")
		}
	case string:
		if cardDigits && LooksLikeCardNumber(t) {
			return dsu.InvalidField(orBody(path), cardMessage)
		}
	case json.Number:
		if cardDigits && LooksLikeCardNumber(t.String()) {
			return dsu.InvalidField(orBody(path), cardMessage)
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orBody(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

// LooksLikeCardNumber reports a 13–19 digit string (API.md, "Card data"), also when grouped
// by spaces or hyphens the way people type card numbers.
func LooksLikeCardNumber(s string) bool {
	if len(s) < 13 || len(s) > 19+6 {
		return false
	}
	digits, grouped := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case (c == ' ' || c == '-') && i > 0 && i < len(s)-1:
			grouped = true
		default:
			return false
		}
	}
	if digits < 13 || digits > 19 {
		return false
	}
	// A bare run of digits is refused outright. Grouped digits must also
	// pass the Luhn check, so a long phone number typed with spaces is not
	// mistaken for a card.
	return !grouped || luhn(s)
}

func luhn(s string) bool {
	sum, double := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
