package stripeapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/stripemock"
)

// testKey is the secret key the tests send; it must appear only in the
// Authorization header.
const testKey = "sk_test_51TestKeyThatMustNeverLeak"

func TestMain(m *testing.M) {
	code := m.Run()
	stripemock.StopShared()
	os.Exit(code)
}

// mockURL returns the URL of the shared stripe-mock, started on first use
// (the first build of the pinned tool takes a while).
func mockURL(t *testing.T) string {
	t.Helper()
	p, err := stripemock.Shared()
	if err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	return p.URL
}

// sent is one request the client sent, as the server saw it.
type sent struct {
	Method string
	Path   string
	Query  url.Values
	Form   url.Values
	Header http.Header
	URL    string
	Body   string
}

// recorder is a RoundTripper that records every request before passing it
// on.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []sent
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.reqs = append(r.reqs, sent{
		Method: req.Method,
		Path:   req.URL.Path,
		Query:  req.URL.Query(),
		Form:   form,
		Header: req.Header.Clone(),
		URL:    req.URL.String(),
		Body:   string(body),
	})
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

func (r *recorder) all() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.reqs...)
}

// only returns the one request sent, checking what every request must
// carry: the key in the Authorization header and nowhere else, and the
// pinned API version.
func (r *recorder) only(t *testing.T) sent {
	t.Helper()
	reqs := r.all()
	if len(reqs) != 1 {
		t.Fatalf("sent %d requests, want 1", len(reqs))
	}
	s := reqs[0]
	checkCommon(t, s)
	return s
}

func checkCommon(t *testing.T, s sent) {
	t.Helper()
	if got := s.Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q, want the bearer key", got)
	}
	if got := s.Header.Get("Stripe-Version"); got != "2023-10-16" {
		t.Errorf("Stripe-Version = %q, want 2023-10-16", got)
	}
	if strings.Contains(s.URL, testKey) || strings.Contains(s.Body, testKey) {
		t.Errorf("secret key in URL or body: %s %s", s.URL, s.Body)
	}
	for name, values := range s.Header {
		if name == "Authorization" {
			continue
		}
		for _, v := range values {
			if strings.Contains(v, testKey) {
				t.Errorf("secret key in header %s", name)
			}
		}
	}
}

// newTestClient builds a Client for base with a recording transport and no
// retries.
func newTestClient(base string) (*Client, *recorder) {
	rec := &recorder{next: http.DefaultTransport}
	c := New(Config{
		SecretKey:         testKey,
		APIBase:           base,
		HTTPClient:        &http.Client{Transport: rec},
		MaxNetworkRetries: 0,
	})
	return c, rec
}

// wantForm checks form (or query) values exactly.
func wantForm(t *testing.T, got url.Values, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if !got.Has(k) {
			t.Errorf("parameter %s missing, want %q", k, v)
			continue
		}
		if g := got.Get(k); g != v {
			t.Errorf("parameter %s = %q, want %q", k, g, v)
		}
	}
}

// wantAbsent checks that none of the parameters were sent.
func wantAbsent(t *testing.T, got url.Values, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if got.Has(k) {
			t.Errorf("parameter %s = %q, want it absent", k, got.Get(k))
		}
	}
}

// dsuError asserts that err is a *dsu.Error of kind k.
func dsuError(t *testing.T, err error, k dsu.Kind) *dsu.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", k)
	}
	var de *dsu.Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %T %v, want *dsu.Error", err, err)
	}
	if de.Kind != k {
		t.Fatalf("kind = %s (%v), want %s", de.Kind, err, k)
	}
	return de
}
