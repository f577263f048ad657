package admincli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// recorder answers every request with one canned response and keeps the
// requests.
type recorder struct {
	status int
	body   string
	reqs   []*http.Request
	bodies []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	b := ""
	if req.Body != nil {
		raw, _ := io.ReadAll(req.Body)
		b = string(raw)
	}
	r.reqs, r.bodies = append(r.reqs, req), append(r.bodies, b)
	return &http.Response{StatusCode: r.status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(r.body)), Request: req}, nil
}

func run(t *testing.T, rt http.RoundTripper, creds aws.CredentialsProvider, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	c := &CLI{Stdout: &out, Stderr: &out, HTTP: &http.Client{Transport: rt}, Credentials: creds}
	return c.Run(context.Background(), args), out.String()
}

// Calls to an execute-api endpoint are SigV4-signed for execute-api in the
// endpoint's region; calls to the local stack are not signed.
func TestSigV4OnlyForExecuteAPI(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	rec := &recorder{status: 200, body: `{"ok":true,"problems":[]}`}
	if status, out := run(t, rec, creds, "-api", "https://abc123.execute-api.eu-west-1.amazonaws.com", "verify", "p1"); status != ExitOK {
		t.Fatalf("%d %s", status, out)
	}
	auth := rec.reqs[0].Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, "/eu-west-1/execute-api/aws4_request") {
		t.Errorf("Authorization %q", auth)
	}
	if rec.reqs[0].URL.Path != "/v1/admin/partners/p1/verify" {
		t.Errorf("path %s", rec.reqs[0].URL.Path)
	}
	local := &recorder{status: 200, body: `{"ok":true,"problems":[]}`}
	run(t, local, creds, "-api", "http://127.0.0.1:8080", "verify", "p1")
	if got := local.reqs[0].Header.Get("Authorization"); got != "" {
		t.Errorf("the local stack got a signature: %q", got)
	}
}

// verify exits 1 when any partner has a problem, and prints each with its
// kind.
func TestVerifyExitStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/bad/") {
			io.WriteString(w, `{"ok":false,"problems":[{"kind":"paid_not_credited","detail":"PaymentIntent pi_1 succeeded but the purchase is pending","purchaseId":"pur_1"}]}`)
			return
		}
		io.WriteString(w, `{"ok":true,"problems":[]}`)
	}))
	defer srv.Close()
	status, out := run(t, http.DefaultTransport, nil, "-api", srv.URL, "verify", "good", "bad")
	if status != ExitProblems || !strings.Contains(out, "good: ok") || !strings.Contains(out, "paid_not_credited [pur_1]: PaymentIntent pi_1") {
		t.Errorf("%d\n%s", status, out)
	}
	if status, _ := run(t, http.DefaultTransport, nil, "-api", srv.URL, "verify", "good"); status != ExitOK {
		t.Errorf("all ok: %d", status)
	}
}

// A partner verify cannot check (an unknown id, a failed call) is reported
// and exits 1, but the partners after it are still verified.
func TestVerifyGoesOnPastAPartnerItCannotCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/nobody/") {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"type":"urn:dsu-billing:problem:not_found","title":"Not found","status":404,"detail":"unknown partner","code":"not_found"}`)
			return
		}
		io.WriteString(w, `{"ok":true,"problems":[]}`)
	}))
	defer srv.Close()
	status, out := run(t, http.DefaultTransport, nil, "-api", srv.URL, "verify", "good", "nobody", "after")
	if status != ExitProblems || !strings.Contains(out, "good: ok") || !strings.Contains(out, "nobody: GET /v1/admin/partners/nobody/verify: 404 not_found unknown partner") ||
		!strings.Contains(out, "after: ok") {
		t.Errorf("%d\n%s", status, out)
	}
	status, out = run(t, http.DefaultTransport, nil, "-api", srv.URL, "-json", "verify", "nobody", "after")
	if status != ExitProblems || !strings.Contains(out, `{"error":"GET /v1/admin/partners/nobody/verify: 404 not_found unknown partner","partnerId":"nobody"}`) ||
		!strings.Contains(out, `{"partnerId":"after","verification":{"ok":true,"problems":[]}}`) {
		t.Errorf("-json: %d\n%s", status, out)
	}
}

// The default Idempotency-Key is derived from the adjustment, so running
// the same command twice can never adjust twice; -key overrides it.
func TestAdjustKeys(t *testing.T) {
	rec := &recorder{status: 201, body: `{"id":"le_1","units":5,"balanceAfter":2005,"reference":"adjustment:k","description":"Adjustment: x"}`}
	for range 2 {
		if status, out := run(t, rec, nil, "adjust", "p1", "-units", "5", "-reason", "goodwill", "-ticket", "T-1"); status != ExitOK {
			t.Fatalf("%d %s", status, out)
		}
	}
	run(t, rec, nil, "adjust", "p1", "-units", "6", "-reason", "goodwill", "-ticket", "T-1")
	run(t, rec, nil, "adjust", "p1", "-units", "5", "-reason", "goodwill", "-key", "mine")
	k := func(i int) string { return rec.reqs[i].Header.Get("Idempotency-Key") }
	if k(0) == "" || k(0) != k(1) || k(2) == k(0) || k(3) != "mine" {
		t.Errorf("keys %q %q %q %q", k(0), k(1), k(2), k(3))
	}
	if rec.bodies[0] != `{"reason":"goodwill","ticket":"T-1","units":5}` {
		t.Errorf("body %s", rec.bodies[0])
	}
	for _, args := range [][]string{{"adjust", "p1", "-reason", "x"}, {"adjust", "-units", "5"}, {"frobnicate"}, {}} {
		if status, _ := run(t, rec, nil, args...); status != ExitUsage {
			t.Errorf("%v: %d", args, status)
		}
	}
}

// A refused request shows the API's problem and fails.
func TestProblemsAreShown(t *testing.T) {
	rec := &recorder{status: 404, body: `{"type":"urn:dsu-billing:problem:not_found","title":"Not found","status":404,"detail":"unknown partner","code":"not_found"}`}
	status, out := run(t, rec, nil, "show", "nobody")
	if status != ExitProblems || !strings.Contains(out, "404 not_found unknown partner") {
		t.Errorf("%d %s", status, out)
	}
}

// An operator who mistypes an adjustment sees which field the API refused
// and why (the problem's errors), not only its title.
func TestValidationErrorsNameTheField(t *testing.T) {
	rec := &recorder{status: 400, body: `{"type":"urn:dsu-billing:problem:validation_failed","title":"Invalid request","status":400,` +
		`"detail":"the request is not valid","code":"validation_failed","errors":[` +
		`{"field":"units","message":"must be a whole number of DSUs, not 0, from -10,000,000 to 10,000,000"},` +
		`{"field":"reason","message":"must be 3 to 500 characters"}]}`}
	status, out := run(t, rec, nil, "-api", "http://127.0.0.1:1", "adjust", "acme", "-units", "-99999999", "-reason", "ty")
	want := "400 validation_failed the request is not valid\n" +
		"  units: must be a whole number of DSUs, not 0, from -10,000,000 to 10,000,000\n" +
		"  reason: must be 3 to 500 characters\n"
	if status != ExitProblems || !strings.Contains(out, want) {
		t.Errorf("%d\n%s", status, out)
	}
}
