package stripeapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"

	"github.com/stripe/stripe-go/v76"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Contract tests: every call through the real stripe-go client against
// stripe-mock, which validates the request against Stripe's OpenAPI spec and
// answers with fixture data. They assert the request we send and that the
// answer maps into our types.

var testAddress = dsu.Address{
	Line1: "1 Main St", Line2: "Suite 200", City: "Springfield",
	State: "IL", PostalCode: "62701", Country: "US",
}

func TestCreateCustomer(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	id, err := c.CreateCustomer(context.Background(), app.CustomerDetails{
		PartnerID: "partner-1", Name: "Ada Lovelace", Email: "ada@example.com",
		Phone: "+1 555 0100", Address: testAddress, VATID: "DE123456789",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "cus_") {
		t.Errorf("id = %q, want a cus_ id", id)
	}
	s := rec.only(t)
	if s.Method != http.MethodPost || s.Path != "/v1/customers" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
	if got := s.Header.Get("Idempotency-Key"); got != "customer:partner-1" {
		t.Errorf("Idempotency-Key = %q", got)
	}
	wantForm(t, s.Form, map[string]string{
		"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+1 555 0100",
		"address[line1]": "1 Main St", "address[line2]": "Suite 200", "address[city]": "Springfield",
		"address[state]": "IL", "address[postal_code]": "62701", "address[country]": "US",
		"metadata[partner_id]": "partner-1", "metadata[vat_id]": "DE123456789",
	})
}

func TestCreateCustomerOmitsEmptyFields(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	_, err := c.CreateCustomer(context.Background(), app.CustomerDetails{
		PartnerID: "partner-2", Name: "Grace Hopper", Email: "grace@example.com",
		Address: dsu.Address{Line1: "2 Side St", City: "Paris", PostalCode: "75001", Country: "FR"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := rec.only(t)
	wantForm(t, s.Form, map[string]string{"metadata[partner_id]": "partner-2", "address[country]": "FR"})
	wantAbsent(t, s.Form, "phone", "address[line2]", "address[state]", "metadata[vat_id]")
}

func TestUpdateCustomer(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	addr := testAddress
	addr.Line2 = ""
	err := c.UpdateCustomer(context.Background(), "cus_123", app.CustomerDetails{
		PartnerID: "partner-1", Name: "Ada Lovelace", Email: "ada@example.com",
		Phone: "+1 555 0100", Address: addr,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := rec.only(t)
	if s.Method != http.MethodPost || s.Path != "/v1/customers/cus_123" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
	// Empty values clear the field (and the vat_id metadata key) at Stripe.
	wantForm(t, s.Form, map[string]string{
		"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+1 555 0100",
		"address[line1]": "1 Main St", "address[line2]": "", "address[city]": "Springfield",
		"address[state]": "IL", "address[postal_code]": "62701", "address[country]": "US",
		"metadata[partner_id]": "partner-1", "metadata[vat_id]": "",
	})
}

func TestCreateSetupIntent(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	si, err := c.CreateSetupIntent(context.Background(), "cus_123", "partner-1", "setup:partner-1:req-7")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(si.ID, "seti_") || si.ClientSecret == "" || si.Status == "" {
		t.Errorf("setup intent = %+v", si)
	}
	if si.CustomerID != "cus_123" {
		t.Errorf("CustomerID = %q, want cus_123", si.CustomerID)
	}
	s := rec.only(t)
	if s.Method != http.MethodPost || s.Path != "/v1/setup_intents" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
	if got := s.Header.Get("Idempotency-Key"); got != "setup:partner-1:req-7" {
		t.Errorf("Idempotency-Key = %q", got)
	}
	wantForm(t, s.Form, map[string]string{
		"customer": "cus_123", "usage": "off_session", "metadata[partner_id]": "partner-1",
	})
	wantCardOnly(t, s)
}

// wantCardOnly checks payment_method_types=[card], however stripe-go
// indexes the array.
func wantCardOnly(t *testing.T, s sent) {
	t.Helper()
	var types []string
	for k, vs := range s.Form {
		if strings.HasPrefix(k, "payment_method_types[") {
			types = append(types, vs...)
		}
	}
	if len(types) != 1 || types[0] != "card" {
		t.Errorf("payment_method_types = %v, want [card] (form %v)", types, s.Form)
	}
}

func TestGetSetupIntent(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	si, err := c.GetSetupIntent(context.Background(), "seti_123")
	if err != nil {
		t.Fatal(err)
	}
	if si.ID == "" || si.Status == "" {
		t.Errorf("setup intent = %+v", si)
	}
	// The creation time orders SetupIntents (a late event never saves an
	// older card over a newer one): it must come through.
	if si.Created.IsZero() || si.Created.Location() != time.UTC {
		t.Errorf("Created = %v, want Stripe's created in UTC", si.Created)
	}
	s := rec.only(t)
	if s.Method != http.MethodGet || s.Path != "/v1/setup_intents/seti_123" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
}

func TestGetPaymentMethod(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	pm, err := c.GetPaymentMethod(context.Background(), "pm_123")
	if err != nil {
		t.Fatal(err)
	}
	if pm.ID == "" || pm.Brand == "" || len(pm.Last4) != 4 || pm.ExpMonth < 1 || pm.ExpMonth > 12 || pm.ExpYear == 0 {
		t.Errorf("payment method = %+v", pm)
	}
	s := rec.only(t)
	if s.Method != http.MethodGet || s.Path != "/v1/payment_methods/pm_123" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
}

func TestSetDefaultPaymentMethod(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	if err := c.SetDefaultPaymentMethod(context.Background(), "cus_123", "pm_123"); err != nil {
		t.Fatal(err)
	}
	s := rec.only(t)
	if s.Method != http.MethodPost || s.Path != "/v1/customers/cus_123" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
	wantForm(t, s.Form, map[string]string{"invoice_settings[default_payment_method]": "pm_123"})
	if len(s.Form) != 1 {
		t.Errorf("form = %v, want only the default payment method", s.Form)
	}
}

func TestDetachPaymentMethod(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	if err := c.DetachPaymentMethod(context.Background(), "pm_123"); err != nil {
		t.Fatal(err)
	}
	s := rec.only(t)
	if s.Method != http.MethodPost || s.Path != "/v1/payment_methods/pm_123/detach" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
}

func TestCreatePaymentIntent(t *testing.T) {
	base := app.PaymentIntentRequest{
		PurchaseID: "pur_01", PartnerID: "partner-1", Amount: dsu.Money{Amount: 12345, Currency: dsu.EUR},
		CustomerID: "cus_123", ReceiptEmail: "ada@example.com",
	}
	tests := []struct {
		name   string
		in     func(app.PaymentIntentRequest) app.PaymentIntentRequest
		want   map[string]string
		absent []string
	}{
		{
			name: "new card, confirmed by the portal",
			in: func(in app.PaymentIntentRequest) app.PaymentIntentRequest {
				in.Kind = dsu.KindManual
				return in
			},
			want:   map[string]string{"metadata[kind]": "manual"},
			absent: []string{"confirm", "off_session", "payment_method"},
		},
		{
			name: "saved card, on-session",
			in: func(in app.PaymentIntentRequest) app.PaymentIntentRequest {
				in.Kind, in.PaymentMethodID, in.Confirm = dsu.KindManual, "pm_123", true
				return in
			},
			want:   map[string]string{"metadata[kind]": "manual", "confirm": "true", "payment_method": "pm_123"},
			absent: []string{"off_session"},
		},
		{
			name: "automatic refill, off-session",
			in: func(in app.PaymentIntentRequest) app.PaymentIntentRequest {
				in.Kind, in.PaymentMethodID, in.Confirm, in.OffSession = dsu.KindAutoRefill, "pm_123", true, true
				return in
			},
			want: map[string]string{"metadata[kind]": "auto_refill", "confirm": "true", "off_session": "true", "payment_method": "pm_123"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newTestClient(mockURL(t))
			pi, err := c.CreatePaymentIntent(context.Background(), tt.in(base))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(pi.ID, "pi_") || pi.Status == "" || pi.ClientSecret == "" {
				t.Errorf("payment intent = %+v", pi)
			}
			if pi.Amount != (dsu.Money{Amount: 12345, Currency: dsu.EUR}) || pi.CustomerID != "cus_123" {
				t.Errorf("amount %+v customer %q, want the request's", pi.Amount, pi.CustomerID)
			}
			s := rec.only(t)
			if s.Method != http.MethodPost || s.Path != "/v1/payment_intents" {
				t.Errorf("request = %s %s", s.Method, s.Path)
			}
			if got := s.Header.Get("Idempotency-Key"); got != "purchase:pur_01" {
				t.Errorf("Idempotency-Key = %q", got)
			}
			want := map[string]string{
				"amount": "12345", "currency": "eur", "customer": "cus_123", "receipt_email": "ada@example.com",
				"metadata[partner_id]": "partner-1", "metadata[purchase_id]": "pur_01",
			}
			for k, v := range tt.want {
				want[k] = v
			}
			wantForm(t, s.Form, want)
			wantAbsent(t, s.Form, tt.absent...)
			wantCardOnly(t, s)
		})
	}
}

func TestCreatePaymentIntentRejectsBadInput(t *testing.T) {
	ok := app.PaymentIntentRequest{
		PurchaseID: "pur_01", PartnerID: "partner-1", Kind: dsu.KindManual,
		Amount: dsu.Money{Amount: 100, Currency: dsu.USD}, CustomerID: "cus_123",
	}
	tests := map[string]func(*app.PaymentIntentRequest){
		"no purchase":           func(in *app.PaymentIntentRequest) { in.PurchaseID = "" },
		"no partner":            func(in *app.PaymentIntentRequest) { in.PartnerID = "" },
		"no kind":               func(in *app.PaymentIntentRequest) { in.Kind = "" },
		"zero amount":           func(in *app.PaymentIntentRequest) { in.Amount.Amount = 0 },
		"no currency":           func(in *app.PaymentIntentRequest) { in.Amount.Currency = "" },
		"confirm without card":  func(in *app.PaymentIntentRequest) { in.Confirm = true },
		"off-session unconfirm": func(in *app.PaymentIntentRequest) { in.OffSession, in.PaymentMethodID = true, "pm_1" },
		"key too long":          func(in *app.PaymentIntentRequest) { in.PurchaseID = strings.Repeat("x", 250) },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c, rec := newTestClient("http://127.0.0.1:1")
			in := ok
			mutate(&in)
			_, err := c.CreatePaymentIntent(context.Background(), in)
			dsuError(t, err, dsu.KindInternal)
			if n := len(rec.all()); n != 0 {
				t.Errorf("sent %d requests for invalid input", n)
			}
		})
	}
}

func TestRejectsMissingIDsWithoutARequest(t *testing.T) {
	c, rec := newTestClient("http://127.0.0.1:1")
	ctx := context.Background()
	_, err := c.CreateCustomer(ctx, app.CustomerDetails{})
	dsuError(t, err, dsu.KindInternal)
	dsuError(t, c.UpdateCustomer(ctx, "", app.CustomerDetails{PartnerID: "p"}), dsu.KindInternal)
	_, err = c.CreateSetupIntent(ctx, "cus_1", "p", "")
	dsuError(t, err, dsu.KindInternal)
	_, err = c.CreateSetupIntent(ctx, "cus_1", "p", " padded ")
	dsuError(t, err, dsu.KindInternal)
	_, err = c.GetSetupIntent(ctx, "")
	dsuError(t, err, dsu.KindNotFound)
	_, err = c.GetPaymentMethod(ctx, "")
	dsuError(t, err, dsu.KindNotFound)
	dsuError(t, c.SetDefaultPaymentMethod(ctx, "cus_1", ""), dsu.KindInternal)
	dsuError(t, c.DetachPaymentMethod(ctx, ""), dsu.KindNotFound)
	_, err = c.GetPaymentIntent(ctx, "")
	dsuError(t, err, dsu.KindNotFound)
	_, err = c.CancelPaymentIntent(ctx, "", "abandoned")
	dsuError(t, err, dsu.KindNotFound)
	_, err = c.ListRefunds(ctx, "")
	dsuError(t, err, dsu.KindNotFound)
	if n := len(rec.all()); n != 0 {
		t.Errorf("sent %d requests", n)
	}
}

func TestGetPaymentIntent(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	pi, err := c.GetPaymentIntent(context.Background(), "pi_123")
	if err != nil {
		t.Fatal(err)
	}
	if pi.ID == "" || pi.Status == "" || pi.Amount.Amount <= 0 || pi.Amount.Currency == "" {
		t.Errorf("payment intent = %+v", pi)
	}
	s := rec.only(t)
	if s.Method != http.MethodGet || s.Path != "/v1/payment_intents/pi_123" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
}

func TestCancelPaymentIntent(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	pi, err := c.CancelPaymentIntent(context.Background(), "pi_123", "abandoned")
	if err != nil {
		t.Fatal(err)
	}
	// stripe-mock answers with its fixture; what matters is that the answer
	// maps into our type.
	if pi.ID == "" || pi.Status == "" || pi.Amount.Amount <= 0 || pi.Amount.Currency == "" {
		t.Errorf("payment intent = %+v", pi)
	}
	s := rec.only(t)
	if s.Method != http.MethodPost || s.Path != "/v1/payment_intents/pi_123/cancel" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
	wantForm(t, s.Form, map[string]string{"cancellation_reason": "abandoned"})
}

func TestListRefunds(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	refunds, err := c.ListRefunds(context.Background(), "ch_123")
	if err != nil {
		t.Fatal(err)
	}
	if len(refunds) == 0 {
		t.Fatal("no refunds")
	}
	for _, r := range refunds {
		if !strings.HasPrefix(r.ID, "re_") || r.Status == "" || r.Amount <= 0 {
			t.Errorf("refund = %+v", r)
		}
	}
	s := rec.only(t)
	if s.Method != http.MethodGet || s.Path != "/v1/refunds" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
	wantForm(t, s.Query, map[string]string{"charge": "ch_123", "limit": "100"})
}

// stripe-mock never has a second page; a fake API shows ListRefunds follows
// has_more with starting_after.
func TestListRefundsAllPages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query()
		if r.URL.Path != "/v1/refunds" || q.Get("charge") != "ch_9" {
			http.Error(w, `{"error":{"type":"invalid_request_error","message":"bad"}}`, http.StatusBadRequest)
			return
		}
		switch q.Get("starting_after") {
		case "":
			fmt.Fprint(w, `{"object":"list","url":"/v1/refunds","has_more":true,"data":[
				{"id":"re_3","object":"refund","amount":300,"status":"succeeded"},
				{"id":"re_2","object":"refund","amount":200,"status":"pending"}]}`)
		case "re_2":
			fmt.Fprint(w, `{"object":"list","url":"/v1/refunds","has_more":false,"data":[
				{"id":"re_1","object":"refund","amount":100,"status":"failed"}]}`)
		default:
			http.Error(w, `{"error":{"type":"invalid_request_error","message":"bad cursor"}}`, http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	c, rec := newTestClient(srv.URL)
	refunds, err := c.ListRefunds(context.Background(), "ch_9")
	if err != nil {
		t.Fatal(err)
	}
	want := []app.Refund{{ID: "re_3", Status: "succeeded", Amount: 300}, {ID: "re_2", Status: "pending", Amount: 200}, {ID: "re_1", Status: "failed", Amount: 100}}
	if fmt.Sprint(refunds) != fmt.Sprint(want) {
		t.Errorf("refunds = %v, want %v", refunds, want)
	}
	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("sent %d requests, want 2", len(reqs))
	}
	for _, s := range reqs {
		checkCommon(t, s)
	}
}

// One Client serves concurrent requests (run with -race) and never touches
// stripe-go's package-level key.
func TestClientIsConcurrentAndHasNoGlobalState(t *testing.T) {
	before := stripe.Key
	c, rec := newTestClient(mockURL(t))
	if stripe.Key != before {
		t.Fatalf("New changed stripe.Key")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			_, err := c.GetPaymentIntent(context.Background(), fmt.Sprintf("pi_%d", i))
			errs <- err
			_, err = c.GetSetupIntent(context.Background(), fmt.Sprintf("seti_%d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(rec.all()); n != 16 {
		t.Errorf("sent %d requests, want 16", n)
	}
	for _, s := range rec.all() {
		checkCommon(t, s)
	}
	if stripe.Key != before {
		t.Errorf("requests changed stripe.Key")
	}
}

// Upgrading stripe-go changes the API version it sends; the code reads
// 2023-10-16 objects.
func TestAPIVersionPinned(t *testing.T) {
	if stripe.APIVersion != APIVersion {
		t.Errorf("stripe-go sends %s, this code reads %s", stripe.APIVersion, APIVersion)
	}
}

// The real API base is the default.
func TestDefaultAPIBase(t *testing.T) {
	var got string
	c := New(Config{SecretKey: testKey, HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.Scheme + "://" + r.URL.Host
		return nil, fmt.Errorf("offline")
	})}})
	_, err := c.GetPaymentIntent(context.Background(), "pi_1")
	dsuError(t, err, dsu.KindUpstreamUnavailable)
	if got != "https://api.stripe.com" {
		t.Errorf("base = %q, want https://api.stripe.com", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFindPaymentIntent(t *testing.T) {
	c, rec := newTestClient(mockURL(t))
	since := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	if _, found, err := c.FindPaymentIntent(context.Background(), "cus_123", "pur_1", since); err != nil || found {
		t.Fatalf("found %v, %v: stripe-mock's fixture carries no purchase_id, nothing may match", found, err)
	}
	s := rec.only(t)
	if s.Method != http.MethodGet || s.Path != "/v1/payment_intents" {
		t.Errorf("request = %s %s", s.Method, s.Path)
	}
	wantForm(t, s.Query, map[string]string{"customer": "cus_123", "limit": "100", "created[gte]": fmt.Sprint(since.Add(-5 * time.Minute).Unix())})
	if _, _, err := c.FindPaymentIntent(context.Background(), "", "pur_1", since); dsu.ErrorKind(err) != dsu.KindInternal {
		t.Fatalf("no customer: %v", err)
	}
}

// The purchase's PaymentIntent is found by its metadata across pages.
func TestFindPaymentIntentByMetadata(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("starting_after") == "" {
			fmt.Fprint(w, `{"object":"list","url":"/v1/payment_intents","has_more":true,"data":[
				{"id":"pi_other","object":"payment_intent","amount":100,"currency":"usd","status":"succeeded","metadata":{"purchase_id":"pur_0"}}]}`)
			return
		}
		fmt.Fprint(w, `{"object":"list","url":"/v1/payment_intents","has_more":false,"data":[
			{"id":"pi_mine","object":"payment_intent","amount":5000,"currency":"usd","status":"succeeded","metadata":{"purchase_id":"pur_1","partner_id":"p1"}}]}`)
	}))
	defer srv.Close()
	c, _ := newTestClient(srv.URL)
	pi, found, err := c.FindPaymentIntent(context.Background(), "cus_1", "pur_1", time.Now())
	if err != nil || !found || pi.ID != "pi_mine" || pi.Status != "succeeded" || pi.Amount.Amount != 5000 {
		t.Fatalf("%+v %v %v", pi, found, err)
	}
}
