package dsu

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Billing contact, address and VAT id rules (../shared/SPEC.md §1, §3
// PUT /v1/billing/contact). Field names in errors are the JSON paths of the
// request body.

// Limits of the billing fields. Lengths are counted in runes, except the
// email address, whose limits (RFC 5321) are in bytes; addresses are ASCII
// only, so the two agree there.
const (
	billingNameMinLen       = 2
	billingNameMaxLen       = 100
	billingEmailMaxLen      = 254
	billingEmailLocalMaxLen = 64
	billingLineMaxLen       = 200
	billingCityMaxLen       = 100
	billingStateMaxLen      = 100
	billingPostalMaxLen     = 20
	billingPhoneMaxLen      = 40
	billingPhoneMinDigits   = 7
	billingPhoneMaxDigits   = 15
)

// roleAccountMessage is the error message for an email address that belongs
// to a shared mailbox instead of a person (§1).
const roleAccountMessage = "must be a person's address, not a shared role account such as support@"

const (
	billingMsgRequired    = "is required"
	billingMsgControl     = "must not contain control characters"
	billingMsgInvalidUTF8 = "must be valid UTF-8 text"
)

// ValidateBillingInfo reports whether contact, address and VAT id are valid
// together, after normalisation. It returns nil or the *Error of
// NormalizeBillingInfo.
func ValidateBillingInfo(c *Contact, a *Address, vatID string) error {
	_, _, _, err := NormalizeBillingInfo(c, a, vatID)
	return err
}

// NormalizeBillingInfo checks contact, address and VAT id together and
// returns nil or a *Error of KindInvalid listing every failing field (one
// message per field), named by the JSON paths of the request body:
// "contact", "contact.name", "contact.email", "contact.phone", "address",
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
//     refused); never a role account (see IsRoleAccount).
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
func NormalizeBillingInfo(c *Contact, a *Address, vatID string) (Contact, Address, string, error) {
	var v Validation
	var contact Contact
	var address Address

	if c == nil {
		v.Add("contact", billingMsgRequired)
	} else {
		contact = normalizeBillingContact(*c)
		checkBillingContact(&v, contact)
	}
	if a == nil {
		v.Add("address", billingMsgRequired)
	} else {
		address = normalizeBillingAddress(*a)
		checkBillingAddress(&v, address)
	}
	vat := normalizeVATID(vatID)
	if strings.TrimSpace(vatID) != "" {
		if msg := billingVATIDProblem(vat); msg != "" {
			v.Add("vatId", msg)
		}
	}
	return contact, address, vat, v.Err()
}

func normalizeBillingContact(c Contact) Contact {
	c.Name = strings.TrimSpace(c.Name)
	c.Email = strings.TrimSpace(c.Email)
	if at := strings.LastIndexByte(c.Email, '@'); at >= 0 {
		c.Email = c.Email[:at+1] + billingLowerASCII(c.Email[at+1:])
	}
	c.Phone = strings.TrimSpace(c.Phone)
	return c
}

func normalizeBillingAddress(a Address) Address {
	a.Line1 = strings.TrimSpace(a.Line1)
	a.Line2 = strings.TrimSpace(a.Line2)
	a.City = strings.TrimSpace(a.City)
	a.Country = billingUpperASCII(strings.TrimSpace(a.Country))
	a.State = strings.TrimSpace(a.State)
	if a.Country == "US" || a.Country == "CA" {
		a.State = billingUpperASCII(a.State)
	}
	a.PostalCode = billingUpperASCII(strings.TrimSpace(a.PostalCode))
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
	return billingUpperASCII(b.String())
}

func checkBillingContact(v *Validation, c Contact) {
	if checkBillingText(v, "contact.name", c.Name, true, billingNameMinLen, billingNameMaxLen) {
		switch {
		case strings.ContainsRune(c.Name, '@'):
			v.Add("contact.name", "must be a person's name, not an email address")
		case strings.IndexFunc(c.Name, unicode.IsLetter) < 0:
			v.Add("contact.name", "must be a person's name, with at least one letter")
		}
	}

	if c.Email == "" {
		v.Add("contact.email", billingMsgRequired)
	} else if msg := billingTextProblem(c.Email); msg != "" {
		v.Add("contact.email", msg)
	} else if msg := billingEmailProblem(c.Email); msg != "" {
		v.Add("contact.email", msg)
	} else if IsRoleAccount(c.Email[:strings.LastIndexByte(c.Email, '@')]) {
		v.Add("contact.email", roleAccountMessage)
	}

	if c.Phone != "" {
		if msg := billingTextProblem(c.Phone); msg != "" {
			v.Add("contact.phone", msg)
		} else if !validBillingPhone(c.Phone) {
			v.Add("contact.phone", fmt.Sprintf("must be a phone number of %d to %d digits, optionally starting with + and separated by spaces, hyphens, dots or parentheses",
				billingPhoneMinDigits, billingPhoneMaxDigits))
		}
	}
}

func checkBillingAddress(v *Validation, a Address) {
	checkBillingText(v, "address.line1", a.Line1, true, 1, billingLineMaxLen)
	checkBillingText(v, "address.line2", a.Line2, false, 0, billingLineMaxLen)
	checkBillingText(v, "address.city", a.City, true, 1, billingCityMaxLen)

	country := "" // the country, once valid, whose rules apply to state and postal code
	if a.Country == "" {
		v.Add("address.country", billingMsgRequired)
	} else if msg := billingTextProblem(a.Country); msg != "" {
		v.Add("address.country", msg)
	} else if a.Country == "UK" {
		v.Add("address.country", "must be an ISO 3166-1 alpha-2 country code: GB for the United Kingdom")
	} else if !ValidCountry(a.Country) {
		v.Add("address.country", "must be an ISO 3166-1 alpha-2 country code such as US or DE")
	} else {
		country = a.Country
	}

	switch country {
	case "US", "CA":
		if a.State == "" {
			v.Add("address.state", "is required for "+country+" addresses")
		} else if msg := billingTextProblem(a.State); msg != "" {
			v.Add("address.state", msg)
		} else if country == "US" && !billingUSStates[a.State] {
			v.Add("address.state", "must be a 2-letter USPS state or territory code such as NY")
		} else if country == "CA" && !billingCAProvinces[a.State] {
			v.Add("address.state", "must be a 2-letter Canadian province or territory code such as ON")
		}
	default:
		checkBillingText(v, "address.state", a.State, false, 0, billingStateMaxLen)
	}

	if checkBillingText(v, "address.postalCode", a.PostalCode, true, 1, billingPostalMaxLen) {
		if f, ok := billingPostalFormats[country]; ok {
			if !f.re.MatchString(a.PostalCode) {
				v.Add("address.postalCode", fmt.Sprintf("is not a valid %s postal code (expected %s)", country, f.example))
			}
		} else if !billingGenericPostalCode.MatchString(a.PostalCode) {
			v.Add("address.postalCode", "must be 2 to 12 letters, digits, spaces or hyphens")
		}
	}
}

// checkBillingText applies the rules every text field shares and records the first
// failure. It reports whether s is present and passed, so that the caller may
// check its format.
func checkBillingText(v *Validation, field, s string, required bool, min, max int) bool {
	if s == "" {
		if required {
			v.Add(field, billingMsgRequired)
		}
		return false
	}
	if msg := billingTextProblem(s); msg != "" {
		v.Add(field, msg)
		return false
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		v.Add(field, fmt.Sprintf("must be at least %d characters", min))
		return false
	}
	if n > max {
		v.Add(field, fmt.Sprintf("must be at most %d characters", max))
		return false
	}
	return true
}

// billingTextProblem reports invalid UTF-8 and control characters.
func billingTextProblem(s string) string {
	if !utf8.ValidString(s) {
		return billingMsgInvalidUTF8
	}
	for _, r := range s {
		if isBillingControl(r) {
			return billingMsgControl
		}
	}
	return ""
}

// isBillingControl is true for C0 and C1 controls, line and paragraph
// separators and the bidirectional embeddings, overrides and isolates that
// can make text display as something other than what it is.
func isBillingControl(r rune) bool {
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

// billingEmailProblem checks the syntax of a trimmed, domain-normalised address.
func billingEmailProblem(s string) string {
	const invalid = "must be a valid email address such as jane.doe@example.com"
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return "must contain only ASCII characters; internationalised addresses are not supported"
		}
	}
	if len(s) > billingEmailMaxLen {
		return fmt.Sprintf("must be at most %d characters", billingEmailMaxLen)
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
	if len(local) > billingEmailLocalMaxLen {
		return fmt.Sprintf("the part before @ must be at most %d characters", billingEmailLocalMaxLen)
	}
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return invalid
	}
	if !validBillingEmailDomain(domain) {
		return "must have a domain such as example.com after the @"
	}
	return ""
}

