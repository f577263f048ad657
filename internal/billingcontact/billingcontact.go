// Package billingcontact checks and normalises a partner's billing contact,
// address and VAT id: the body of PUT /v1/billing/contact (docs/openapi.yaml).
// Field names in errors are the JSON paths of that request body.
//
// The domain types, dsu.Contact and dsu.Address, stay in package dsu; this
// package holds only the rules, which are long and change for reasons of their
// own (a new country's postal code, a VAT format, another role mailbox).
package billingcontact

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Limits of the fields. Lengths are counted in runes, except the email
// address, whose limits (RFC 5321) are in bytes; addresses are ASCII only, so
// the two agree there.
const (
	nameMinLen       = 2
	nameMaxLen       = 100
	emailMaxLen      = 254
	emailLocalMaxLen = 64
	lineMaxLen       = 200
	cityMaxLen       = 100
	stateMaxLen      = 100
	postalMaxLen     = 20
	phoneMaxLen      = 40
	phoneMinDigits   = 7
	phoneMaxDigits   = 15
)

const (
	msgRequired    = "is required"
	msgControl     = "must not contain control characters"
	msgInvalidUTF8 = "must be valid UTF-8 text"
	// msgRoleAccount is for an email address that belongs to a shared mailbox
	// instead of a person.
	msgRoleAccount = "must be a person's address, not a shared role account such as support@"
)

// Normalize checks contact, address and VAT id together and returns nil or a
// *dsu.Error of dsu.KindInvalid listing every failing field (one message per
// field), named by the JSON paths of the request body: "contact",
// "contact.name", "contact.email", "contact.phone", "address",
// "address.line1", "address.line2", "address.city", "address.state",
// "address.postalCode", "address.country", "vatId".
//
// It also normalises: it trims surrounding white space from every field,
// lower-cases the email's domain, upper-cases the country, the postal code,
// the state of US and CA addresses and the VAT id, and strips spaces, dots
// and hyphens from the VAT id. Case changes touch ASCII letters only. The
// normalised values are returned even when err is not nil (zero values for a
// nil contact or address); once err is nil, normalising them again changes
// nothing and passes.
//
// The rules:
//   - contact and address are required; the VAT id is optional.
//   - No field may hold invalid UTF-8 or control characters (C0, C1, line
//     and paragraph separators, bidirectional embeddings, overrides and
//     isolates).
//   - contact.name: 2–100 characters with at least one letter and no "@".
//   - contact.email: a bare ASCII address (no display name, no quoted local
//     part, no comments) of at most 254 bytes; local part at most 64 bytes;
//     the domain a host name with at least two labels and an alphabetic
//     top-level label of at least two letters (so IDN top-level domains are
//     refused); never a role account (see isRoleAccount).
//   - contact.phone: optional; an optional leading "+", then 7–15 digits
//     separated by spaces, hyphens, dots or one level of parentheses.
//   - address.line1 (≤ 200), address.city (≤ 100) and address.postalCode
//     (≤ 20) are required; address.line2 (≤ 200) is optional;
//     address.state (≤ 100) is optional except for US (a USPS state,
//     district, territory or armed forces code) and CA (a province or
//     territory code).
//   - address.country: an officially assigned ISO 3166-1 alpha-2 code.
//   - address.postalCode must have the format of the country for US, CA, GB,
//     DE, FR, NL, AT, BE, CH, DK, NO and IE (Eircode); elsewhere 2–12
//     ASCII letters, digits, spaces or hyphens.
//   - vatId: optional; a supported prefix (the EU member states with EL for
//     Greece, XI, GB, CH, NO) followed by that country's format; formats
//     only, no check digits.
func Normalize(c *dsu.Contact, a *dsu.Address, vatID string) (dsu.Contact, dsu.Address, string, error) {
	var v dsu.Validation
	var contact dsu.Contact
	var address dsu.Address

	if c == nil {
		v.Add("contact", msgRequired)
	} else {
		contact = normalizeContact(*c)
		checkContact(&v, contact)
	}
	if a == nil {
		v.Add("address", msgRequired)
	} else {
		address = normalizeAddress(*a)
		checkAddress(&v, address)
	}
	vat := normalizeVATID(vatID)
	// Judged on the input: an id of separators only normalises to "" and
	// is refused, not taken for an absent one.
	if strings.TrimSpace(vatID) != "" {
		if msg := vatIDProblem(vat); msg != "" {
			v.Add("vatId", msg)
		}
	}
	return contact, address, vat, v.Err()
}

func normalizeContact(c dsu.Contact) dsu.Contact {
	c.Name = strings.TrimSpace(c.Name)
	c.Email = strings.TrimSpace(c.Email)
	if at := strings.LastIndexByte(c.Email, '@'); at >= 0 {
		c.Email = c.Email[:at+1] + lowerASCII(c.Email[at+1:])
	}
	c.Phone = strings.TrimSpace(c.Phone)
	return c
}

