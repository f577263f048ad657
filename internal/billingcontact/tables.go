package billingcontact

import (
	"regexp"
	"strings"
)

// roleAccounts are the role local parts, lower case and without separators
// ("no-reply" and "no_reply" are "noreply"). Two-letter words other than
// "it" are left out on purpose: they are as likely a person's initials.
var roleAccounts = set(
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
	// billing and finance mailboxes (see isRoleAccount)
	"billing", "accounts", "account", "accounting", "accountspayable",
	"accountsreceivable", "finance", "invoice", "invoices", "invoicing",
	"payments",
)

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

var iso3166Alpha2Codes = set(strings.Fields(iso3166Alpha2)...)

// stateCodeList is the closed list of state codes of a country whose
// addresses need one, and the message for a state not on it.
type stateCodeList struct {
	codes   map[string]bool
	message string
}

// stateCodes are the countries whose addresses need a state: the state is
// required, upper-cased and must be one of the country's codes. Elsewhere it
// is optional free text.
var stateCodes = map[string]stateCodeList{
	// USPS codes of the states, the District of Columbia, the territories and
	// freely associated states, and the armed forces.
	"US": {set(
		"AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
		"KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
		"NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
		"VA", "WA", "WV", "WI", "WY",
		"DC",
		"AS", "GU", "MP", "PR", "VI", "UM", "FM", "MH", "PW",
		"AA", "AE", "AP",
	), "must be a 2-letter USPS state or territory code such as NY"},
	// Canada Post codes of the provinces and territories.
	"CA": {set("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"),
		"must be a 2-letter Canadian province or territory code such as ON"},
}

// problem refuses a state that is not one of the country's codes.
func (c stateCodeList) problem(s string) string {
	if !c.codes[s] {
		return c.message
	}
	return ""
}

type postalFormat struct {
	re      *regexp.Regexp
	example string
}

// postalFormats are the postal code formats checked per country (input is
// upper-cased first); other countries get genericPostalCode.
var postalFormats = map[string]postalFormat{
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

var genericPostalCode = regexp.MustCompile(`^[A-Z0-9 -]{2,12}$`)

type vatFormat struct {
	re       *regexp.Regexp
	expected string
}

// vatFormats are the VAT id formats per prefix, after normalizeVATID: the EU
// member states (Greece as EL), Northern Ireland (XI), the United Kingdom,
// Switzerland and Norway. Only the format is checked, no check digits.
var vatFormats = map[string]vatFormat{
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

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}
