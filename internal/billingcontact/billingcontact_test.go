package billingcontact

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// fieldNames are all the field names Normalize may report.
var fieldNames = []string{
	"contact", "contact.name", "contact.email", "contact.phone",
	"address", "address.line1", "address.line2", "address.city", "address.state",
	"address.postalCode", "address.country", "vatId",
}

func goodRecord() (dsu.Contact, dsu.Address, string) {
	return dsu.Contact{Name: "Jane Doe", Email: "jane.doe@acme.com", Phone: "+1 (555) 123-4567"},
		dsu.Address{Line1: "1 Main St", Line2: "Suite 200", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		"DE123456789"
}

// validate is Normalize for a test that wants only the error.
func validate(c *dsu.Contact, a *dsu.Address, vatID string) error {
	_, _, _, err := Normalize(c, a, vatID)
	return err
}

// errFields returns the reported fields in order, failing the test
// when err is not nil and not a validation *dsu.Error.
func errFields(t *testing.T, err error) []dsu.FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *dsu.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not a *dsu.Error", err, err)
	}
	if e.Kind != dsu.KindInvalid || len(e.Fields) == 0 {
		t.Fatalf("error %v: kind %s with %d fields", err, e.Kind, len(e.Fields))
	}
	return e.Fields
}

func TestAcceptsAValidRecord(t *testing.T) {
	c, a, vat := goodRecord()
	gc, ga, gvat, err := Normalize(&c, &a, vat)
	if err != nil {
		t.Fatal(err)
	}
	if gc != c || ga != a || gvat != vat {
		t.Errorf("a normalised record changed: %+v %+v %q", gc, ga, gvat)
	}
	if err := validate(&c, &a, ""); err != nil {
		t.Errorf("without VAT id: %v", err)
	}
}

func TestFieldRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	// A change edits fields of a valid record.
	type record struct {
		c   dsu.Contact
		a   dsu.Address
		vat string
	}
	type change func(r *record)
	name := func(s string) change { return func(r *record) { r.c.Name = s } }
	email := func(s string) change { return func(r *record) { r.c.Email = s } }
	phone := func(s string) change { return func(r *record) { r.c.Phone = s } }
	line1 := func(s string) change { return func(r *record) { r.a.Line1 = s } }
	line2 := func(s string) change { return func(r *record) { r.a.Line2 = s } }
	city := func(s string) change { return func(r *record) { r.a.City = s } }
	state := func(s string) change { return func(r *record) { r.a.State = s } }
	postalCode := func(s string) change { return func(r *record) { r.a.PostalCode = s } }
	country := func(s string) change { return func(r *record) { r.a.Country = s } }
	vatID := func(s string) change { return func(r *record) { r.vat = s } }
	// place sets country, state and postal code together, as they are checked together.
	place := func(countryCode, stateCode, postal string) change {
		return func(r *record) { r.a.Country, r.a.State, r.a.PostalCode = countryCode, stateCode, postal }
	}

	cases := []struct {
		name  string
		mut   change
		field string // "" when the record stays valid
		msg   string // a part of the message, when it matters
	}{
		// contact.name
		{"name missing", name(""), "contact.name", "is required"},
		{"name blank", name("   "), "contact.name", "is required"},
		{"name one rune", name("J"), "contact.name", "at least 2"},
		{"name two runes", name("Jo"), "", ""},
		{"name two CJK runes", name("李雷"), "", ""},
		{"name 100 runes", name(long(100)), "", ""},
		{"name 101 runes", name(long(101)), "contact.name", "at most 100"},
		{"name accents", name("José Ñúñez-O'Brien"), "", ""},
		{"name no letter", name("12345"), "contact.name", "person's name"},
		{"name punctuation only", name("--"), "contact.name", "person's name"},
		{"name is an email", name("jane@acme.com"), "contact.name", "email"},
		{"name NUL", name("Jane\x00Doe"), "contact.name", "control"},
		{"name newline inside", name("Jane\nDoe"), "contact.name", "control"},
		{"name C1 control", name("Jane\u0085Doe"), "contact.name", "control"},
		{"name bidi override", name("Jane\u202eeoD"), "contact.name", "control"},
		{"name line separator", name("Jane\u2028Doe"), "contact.name", "control"},
		{"name invalid UTF-8", name("Jane \xff\xfe"), "contact.name", "UTF-8"},

		// contact.email
		{"email missing", email(""), "contact.email", "is required"},
		{"email no @", email("jane"), "contact.email", ""},
		{"email display name", email("Jane Doe <jane@acme.com>"), "contact.email", "bare"},
		{"email angle brackets", email("<jane@acme.com>"), "contact.email", "bare"},
		{"email quoted local part", email(`"jane doe"@acme.com`), "contact.email", ""},
		{"email comment", email("jane@acme.com (Jane)"), "contact.email", ""},
		{"email space inside", email("jane doe@acme.com"), "contact.email", ""},
		{"email two @", email("jane@doe@acme.com"), "contact.email", ""},
		{"email @@", email("jane@@acme.com"), "contact.email", ""},
		{"email domain without dot", email("jane@acme"), "contact.email", ""},
		{"email one-letter TLD", email("jane@acme.c"), "contact.email", ""},
		{"email numeric TLD", email("jane@10.0.0.1"), "contact.email", ""},
		{"email domain literal", email("jane@[10.0.0.1]"), "contact.email", ""},
		{"email leading hyphen", email("jane@-acme.com"), "contact.email", ""},
		{"email trailing hyphen", email("jane@acme-.com"), "contact.email", ""},
		{"email underscore in domain", email("jane@ac_me.com"), "contact.email", ""},
		{"email empty label", email("jane@acme..com"), "contact.email", ""},
		{"email trailing dot", email("jane@acme.com."), "contact.email", ""},
		{"email leading dot", email(".jane@acme.com"), "contact.email", ""},
		{"email dot before @", email("jane.@acme.com"), "contact.email", ""},
		{"email double dot", email("ja..ne@acme.com"), "contact.email", ""},
		{"email local 64", email(strings.Repeat("j", 64) + "@acme.com"), "", ""},
		{"email local 65", email(strings.Repeat("j", 65) + "@acme.com"), "contact.email", "before @"},
		{"email 254 bytes", email("jane@" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 53) + ".com"), "", ""},
		{"email 255 bytes", email("jane@" + strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 54) + ".com"), "contact.email", "at most 254"},
		{"email label 64", email("jane@" + strings.Repeat("a", 64) + ".com"), "contact.email", ""},
		{"email non-ASCII local part", email("jané@acme.com"), "contact.email", "ASCII"},
		{"email IDN domain", email("jane@bücher.de"), "contact.email", "ASCII"},
		{"email punycode label", email("jane@xn--bcher-kva.de"), "", ""},
		{"email tab", email("ja\tne@acme.com"), "contact.email", "control"},
		{"email plus tag", email("jane+billing@acme.com"), "", ""},
		{"email subdomain", email("j.o'neil@mail.acme.co.uk"), "", ""},
		{"email trailing newline trimmed", email("jane@acme.com\n"), "", ""},
		{"email role support", email("Support@x.com"), "contact.email", msgRoleAccount},
		{"email role no_reply+tag", email("no_reply+billing@x.com"), "contact.email", msgRoleAccount},
		{"email role help-desk", email("help-desk@x.com"), "contact.email", msgRoleAccount},
		{"email role billing", email("billing@acme.com"), "contact.email", msgRoleAccount},
		{"email itzel", email("itzel@x.com"), "", ""},
		{"email infoanalyst", email("infoanalyst@x.com"), "", ""},

		// contact.phone
		{"phone empty", phone(""), "", ""},
		{"phone blank", phone("  "), "", ""},
		{"phone E.164", phone("+4930123456"), "", ""},
		{"phone spaces", phone("+44 20 7946 0958"), "", ""},
		{"phone dots", phone("030.123.4567"), "", ""},
		{"phone parentheses first", phone("(030) 1234567"), "", ""},
		{"phone 7 digits", phone("1234567"), "", ""},
		{"phone 6 digits", phone("123-456"), "contact.phone", "7 to 15"},
		{"phone 15 digits", phone("+123456789012345"), "", ""},
		{"phone 16 digits", phone("+1234567890123456"), "contact.phone", ""},
		{"phone letters", phone("555-CALL-NOW"), "contact.phone", ""},
		{"phone extension", phone("+1 555 123 4567 ext 5"), "contact.phone", ""},
		{"phone plus inside", phone("1+5551234567"), "contact.phone", ""},
		{"phone double plus", phone("++15551234567"), "contact.phone", ""},
		{"phone nested parentheses", phone("((555)) 1234567"), "contact.phone", ""},
		{"phone unclosed parenthesis", phone("(555 1234567"), "contact.phone", ""},
		{"phone unopened parenthesis", phone("555) 1234567"), "contact.phone", ""},
		{"phone leading hyphen", phone("-5551234567"), "contact.phone", ""},
		{"phone trailing hyphen", phone("5551234567-"), "contact.phone", ""},
		{"phone slash", phone("030/1234567"), "contact.phone", ""},
		{"phone fullwidth digits", phone("１２３４５６７８"), "contact.phone", ""},
		{"phone tab", phone("555\t1234567"), "contact.phone", "control"},
		{"phone too many separators", phone("1" + strings.Repeat(" ", 40) + "234567"), "contact.phone", ""},

		// address.line1, line2, city
		{"line1 missing", line1(" "), "address.line1", "is required"},
		{"line1 200", line1(long(200)), "", ""},
		{"line1 201", line1(long(201)), "address.line1", "at most 200"},
		{"line1 control", line1("1 Main\rSt"), "address.line1", "control"},
		{"line2 empty", line2(""), "", ""},
		{"line2 200", line2(long(200)), "", ""},
		{"line2 201", line2(long(201)), "address.line2", "at most 200"},
		{"line2 escape", line2("\x1b[31mSuite"), "address.line2", "control"},
		{"city missing", city(""), "address.city", "is required"},
		{"city 100", city(long(100)), "", ""},
		{"city 101", city(long(101)), "address.city", "at most 100"},
		{"city invalid UTF-8", city("Spring\xc0field"), "address.city", "UTF-8"},

		// address.state
		{"US state missing", state(""), "address.state", "required for US"},
		{"US state lower case", state("ny"), "", ""},
		{"US state DC", state("DC"), "", ""},
		{"US territory PR", state("PR"), "", ""},
		{"US armed forces AE", state("AE"), "", ""},
		{"US state name", state("California"), "address.state", "USPS"},
		{"US state 3 letters", state("NYC"), "address.state", "USPS"},
		{"US state unknown", state("XX"), "address.state", "USPS"},
		{"US state Canadian", state("ON"), "address.state", "USPS"},
		{"US state control", state("N\x00"), "address.state", "control"},
		{"CA province", place("CA", "QC", "H2X 1Y4"), "", ""},
		{"CA province lower case", place("ca", "on", "k1a0b1"), "", ""},
		{"CA province missing", place("CA", "", "K1A 0B1"), "address.state", "required for CA"},
		{"CA province US state", place("CA", "NY", "K1A 0B1"), "address.state", "Canadian"},
		{"DE state optional", place("DE", "", "10115"), "", ""},
		{"DE state free text", place("DE", "Bayern", "80331"), "", ""},
		{"DE state 100", place("DE", long(100), "80331"), "", ""},
		{"DE state 101", place("DE", long(101), "80331"), "address.state", "at most 100"},
		{"DE state control", place("DE", "Bay\x7fern", "80331"), "address.state", "control"},

		// address.postalCode (formats per country in TestPostalCodes)
		{"postal code missing", postalCode(""), "address.postalCode", "is required"},
		{"postal code blank", postalCode("  "), "address.postalCode", "is required"},
		{"postal code 21", postalCode(strings.Repeat("1", 21)), "address.postalCode", "at most 20"},
		{"postal code control", postalCode("627\x0001"), "address.postalCode", "control"},
		{"postal code wrong format", postalCode("6270"), "address.postalCode", "12345 or 12345-6789"},

		// address.country
		{"country missing", country(""), "address.country", "is required"},
		{"country lower case", country("us"), "", ""},
		{"country UK", place("UK", "", "62701"), "address.country", "GB"},
		{"country EU", place("EU", "", "62701"), "address.country", "ISO 3166-1"},
		{"country XX", place("XX", "", "62701"), "address.country", "ISO 3166-1"},
		{"country ZZ", place("ZZ", "", "62701"), "address.country", "ISO 3166-1"},
		{"country alpha-3", country("USA"), "address.country", "ISO 3166-1"},
		{"country name", country("United States"), "address.country", "ISO 3166-1"},
		{"country long-s", place("ſe", "", "62701"), "address.country", "ISO 3166-1"},
		{"country control", country("U\x00"), "address.country", "control"},

		// vatId (formats per country in TestVATIDs)
		{"VAT id absent", vatID(""), "", ""},
		{"VAT id blank", vatID("   "), "", ""},
		{"VAT id unsupported prefix", vatID("US123456789"), "vatId", "unsupported VAT id country prefix"},
		{"VAT id no prefix", vatID("123456789"), "vatId", "2-letter country prefix"},
		{"VAT id separators only", vatID(" - . - "), "vatId", "2-letter country prefix"},
		{"VAT id Greek GR", vatID("GR123456789"), "vatId", "EL"},
		{"VAT id wrong format", vatID("DE12345678"), "vatId", "DE followed by 9 digits"},
		{"VAT id control", vatID("DE123\t456789"), "vatId", "control"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r record
			r.c, r.a, r.vat = goodRecord()
			tc.mut(&r)
			_, _, _, err := Normalize(&r.c, &r.a, r.vat)
			fields := errFields(t, err)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", fields)
				}
				return
			}
			if len(fields) != 1 || fields[0].Field != tc.field {
				t.Fatalf("fields %v, want only %s", fields, tc.field)
			}
			if !strings.Contains(fields[0].Message, tc.msg) {
				t.Errorf("message %q does not mention %q", fields[0].Message, tc.msg)
			}
		})
	}
}

