package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// MaxBodyBytes is the largest request body accepted (API.md, "Request bodies").
const MaxBodyBytes = 16 << 10

// cardMessage is the answer to anything that looks like card data.
const cardMessage = "card details are entered through Stripe Elements only and must never be sent to this API"

// cardFieldNames are field names that only card data would use, in the
// folded form of foldKey (compared as encoding/json compares keys).
var cardFieldNames = map[string]bool{"NUMBER": true, "CARDNUMBER": true, "CVC": true, "CVV": true}

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
// errors without echoing input values. Field paths name only keys that are
// plain names (see fieldPath); the scanner has already refused keys that
// look like card data.
func decodeError(err error, body []byte, dst any) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		// Field is built from the names dst declares, except under a map,
		// where it holds input keys: keep only the plain part.
		field := rootPath
		if te.Field != "" {
			for seg := range strings.SplitSeq(te.Field, ".") {
				field = field.key(seg)
			}
		}
		return dsu.InvalidField(field.String(), "must be "+jsonTypeName(te.Type.Kind().String()))
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		// encoding/json names only the key; find where it is.
		var v any
		if json.Unmarshal(body, &v) == nil {
			if path, ok := unknownFieldPath(v, reflect.TypeOf(dst), rootPath); ok {
				if path.named {
					return dsu.InvalidField(path.String(), "is not a known field")
				}
				return dsu.InvalidField(path.String(), "has a key that is not a known field")
			}
		}
		return dsu.InvalidField("body", "has a key that is not a known field")
	}
	return dsu.InvalidField("body", "is not valid JSON")
}

// unknownFieldPath walks a decoded JSON value alongside the Go type it was
// decoded into and returns the path of the first key the type does not
// declare, matching keys to fields as encoding/json does.
func unknownFieldPath(v any, t reflect.Type, path fieldPath) (fieldPath, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch val := v.(type) {
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return fieldPath{}, false
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
			fields[foldKey(name)] = f.Type
		}
		keys := make([]string, 0, len(val))
		for k := range val {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fields[foldKey(k)]
			if !ok {
				return path.key(k), true
			}
			if p, ok := unknownFieldPath(val[k], ft, path.key(k)); ok {
				return p, true
			}
		}
	case []any:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return fieldPath{}, false
		}
		for i, e := range val {
			if p, ok := unknownFieldPath(e, t.Elem(), path.index(i)); ok {
				return p, true
			}
		}
	}
	return fieldPath{}, false
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
// duplicate object keys (which encoding/json would silently resolve, and
// which it matches case-insensitively) and anything that looks like card
// data, keys included.
func scanJSON(body []byte, cardDigits bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := scanValue(dec, rootPath, 0, cardDigits); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dsu.InvalidField("body", "must hold exactly one JSON value")
	}
	return nil
}

const maxDepth = 32

func scanValue(dec *json.Decoder, path fieldPath, depth int, cardDigits bool) error {
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
				// Card data first: such a key is never named, not even as a
				// duplicate.
				if keyHoldsCardDigits(k) {
					return dsu.InvalidField(path.String(), cardMessage)
				}
				field := path.key(k)
				folded := foldKey(k)
				if seen[folded] {
					if field.named {
						return dsu.InvalidField(field.String(), "appears more than once (keys are compared ignoring letter case)")
					}
					return dsu.InvalidField(field.String(), "has a key that appears more than once (keys are compared ignoring letter case)")
				}
				seen[folded] = true
				if cardFieldNames[folded] {
					return dsu.InvalidField(field.String(), cardMessage)
				}
				if err := scanValue(dec, field, depth+1, cardDigits); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := scanValue(dec, path.index(i), depth+1, cardDigits); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return dsu.InvalidField("body", "is not valid JSON")
		}
	case string:
		if cardDigits && LooksLikeCardNumber(t) {
			return dsu.InvalidField(path.String(), cardMessage)
		}
	case json.Number:
		if cardDigits && LooksLikeCardNumber(t.String()) {
			return dsu.InvalidField(path.String(), cardMessage)
		}
	}
	return nil
}

// foldKey is the form in which encoding/json compares an object key with a
// field name: two keys are the same field exactly when their folded forms
// are equal (bytes.EqualFold). ASCII letters fold to upper case, and every
// other rune to the smallest rune of its case-folding orbit, so the Kelvin
// sign folds with "k" and the long s with "s", as in encoding/json.
func foldKey(k string) string {
	var b strings.Builder
	b.Grow(len(k))
	for _, r := range k {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteByte(byte(r))
			continue
		}
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				r = next
				break
			}
			r = next
		}
		b.WriteRune(r)
	}
	return b.String()
}

// keyHoldsCardDigits reports a key with 13 or more digits, anywhere in it:
// the length of a card number. No field of this API has a digit in its
// name, so such a key is refused as card data whatever surrounds the
// digits.
func keyHoldsCardDigits(k string) bool {
	digits := 0
	for _, r := range k {
		if unicode.IsDigit(r) {
			digits++
		}
	}
	return digits >= 13
}

// fieldPath is the path of a field as error messages name it:
// "items[1].quantity". Only plain keys (isPlainKey) are named: at the
// first other key the path stops growing and names the object that holds
// it, so an error never repeats arbitrary input.
type fieldPath struct {
	s     string
	named bool // the path names the field itself, not an ancestor
}

var rootPath = fieldPath{named: true}

func (p fieldPath) key(k string) fieldPath {
	if !p.named || !isPlainKey(k) {
		return fieldPath{s: p.s}
	}
	if p.s == "" {
		return fieldPath{s: k, named: true}
	}
	return fieldPath{s: p.s + "." + k, named: true}
}

func (p fieldPath) index(i int) fieldPath {
	if !p.named {
		return p
	}
	return fieldPath{s: p.s + "[" + strconv.Itoa(i) + "]", named: true}
}

// String is the path, or "body" for the body as a whole.
func (p fieldPath) String() string {
	if p.s == "" {
		return "body"
	}
	return p.s
}

// maxPlainKey bounds the keys an error may name; this API's longest field
// name is far shorter.
const maxPlainKey = 64

// isPlainKey reports a key that may be repeated in an error: 1–64 ASCII
// letters, digits, '_' or '-', and fewer than 13 digits. Every field name
// of this API is one.
func isPlainKey(k string) bool {
	if k == "" || len(k) > maxPlainKey || keyHoldsCardDigits(k) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
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