func validBillingEmailDomain(d string) bool {
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

// IsRoleAccount reports whether an email local part names a shared role
// mailbox (support@, admin@, it@, noreply@ ...) rather than a person (§1).
// The comparison ignores case, a "+tag" suffix and the separators ".", "-"
// and "_", so "No_Reply+billing" and "help-desk" are role accounts while
// "itzel" and "infoanalyst" are not. Given a whole address it looks at the
// part before the last "@".
//
// Billing mailboxes (billing@, accounts@, accounting@, finance@,
// invoices@, payments@ ...) count as role accounts too: §1 wants the billing
// point of contact to be a real person, someone who can be reached about a
// failed payment or asked to complete a 3-D Secure authentication, and a
// shared finance mailbox is exactly the kind of address that rule excludes.
func IsRoleAccount(localPart string) bool {
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
	return billingRoleAccounts[string(key)]
}

// billingRoleAccounts are the role local parts, lower case and without separators
// ("no-reply" and "no_reply" are "noreply"). Two-letter words other than
// "it" are left out on purpose: they are as likely a person's initials.
var billingRoleAccounts = billingSet(
	// administration and IT
	"admin", "administrator", "administration", "sysadmin", "root",
	"it", "itsupport", "itdept", "tech", "techsupport", "noc", "ops", "operations",
	"security", "abuse", "webmaster", "postmaster", "hostmaster", "mailerdaemon",
	// support and service desks
	"support", "help", "helpdesk", "service", "services", "servicedesk",
	"customerservice", "customersupport",
	// general and front-office mailboxes
	"info", "information", "contact", "contactus", "office", "hello", "team",
	"mail", "enquiries", "enquiry", "inquiries", "inquiry",
	"sales", "marketing",
	// unattended senders
	"noreply", "donotreply", "noreplies",
	// billing and finance mailboxes (see IsRoleAccount)
	"billing", "accounts", "account", "accounting", "accountspayable",
	"accountsreceivable", "finance", "invoice", "invoices", "invoicing",
	"payments",
)

func validBillingPhone(s string) bool {
	if len(s) > billingPhoneMaxLen {
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
	return !open && digits >= billingPhoneMinDigits && digits <= billingPhoneMaxDigits
}

// iso3166Alpha2 lists the 249 officially assigned ISO 3166-1 alpha-2 codes
// (the same list as the tz database's iso3166.tab). Exceptionally or
// transitionally reserved codes (UK, EU, EL, AC ...) and user-assigned codes
// (XX, ZZ, XK ...) are not in it.
const iso3166Alpha2 = "" +
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ " +
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ " +
	"DE DJ DK DM DO DZ " +
	"EC EE EG EH ER ES ET " +
	"FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY " +
	"HK HM HN HR HT HU " +
	"ID IE IL IM IN IO IQ IR IS IT " +
	"JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ " +
	"LA LB LC LI LK LR LS LT LU LV LY " +
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
	"NA NC NE NF NG NI NL NO NP NR NU NZ " +
	"OM " +
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY " +
	"QA " +
	"RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ " +
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
	"UA UG UM US UY UZ " +
	"VA VC VE VG VI VN VU " +
	"WF WS " +
	"YE YT " +
	"ZA ZM ZW"

var iso3166Alpha2Codes = billingSet(strings.Fields(iso3166Alpha2)...)

// ValidCountry reports whether code is an officially assigned ISO 3166-1
// alpha-2 code, written in upper case as NormalizeBillingInfo leaves it.
func ValidCountry(code string) bool { return iso3166Alpha2Codes[code] }

// billingUSStates are the USPS codes of the states, the District of Columbia, the
// territories and freely associated states, and the armed forces.
var billingUSStates = billingSet(
	"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
	"KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
	"NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
	"VA", "WA", "WV", "WI", "WY",
	"DC",
	"AS", "GU", "MP", "PR", "VI", "UM", "FM", "MH", "PW",
	"AA", "AE", "AP",
)

// billingCAProvinces are the Canada Post codes of the provinces and territories.
var billingCAProvinces = billingSet("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")

type billingPostalFormat struct {
	re      *regexp.Regexp
	example string
}

// billingPostalFormats are the postal code formats checked per country (input is
// upper-cased first); other countries get billingGenericPostalCode.
var billingPostalFormats = map[string]billingPostalFormat{
	"US": {regexp.MustCompile(`^[0-9]{5}(-[0-9]{4})?$`), "12345 or 12345-6789"},
	"CA": {regexp.MustCompile(`^[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] ?[0-9][ABCEGHJ-NPRSTV-Z][0-9]$`), "A1A 1A1"},
	"GB": {regexp.MustCompile(`^(GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2})$`), "a UK postcode such as SW1A 1AA"},
	"DE": {regexp.MustCompile(`^[0-9]{5}$`), "5 digits"},
	"FR": {regexp.MustCompile(`^[0-9]{5}$`), "5 digits"},
	"NL": {regexp.MustCompile(`^[1-9][0-9]{3} ?[A-Z]{2}$`), "1234 AB"},
	"AT": {regexp.MustCompile(`^[0-9]{4}$`), "4 digits"},
	"BE": {regexp.MustCompile(`^[0-9]{4}$`), "4 digits"},
	"CH": {regexp.MustCompile(`^[0-9]{4}$`), "4 digits"},
	"DK": {regexp.MustCompile(`^[0-9]{4}$`), "4 digits"},
	"NO": {regexp.MustCompile(`^[0-9]{4}$`), "4 digits"},
	"IE": {regexp.MustCompile(`^([AC-FHKNPRTV-Y][0-9]{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}$`), "an Eircode such as A65 F4E2"},
}

var billingGenericPostalCode = regexp.MustCompile(`^[A-Z0-9 -]{2,12}$`)

type billingVATFormat struct {
	re       *regexp.Regexp
	expected string
}

// billingVATFormats are the VAT id formats per prefix, after normalizeVATID: the EU
// member states (Greece as EL), Northern Ireland (XI), the United Kingdom,
// Switzerland and Norway. Only the format is checked, no check digits.
var billingVATFormats = map[string]billingVATFormat{
	"AT": {regexp.MustCompile(`^ATU[0-9]{8}$`), "ATU followed by 8 digits"},
	"BE": {regexp.MustCompile(`^BE[01][0-9]{9}$`), "BE followed by 10 digits starting with 0 or 1"},
	"BG": {regexp.MustCompile(`^BG[0-9]{9,10}$`), "BG followed by 9 or 10 digits"},
	"CY": {regexp.MustCompile(`^CY[0-9]{8}[A-Z]$`), "CY followed by 8 digits and a letter"},
	"CZ": {regexp.MustCompile(`^CZ[0-9]{8,10}$`), "CZ followed by 8 to 10 digits"},
	"DE": {regexp.MustCompile(`^DE[0-9]{9}$`), "DE followed by 9 digits"},
	"DK": {regexp.MustCompile(`^DK[0-9]{8}$`), "DK followed by 8 digits"},
	"EE": {regexp.MustCompile(`^EE[0-9]{9}$`), "EE followed by 9 digits"},
	"EL": {regexp.MustCompile(`^EL[0-9]{9}$`), "EL followed by 9 digits"},
	"ES": {regexp.MustCompile(`^ES[A-Z0-9][0-9]{7}[A-Z0-9]$`), "ES followed by a letter or digit, 7 digits and a letter or digit"},
	"FI": {regexp.MustCompile(`^FI[0-9]{8}$`), "FI followed by 8 digits"},
	"FR": {regexp.MustCompile(`^FR[A-Z0-9]{2}[0-9]{9}$`), "FR followed by 2 letters or digits and 9 digits"},
	"HR": {regexp.MustCompile(`^HR[0-9]{11}$`), "HR followed by 11 digits"},
	"HU": {regexp.MustCompile(`^HU[0-9]{8}$`), "HU followed by 8 digits"},
	"IE": {regexp.MustCompile(`^IE([0-9]{7}[A-Z]{1,2}|[0-9][A-Z+*][0-9]{5}[A-Z])$`), "IE followed by 7 digits and 1 or 2 letters"},
	"IT": {regexp.MustCompile(`^IT[0-9]{11}$`), "IT followed by 11 digits"},
	"LT": {regexp.MustCompile(`^LT([0-9]{9}|[0-9]{12})$`), "LT followed by 9 or 12 digits"},
	"LU": {regexp.MustCompile(`^LU[0-9]{8}$`), "LU followed by 8 digits"},
	"LV": {regexp.MustCompile(`^LV[0-9]{11}$`), "LV followed by 11 digits"},
	"MT": {regexp.MustCompile(`^MT[0-9]{8}$`), "MT followed by 8 digits"},
	"NL": {regexp.MustCompile(`^NL[0-9]{9}B[0-9]{2}$`), "NL followed by 9 digits, B and 2 digits"},
	"PL": {regexp.MustCompile(`^PL[0-9]{10}$`), "PL followed by 10 digits"},
	"PT": {regexp.MustCompile(`^PT[0-9]{9}$`), "PT followed by 9 digits"},
	"RO": {regexp.MustCompile(`^RO[0-9]{2,10}$`), "RO followed by 2 to 10 digits"},
	"SE": {regexp.MustCompile(`^SE[0-9]{12}$`), "SE followed by 12 digits"},
	"SI": {regexp.MustCompile(`^SI[0-9]{8}$`), "SI followed by 8 digits"},
	"SK": {regexp.MustCompile(`^SK[0-9]{10}$`), "SK followed by 10 digits"},
	"XI": {regexp.MustCompile(`^XI([0-9]{9}|[0-9]{12}|GD[0-4][0-9]{2}|HA[5-9][0-9]{2})$`), "XI followed by 9 or 12 digits, GD and 3 digits, or HA and 3 digits"},
	"GB": {regexp.MustCompile(`^GB([0-9]{9}|[0-9]{12}|GD[0-4][0-9]{2}|HA[5-9][0-9]{2})$`), "GB followed by 9 or 12 digits, GD and 3 digits, or HA and 3 digits"},
	"CH": {regexp.MustCompile(`^CHE[0-9]{9}(MWST|TVA|IVA)?$`), "CHE followed by 9 digits, optionally with MWST, TVA or IVA"},
	"NO": {regexp.MustCompile(`^NO[0-9]{9}MVA$`), "NO followed by 9 digits and MVA"},
}

// billingVATIDProblem checks a VAT id normalised by normalizeVATID.
func billingVATIDProblem(s string) string {
	if msg := billingTextProblem(s); msg != "" {
		return msg
	}
	if len(s) < 2 || !billingIsUpperASCII(s[0]) || !billingIsUpperASCII(s[1]) {
		return "must start with a 2-letter country prefix such as DE"
	}
	prefix := s[:2]
	f, ok := billingVATFormats[prefix]
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

func billingIsUpperASCII(c byte) bool { return c >= 'A' && c <= 'Z' }

// billingUpperASCII upper-cases ASCII letters and leaves every other byte alone,
// so invalid UTF-8 stays visible to validation and no non-ASCII letter turns
// into an ASCII one (strings.ToUpper maps "ſ" to "S").
func billingUpperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// billingLowerASCII lower-cases ASCII letters and leaves every other byte alone.
func billingLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

func billingSet(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}