func TestRequiresContactAndAddress(t *testing.T) {
	c, a, vat := goodRecord()
	for _, tc := range []struct {
		c    *dsu.Contact
		a    *dsu.Address
		want []string
	}{
		{nil, &a, []string{"contact"}},
		{&c, nil, []string{"address"}},
		{nil, nil, []string{"contact", "address"}},
	} {
		gc, ga, gvat, err := Normalize(tc.c, tc.a, vat)
		var got []string
		for _, f := range errFields(t, err) {
			got = append(got, f.Field)
			if f.Message != "is required" {
				t.Errorf("%s: %q", f.Field, f.Message)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("fields %v, want %v", got, tc.want)
		}
		if tc.c == nil && gc != (dsu.Contact{}) || tc.a == nil && ga != (dsu.Address{}) || gvat != vat {
			t.Errorf("results %+v %+v %q", gc, ga, gvat)
		}
	}
}

func TestReportsAllFailuresAtOnce(t *testing.T) {
	c := dsu.Contact{Name: "1", Email: "support@acme.com", Phone: "12"}
	a := dsu.Address{Line1: "", Line2: strings.Repeat("x", 201), City: "\t", State: "\a", PostalCode: "", Country: "UK"}
	_, _, _, err := Normalize(&c, &a, "XX123")
	var got []string
	for _, f := range errFields(t, err) {
		got = append(got, f.Field)
	}
	want := []string{"contact.name", "contact.email", "contact.phone", "address.line1", "address.line2",
		"address.city", "address.country", "address.state", "address.postalCode", "vatId"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields\n got %v\nwant %v", got, want)
	}

	_, _, _, err = Normalize(nil, nil, "XX123")
	got = got[:0]
	for _, f := range errFields(t, err) {
		got = append(got, f.Field)
	}
	if want := []string{"contact", "address", "vatId"}; !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}

	// Between them the two cases name every field there is.
	seen := map[string]bool{"contact": true, "address": true, "vatId": true}
	for _, f := range want {
		seen[f] = true
	}
	for _, f := range fieldNames {
		if !seen[f] {
			t.Errorf("field %s never reported", f)
		}
	}
	if !dsu.IsKind(err, dsu.KindInvalid) || dsu.ErrorKind(validate(nil, nil, "")) != dsu.KindInvalid {
		t.Errorf("kind %s", dsu.ErrorKind(err))
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct {
		name     string
		c        dsu.Contact
		a        dsu.Address
		vat      string
		wantC    dsu.Contact
		wantA    dsu.Address
		wantVAT  string
		wantFail bool
	}{
		{
			name:    "US",
			c:       dsu.Contact{Name: "  Jane Doe \n", Email: "  Jane.Doe+Billing@ACME.Example.COM ", Phone: " +1 555 123 4567 "},
			a:       dsu.Address{Line1: " 1 Main St ", Line2: "  ", City: "\tSpringfield ", State: " il ", PostalCode: " 62701-1234 ", Country: " us "},
			vat:     " de 123.456-789 ",
			wantC:   dsu.Contact{Name: "Jane Doe", Email: "Jane.Doe+Billing@acme.example.com", Phone: "+1 555 123 4567"},
			wantA:   dsu.Address{Line1: "1 Main St", Line2: "", City: "Springfield", State: "IL", PostalCode: "62701-1234", Country: "US"},
			wantVAT: "DE123456789",
		},
		{
			name:    "CA",
			c:       dsu.Contact{Name: "Émile Roy", Email: "emile@Example.CA"},
			a:       dsu.Address{Line1: "24 Sussex Dr", City: "Ottawa", State: "on", PostalCode: "k1m 1m4", Country: "Ca"},
			wantC:   dsu.Contact{Name: "Émile Roy", Email: "emile@example.ca"},
			wantA:   dsu.Address{Line1: "24 Sussex Dr", City: "Ottawa", State: "ON", PostalCode: "K1M 1M4", Country: "CA"},
			wantVAT: "",
		},
		{
			name:    "state kept as written outside US and CA",
			c:       dsu.Contact{Name: "Hans Müller", Email: "hans@firma.de"},
			a:       dsu.Address{Line1: "Marienplatz 1", City: "München", State: " Bayern ", PostalCode: "80331", Country: "de"},
			vat:     "de\u00a0123\u202f456\u3000789",
			wantC:   dsu.Contact{Name: "Hans Müller", Email: "hans@firma.de"},
			wantA:   dsu.Address{Line1: "Marienplatz 1", City: "München", State: "Bayern", PostalCode: "80331", Country: "DE"},
			wantVAT: "DE123456789",
		},
		{
			name:    "GB postcode and VAT id",
			c:       dsu.Contact{Name: "Ann Lee", Email: "ann@acme.co.uk"},
			a:       dsu.Address{Line1: "10 Downing St", City: "London", PostalCode: "sw1a 2aa", Country: "gb"},
			vat:     "gb 123 4567 89",
			wantC:   dsu.Contact{Name: "Ann Lee", Email: "ann@acme.co.uk"},
			wantA:   dsu.Address{Line1: "10 Downing St", City: "London", PostalCode: "SW1A 2AA", Country: "GB"},
			wantVAT: "GB123456789",
		},
		{
			name:    "Swiss VAT id",
			c:       dsu.Contact{Name: "Eva Keller", Email: "eva@firma.ch"},
			a:       dsu.Address{Line1: "Bahnhofstrasse 1", City: "Zürich", PostalCode: "8001", Country: "CH"},
			vat:     "che-123.456.789 mwst",
			wantC:   dsu.Contact{Name: "Eva Keller", Email: "eva@firma.ch"},
			wantA:   dsu.Address{Line1: "Bahnhofstrasse 1", City: "Zürich", PostalCode: "8001", Country: "CH"},
			wantVAT: "CHE123456789MWST",
		},
		{
			name:     "normalised values come back with an error too",
			c:        dsu.Contact{Name: " Jane Doe ", Email: " SUPPORT@ACME.COM "},
			a:        dsu.Address{Line1: " x ", City: " y ", PostalCode: " ab-1 ", Country: " fr "},
			vat:      " fr 12 345 ",
			wantC:    dsu.Contact{Name: "Jane Doe", Email: "SUPPORT@acme.com"},
			wantA:    dsu.Address{Line1: "x", City: "y", PostalCode: "AB-1", Country: "FR"},
			wantVAT:  "FR12345",
			wantFail: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.c
			gc, ga, gvat, err := Normalize(&tc.c, &tc.a, tc.vat)
			if (err != nil) != tc.wantFail {
				t.Fatalf("err %v", err)
			}
			if gc != tc.wantC {
				t.Errorf("contact\n got %+v\nwant %+v", gc, tc.wantC)
			}
			if ga != tc.wantA {
				t.Errorf("address\n got %+v\nwant %+v", ga, tc.wantA)
			}
			if gvat != tc.wantVAT {
				t.Errorf("VAT id %q, want %q", gvat, tc.wantVAT)
			}
			if tc.c != in {
				t.Error("the input was modified")
			}
		})
	}
}