func normalizeAddress(a dsu.Address) dsu.Address {
	a.Line1 = strings.TrimSpace(a.Line1)
	a.Line2 = strings.TrimSpace(a.Line2)
	a.City = strings.TrimSpace(a.City)
	a.Country = upperASCII(strings.TrimSpace(a.Country))
	a.State = strings.TrimSpace(a.State)
	if _, coded := stateCodes[a.Country]; coded {
		a.State = upperASCII(a.State)
	}
	a.PostalCode = upperASCII(strings.TrimSpace(a.PostalCode))
	return a
}

// normalizeVATID trims a VAT id, removes the spaces, dots and hyphens people
// write into it and upper-cases its ASCII letters.
func normalizeVATID(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteByte(s[i]) // keep invalid bytes so validation sees them
		case r == '.' || r == '-' || unicode.Is(unicode.Zs, r):
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return upperASCII(b.String())
}

// A rule returns what is wrong with a present (non-empty) field value, or "".
type rule func(s string) string

// check records the first problem with field's value s: ifEmpty when s is
// empty (an optional field passes empty, with ifEmpty ""), else the first
// rule that fails. It reports whether s is present and passed every rule.
func check(v *dsu.Validation, field, s, ifEmpty string, rules ...rule) bool {
	if s == "" {
		if ifEmpty != "" {
			v.Add(field, ifEmpty)
		}
		return false
	}
	for _, r := range rules {
		if msg := r(s); msg != "" {
			v.Add(field, msg)
			return false
		}
	}
	return true
}

func checkContact(v *dsu.Validation, c dsu.Contact) {
	check(v, "contact.name", c.Name, msgRequired, textProblem, runeLength(nameMinLen, nameMaxLen), personNameProblem)
	check(v, "contact.email", c.Email, msgRequired, textProblem, emailProblem, roleAccountProblem)
	check(v, "contact.phone", c.Phone, "", textProblem, phoneProblem)
}

func checkAddress(v *dsu.Validation, a dsu.Address) {
	check(v, "address.line1", a.Line1, msgRequired, textProblem, runeLength(1, lineMaxLen))
	check(v, "address.line2", a.Line2, "", textProblem, runeLength(0, lineMaxLen))
	check(v, "address.city", a.City, msgRequired, textProblem, runeLength(1, cityMaxLen))

	country := "" // the country, once valid, whose rules apply to state and postal code
	if check(v, "address.country", a.Country, msgRequired, textProblem, countryProblem) {
		country = a.Country
	}

	if codes, coded := stateCodes[country]; coded {
		check(v, "address.state", a.State, "is required for "+country+" addresses", textProblem, codes.problem)
	} else {
		check(v, "address.state", a.State, "", textProblem, runeLength(0, stateMaxLen))
	}

	check(v, "address.postalCode", a.PostalCode, msgRequired, textProblem, runeLength(1, postalMaxLen), postalCodeRule(country))
}

// textProblem reports invalid UTF-8 and control characters: the rules every
// field shares, checked first.
func textProblem(s string) string {
	if !utf8.ValidString(s) {
		return msgInvalidUTF8
	}
	for _, r := range s {
		if isControl(r) {
			return msgControl
		}
	}
	return ""
}

// isControl is true for C0 and C1 controls, line and paragraph separators
// and the bidirectional embeddings, overrides and isolates that can make text
// display as something other than what it is.
func isControl(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028' || r == '\u2029':
		return true
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// runeLength bounds a field's length in characters.
func runeLength(min, max int) rule {
	return func(s string) string {
		switch n := utf8.RuneCountInString(s); {
		case n < min:
			return fmt.Sprintf("must be at least %d characters", min)
		case n > max:
			return fmt.Sprintf("must be at most %d characters", max)
		}
		return ""
	}
}

func personNameProblem(s string) string {
	switch {
	case strings.ContainsRune(s, '@'):
		return "must be a person's name, not an email address"
	case strings.IndexFunc(s, unicode.IsLetter) < 0:
		return "must be a person's name, with at least one letter"
	}
	return ""
}

// emailProblem checks the syntax of a trimmed, domain-normalised address.
func emailProblem(s string) string {
	const invalid = "must be a valid email address such as jane.doe@example.com"
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return "must contain only ASCII characters; internationalised addresses are not supported"
		}
	}
	if len(s) > emailMaxLen {
		return fmt.Sprintf("must be at most %d characters", emailMaxLen)
	}
	parsed, err := mail.ParseAddress(s)
	if err != nil {
		return invalid
	}
	if parsed.Name != "" || parsed.Address != s {
		return "must be a bare email address such as jane.doe@example.com, without a display name, quotes or comments"
	}
	if strings.Count(s, "@") != 1 {
		return invalid
	}
	at := strings.IndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if len(local) > emailLocalMaxLen {
		return fmt.Sprintf("the part before @ must be at most %d characters", emailLocalMaxLen)
	}
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return invalid
	}
	if !validEmailDomain(domain) {
		return "must have a domain such as example.com after the @"
	}
	return ""
}

func validEmailDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if c := tld[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// roleAccountProblem refuses an address of a shared mailbox: the billing
// point of contact must be a real person.
func roleAccountProblem(email string) string {
	if isRoleAccount(email) {
		return msgRoleAccount
	}
	return ""
}

// isRoleAccount reports whether an email local part names a shared role
// mailbox (support@, admin@, it@, noreply@ ...) rather than a person.
// The comparison ignores case, a "+tag" suffix and the separators ".", "-"
// and "_", so "No_Reply+billing" and "help-desk" are role accounts while
// "itzel" and "infoanalyst" are not. Given a whole address it looks at the
// part before the last "@".
//
// Billing mailboxes (billing@, accounts@, accounting@, finance@,
// invoices@, payments@ ...) count as role accounts too: the billing point of
// contact must be a real person, someone who can be reached about a failed
// payment or asked to complete a 3-D Secure authentication, and a shared
// finance mailbox is exactly the kind of address that rule excludes.
func isRoleAccount(localPart string) bool {
	s := strings.TrimSpace(localPart)
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		s = s[:at]
	}
	if plus := strings.IndexByte(s, '+'); plus >= 0 {
		s = s[:plus]
	}
	key := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' || c == '-' || c == '_':
		case c >= 'A' && c <= 'Z':
			key = append(key, c+('a'-'A'))
		default:
			key = append(key, c)
		}
	}
	return roleAccounts[string(key)]
}

func phoneProblem(s string) string {
	if !validPhone(s) {
		return fmt.Sprintf("must be a phone number of %d to %d digits, optionally starting with + and separated by spaces, hyphens, dots or parentheses",
			phoneMinDigits, phoneMaxDigits)
	}
	return ""
}

func validPhone(s string) bool {
	if len(s) > phoneMaxLen {
		return false
	}
	first, last := s[0], s[len(s)-1]
	if !(first == '+' || first == '(' || first >= '0' && first <= '9') || !(last >= '0' && last <= '9') {
		return false
	}
	digits, open := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '+':
			if i != 0 {
				return false
			}
		case c == ' ' || c == '-' || c == '.':
		case c == '(':
			if open {
				return false
			}
			open = true
		case c == ')':
			if !open {
				return false
			}
			open = false
		default:
			return false
		}
	}
	return !open && digits >= phoneMinDigits && digits <= phoneMaxDigits
}

// countryProblem checks an upper-cased country code.
func countryProblem(s string) string {
	switch {
	case s == "UK":
		return "must be an ISO 3166-1 alpha-2 country code: GB for the United Kingdom"
	case !validCountry(s):
		return "must be an ISO 3166-1 alpha-2 country code such as US or DE"
	}
	return ""
}

// validCountry reports whether code is an officially assigned ISO 3166-1
// alpha-2 code, written in upper case as Normalize leaves it.
func validCountry(code string) bool { return iso3166Alpha2Codes[code] }

// postalCodeRule checks an upper-cased postal code against the format of
// country, or against the generic format for a country without one of its
// own (and while the country itself is invalid).
func postalCodeRule(country string) rule {
	return func(s string) string {
		if f, ok := postalFormats[country]; ok {
			if !f.re.MatchString(s) {
				return fmt.Sprintf("is not a valid %s postal code (expected %s)", country, f.example)
			}
			return ""
		}
		if !genericPostalCode.MatchString(s) {
			return "must be 2 to 12 letters, digits, spaces or hyphens"
		}
		return ""
	}
}

// vatIDProblem checks a VAT id normalised by normalizeVATID.
func vatIDProblem(s string) string {
	if msg := textProblem(s); msg != "" {
		return msg
	}
	if len(s) < 2 || !isUpperASCII(s[0]) || !isUpperASCII(s[1]) {
		return "must start with a 2-letter country prefix such as DE"
	}
	prefix := s[:2]
	f, ok := vatFormats[prefix]
	if !ok {
		if prefix == "GR" {
			return "unsupported VAT id country prefix: Greek VAT ids start with EL"
		}
		return "unsupported VAT id country prefix"
	}
	if !f.re.MatchString(s) {
		return fmt.Sprintf("is not a valid %s VAT id (expected %s)", prefix, f.expected)
	}
	return ""
}

func isUpperASCII(c byte) bool { return c >= 'A' && c <= 'Z' }

// upperASCII upper-cases ASCII letters and leaves every other byte alone,
// so invalid UTF-8 stays visible to validation and no non-ASCII letter turns
// into an ASCII one (strings.ToUpper maps "ſ" to "S").
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// lowerASCII lower-cases ASCII letters and leaves every other byte alone.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