func TestPostalCodes(t *testing.T) {
	cases := []struct {
		country string
		ok      []string
		bad     []string
	}{
		{"US", []string{"12345", "12345-6789", "00501"}, []string{"1234", "123456", "12345-678", "12345 6789", "123456789", "ABCDE"}},
		{"CA", []string{"K1A 0B1", "K1A0B1", "h2x 1y4", "T2P 2M5"}, []string{"K1A  0B1", "K1A-0B1", "D1A 0B1", "K1O 0B1", "12345", "K1A 0B"}},
		{"GB", []string{"SW1A 1AA", "SW1A1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "GIR 0AA"},
			[]string{"SW1A", "12345", "QA1 1AA", "SW1A 1AC", "SW1A 1A", "SW1A 11A", "AAA 1AA"}},
		{"DE", []string{"10115", "01067"}, []string{"1011", "101155", "D-10115"}},
		{"FR", []string{"75008", "97400"}, []string{"7500", "750008", "2A004"}},
		{"NL", []string{"1234 AB", "1234AB", "1012 jk"}, []string{"0123 AB", "1234 A", "12345", "1234-AB"}},
		{"AT", []string{"1010"}, []string{"101", "10100", "A-1010"}},
		{"BE", []string{"1000"}, []string{"100", "B-1000"}},
		{"CH", []string{"8001"}, []string{"80010", "CH-8001"}},
		{"DK", []string{"2100"}, []string{"DK-2100", "210"}},
		{"NO", []string{"0150"}, []string{"01500"}},
		{"IE", []string{"A65 F4E2", "A65F4E2", "D02 X285", "D6W 1234", "t12 y2xv"}, []string{"D02", "B65 F4E2", "A65 F4E", "A65 F4EB2", "D6X 1234"}},
		{"JP", []string{"100-0001", "1000001"}, []string{"1", "100_0001"}},
		{"AR", []string{"C1420ABC"}, []string{"C1420ABCDEFGH"}},
		{"HK", []string{"00"}, []string{"0", "#000"}},
		{"GR", []string{"105 57"}, []string{"105.57", "1055é"}},
	}
	for _, tc := range cases {
		t.Run(tc.country, func(t *testing.T) {
			for _, code := range tc.ok {
				if f := postalFailure(t, tc.country, code); f != nil {
					t.Errorf("%q rejected: %s", code, f.Message)
				}
			}
			for _, code := range tc.bad {
				if f := postalFailure(t, tc.country, code); f == nil {
					t.Errorf("%q accepted", code)
				}
			}
		})
	}
}

// postalFailure validates an otherwise valid record with country and code
// and returns the failure reported for the postal code, if any.
func postalFailure(t *testing.T, country, code string) *dsu.FieldError {
	t.Helper()
	c, a, _ := goodRecord()
	a.Country, a.PostalCode, a.State = country, code, ""
	switch country {
	case "US":
		a.State = "NY"
	case "CA":
		a.State = "ON"
	}
	_, _, _, err := Normalize(&c, &a, "")
	fields := errFields(t, err)
	for _, f := range fields {
		if f.Field != "address.postalCode" {
			t.Fatalf("%s %q: unexpected failure %v", country, code, f)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	return &fields[0] // one message per field, so the only one
}

func TestVATIDs(t *testing.T) {
	ok := []string{
		"ATU12345678", "BE0123456789", "BE1234567890", "be 0123.456.789", "BG123456789", "BG1234567890",
		"CY12345678L", "CZ12345678", "CZ123456789", "CZ1234567890", "DE123456789", "DE 123 456 789",
		"DK12345678", "DK 12 34 56 78", "EE123456789", "EL123456789", "ESX1234567X", "ESA12345678",
		"ES12345678Z", "FI12345678", "FRXX123456789", "FR12345678901", "FR 12 345 678 901",
		"HR12345678901", "HU12345678", "IE1234567T", "IE1234567WH", "IE1S12345T", "IE1+12345T",
		"IE1*12345T", "IT12345678901", "LT123456789", "LT123456789012", "LU12345678", "LV12345678901",
		"MT12345678", "NL123456789B01", "nl 1234.56.789.b01", "PL1234567890", "PL 123-456-78-90",
		"PT123456789", "RO12", "RO1234567890", "SE123456789001", "SI12345678", "SK1234567890",
		"XI123456789", "XI123456789012", "XIGD123", "XIHA567", "GB123456789", "GB 123 4567 89",
		"GB123456789012", "GBGD001", "GBHA599", "CHE123456789", "CHE-123.456.789 MWST",
		"CHE-123.456.789 TVA", "CHE123456789IVA", "NO123456789MVA", "NO 123 456 789 MVA",
	}
	bad := []string{
		"ATU1234567", "AT12345678", "ATU123456789", "BE2123456789", "BE123456789", "BG12345678",
		"BG12345678901", "CY123456789", "CY12345678", "CZ1234567", "CZ12345678901", "DE12345678",
		"DE1234567890", "DEX23456789", "DK123456789", "EE12345678", "EL12345678", "GR123456789",
		"ESX123456X", "ESX12345678X", "FI1234567", "FR1234567890", "FRXX12345678", "HR1234567890",
		"HU123456789", "IE123456T", "IE1234567", "IE1234567ABC", "IE1S1234T", "IT1234567890",
		"LT1234567890", "LU1234567", "LV1234567890", "MT1234567", "NL123456789A01", "NL123456789B1",
		"NL123456789", "PL123456789", "PT12345678", "RO1", "RO12345678901", "SE12345678901",
		"SI1234567", "SK123456789", "XI12345678", "XIHA123", "XIGD567", "GB1234567890", "GBGD1234",
		"GBAB123", "CH123456789", "CHE12345678", "CHE123456789VAT", "NO123456789", "NO123456789MV",
		"US123456789", "123456789", "D", "DE", "DE１２３４５６７８９", "DE_123456789", "DE/123456789",
	}
	for _, vat := range ok {
		if msg := vatIDProblem(normalizeVATID(vat)); msg != "" {
			t.Errorf("%q rejected: %s", vat, msg)
		}
	}
	for _, vat := range bad {
		if msg := vatIDProblem(normalizeVATID(vat)); msg == "" {
			t.Errorf("%q accepted", vat)
		}
	}
	// Every supported prefix has a valid example above.
	for prefix := range vatFormats {
		found := false
		for _, vat := range ok {
			found = found || strings.HasPrefix(normalizeVATID(vat), prefix)
		}
		if !found {
			t.Errorf("no valid example for %s", prefix)
		}
	}
	if got := vatIDProblem("US123"); got != "unsupported VAT id country prefix" {
		t.Errorf("unsupported prefix message %q", got)
	}
}

func TestValidCountry(t *testing.T) {
	codes := strings.Fields(iso3166Alpha2)
	if len(codes) != 249 || len(iso3166Alpha2Codes) != 249 {
		t.Errorf("%d codes, %d distinct; ISO 3166-1 assigns 249", len(codes), len(iso3166Alpha2Codes))
	}
	for i, code := range codes {
		if len(code) != 2 || code != strings.ToUpper(code) || i > 0 && codes[i-1] >= code {
			t.Errorf("code %q out of order or malformed", code)
		}
	}
	for _, ok := range []string{"US", "DE", "GB", "CA", "FR", "GR", "CH", "NO", "AX", "SS", "BQ", "CW", "SX"} {
		if !validCountry(ok) {
			t.Errorf("%s rejected", ok)
		}
	}
	for _, bad := range []string{"UK", "EU", "XX", "ZZ", "EL", "XK", "XI", "AN", "YU", "CS", "AC", "us", "Us", "USA", "U", "", " US", "U\x00"} {
		if validCountry(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The state lists are in the form Normalize leaves a state in (upper case),
// or a valid state could never match.
func TestStateCodesAreCanonical(t *testing.T) {
	for country, list := range stateCodes {
		if !validCountry(country) || list.message == "" || len(list.codes) == 0 {
			t.Errorf("%s: country or message missing", country)
		}
		for code := range list.codes {
			if len(code) != 2 || upperASCII(code) != code || !isUpperASCII(code[0]) || !isUpperASCII(code[1]) {
				t.Errorf("%s state %q is not two upper-case letters", country, code)
			}
		}
	}
}

func TestIsRoleAccount(t *testing.T) {
	roles := []string{
		"support", "Support", "SUPPORT", "support+acme", "no_reply+billing", "no-reply", "noreply", "No.Reply",
		"do-not-reply", "do_not_reply", "donotreply", "help-desk", "helpdesk", "help", "it", "IT", "i.t",
		"it-support", "it_support", "admin", "Admin+x", "administrator", "info", "sales", "contact",
		"office", "hello", "team", "webmaster", "postmaster", "hostmaster", "abuse", "security", "root",
		"sysadmin", "service", "service-desk", "mail", "marketing", "noc", "ops", "tech", "tech.support",
		"enquiries", "inquiries", "billing", "accounts", "accounting", "finance", "invoices",
		"accounts-payable", "customer.service", "support@acme.com", " support ",
	}
	people := []string{
		"jane.doe", "itzel", "infoanalyst", "jane+support", "bill", "billy", "helen", "tom.root",
		"sales.manager", "admin.jane", "teamlead", "mike_ops", "", "+support", "it2", "j",
	}
	for _, r := range roles {
		if !isRoleAccount(r) {
			t.Errorf("%q taken for a person", r)
		}
	}
	for _, p := range people {
		if isRoleAccount(p) {
			t.Errorf("%q taken for a role account", p)
		}
	}
	// The list itself is in canonical form, or it could never match.
	for name := range roleAccounts {
		if !isRoleAccount(name) || strings.ContainsAny(name, ".-_+@ ") || name != strings.ToLower(name) {
			t.Errorf("role %q is not canonical", name)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	c, a, vat := goodRecord()
	f.Add(c.Name, c.Email, c.Phone, a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country, vat, true, true)
	f.Add(" Émile Roy ", "emile@Example.CA", "(613) 555-0100", "24 Sussex Dr", "", "Ottawa", "on", "k1m 1m4", "ca", "", true, true)
	f.Add("Ann Lee", "ann@ACME.co.uk", "", "10 Downing St", "", "London", "", "sw1a 2aa", "gb", "gb 123 4567 89", true, true)
	f.Add("Eva", "eva@firma.ch", "+41 44 123 45 67", "Bahnhofstrasse 1", "", "Zürich", "ZH", "8001", "ch", "che-123.456.789 mwst", true, true)
	f.Add("Jane", "Jane <support@x.com>", "++1", "", "", "", "", "", "UK", "GR123", false, false)
	f.Add("\u202e", "a@b.c", "1(2)3", "\xff", "\x00", " ", "ſ", "\u00a0", "ſe", "\u3000de 123 456 789", true, true)
	f.Add("Li", "x@y.zz", "1234567", "l", "", "c", "ny", "12345-6789", "US", "ie1+12345t", true, true)

	known := set(fieldNames...)
	f.Fuzz(func(t *testing.T, name, email, phone, line1, line2, city, state, postal, country, vat string, hasContact, hasAddress bool) {
		var cp *dsu.Contact
		var ap *dsu.Address
		if hasContact {
			cp = &dsu.Contact{Name: name, Email: email, Phone: phone}
		}
		if hasAddress {
			ap = &dsu.Address{Line1: line1, Line2: line2, City: city, State: state, PostalCode: postal, Country: country}
		}
		gc, ga, gvat, err := Normalize(cp, ap, vat)
		if err != nil {
			var e *dsu.Error
			if !errors.As(err, &e) || e.Kind != dsu.KindInvalid || len(e.Fields) == 0 {
				t.Fatalf("error %#v", err)
			}
			seen := map[string]bool{}
			for _, fe := range e.Fields {
				if !known[fe.Field] || seen[fe.Field] || fe.Message == "" {
					t.Fatalf("field error %+v in %v", fe, e.Fields)
				}
				seen[fe.Field] = true
			}
			return
		}
		// Valid: normalising again changes nothing and still passes.
		gc2, ga2, gvat2, err := Normalize(&gc, &ga, gvat)
		if err != nil {
			t.Fatalf("normalised values %+v %+v %q rejected: %v", gc, ga, gvat, err)
		}
		if gc2 != gc || ga2 != ga || gvat2 != gvat {
			t.Fatalf("not idempotent:\n%+v %+v %q\n%+v %+v %q", gc, ga, gvat, gc2, ga2, gvat2)
		}
		for _, s := range []string{gc.Name, gc.Email, gc.Phone, ga.Line1, ga.Line2, ga.City, ga.State, ga.PostalCode, ga.Country, gvat} {
			if s != strings.TrimSpace(s) || !utf8.ValidString(s) {
				t.Fatalf("field %q not normalised", s)
			}
		}
		if !validCountry(ga.Country) || isRoleAccount(gc.Email) {
			t.Fatalf("accepted %+v %+v", gc, ga)
		}
	})
}
