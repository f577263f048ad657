package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/localstack"
)

// The reference portal (docs/ARCHITECTURE.md, "The reference portal"): one
// page, embedded in the binary, served at / by the local stack only, and the
// local-only endpoints it needs to stand in for the identity provider and
// for Stripe Elements. Everything else it does goes through the API on the
// same origin, as the real portal would.

//go:embed portal
var portalFiles embed.FS

// portalAssets are the page's files: path → embedded file and its type.
var portalAssets = map[string]struct{ file, contentType string }{
	"/":           {"portal/index.html", "text/html; charset=utf-8"},
	"/portal.css": {"portal/portal.css", "text/css; charset=utf-8"},
	"/portal.js":  {"portal/portal.js", "text/javascript; charset=utf-8"},
}

// portalCSP keeps the page to its own origin: scripts, styles and fetches
// from the local stack only (a receipt link is a navigation, not a fetch).
const portalCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// portalScenarios are the simulated Stripe events the page may ask for: the
// outcomes of confirming a card with Stripe Elements. Other scenarios
// (refunds, raw events read from a file) stay with `dsu-local simulate`.
var portalScenarios = map[string]bool{
	"payment-succeeded":       true,
	"payment-failed":          true,
	"payment-requires-action": true,
	"setup-succeeded":         true,
}

// maxLocalBody bounds the local endpoints' bodies.
const maxLocalBody = 4 << 10

// portal serves the page and its local-only endpoints.
type portal struct {
	env environment
	sim *simulation
	log *slog.Logger
	now func() time.Time
}

// portalHandler is the local stack's handler for the paths outside /v1
// (localstack.Options.Local).
func portalHandler(env environment, log *slog.Logger) func(apiURL string) http.Handler {
	return func(apiURL string) http.Handler {
		p := &portal{env: env, sim: &simulation{env: env, baseURL: apiURL}, log: log.With("component", "portal"), now: time.Now}
		mux := http.NewServeMux()
		for path := range portalAssets {
			pattern := "GET " + path
			if path == "/" {
				pattern = "GET /{$}"
			}
			mux.HandleFunc(pattern, p.asset)
		}
		mux.HandleFunc("POST /local/token", p.token)
		mux.HandleFunc("POST /local/simulate", p.simulate)
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			// What the gateway answers for a path it has no route for.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"message":"Not Found"}`+"\n")
		})
		return p.logged(mux)
	}
}

func (p *portal) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, req)
		p.log.Info("http", "method", req.Method, "path", req.URL.Path, "status", sw.status, "ms", time.Since(start).Milliseconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (p *portal) asset(w http.ResponseWriter, req *http.Request) {
	a := portalAssets[req.URL.Path]
	body, err := portalFiles.ReadFile(a.file)
	if err != nil {
		http.Error(w, "missing asset", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", portalCSP)
	_, _ = w.Write(body)
}

// tokenRequest is POST /local/token: what `dsu-local token -partner P
// [-admin]` takes.
type tokenRequest struct {
	PartnerID string `json:"partnerId"`
	Admin     bool   `json:"admin"`
}

type tokenResponse struct {
	Token     string    `json:"token"`
	PartnerID string    `json:"partnerId"`
	Admin     bool      `json:"admin"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// portalTokenTTL is the validity of the page's tokens, as `dsu-local token`'s default.
const portalTokenTTL = 12 * time.Hour

// token mints the local token the identity provider would issue to a
// portal user: the page's "who am I".
func (p *portal) token(w http.ResponseWriter, req *http.Request) {
	var in tokenRequest
	if err := decodeLocal(req, &in); err != nil {
		writeProblem(w, err)
		return
	}
	if err := dsu.ValidatePartnerID(in.PartnerID); err != nil {
		writeProblem(w, dsu.InvalidField("partnerId", err.Error()))
		return
	}
	now := p.now()
	tok, err := p.env.mintToken(in.PartnerID, in.Admin, portalTokenTTL, now)
	if err != nil {
		p.log.Error("mint token", "error", err.Error())
		writeProblem(w, dsu.Errorf(dsu.KindInternal, "mint token"))
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{Token: tok, PartnerID: in.PartnerID, Admin: in.Admin, ExpiresAt: now.Add(portalTokenTTL).UTC()})
}

// simulateRequest is POST /local/simulate: one of portalScenarios for the
// token's partner.
type simulateRequest struct {
	Scenario      string `json:"scenario"`
	PurchaseID    string `json:"purchaseId"`
	SetupIntentID string `json:"setupIntentId"`
	DeclineCode   string `json:"declineCode"`
}

type simulateResponse struct {
	Scenario      string `json:"scenario"`
	WebhookStatus int    `json:"webhookStatus"`
}

var (
	stripeIDPattern    = regexp.MustCompile(`^[A-Za-z0-9_]{1,255}$`)
	declineCodePattern = regexp.MustCompile(`^[a-z_]{1,64}$`)
)

// simulate plays the Stripe event that confirming a card with Stripe
// Elements would lead to, through the same scenarios as `dsu-local
// simulate`. It stands for the person at the card form, so it takes the
// partner from the page's token and needs the billing-admin group, like
// every write.
func (p *portal) simulate(w http.ResponseWriter, req *http.Request) {
	partner, err := p.admin(req)
	if err != nil {
		writeProblem(w, err)
		return
	}
	var in simulateRequest
	if err := decodeLocal(req, &in); err != nil {
		writeProblem(w, err)
		return
	}
	var v dsu.Validation
	v.Check(portalScenarios[in.Scenario], "scenario", "must be payment-succeeded, payment-failed, payment-requires-action or setup-succeeded")
	args := []string{"-partner", partner}
	switch in.Scenario {
	case "setup-succeeded":
		v.Check(in.SetupIntentID == "" || stripeIDPattern.MatchString(in.SetupIntentID), "setupIntentId", "must be a SetupIntent id")
		if in.SetupIntentID != "" {
			args = append(args, "-setup-intent", in.SetupIntentID)
		}
	case "payment-succeeded", "payment-failed", "payment-requires-action":
		v.Check(stripeIDPattern.MatchString(in.PurchaseID), "purchaseId", "must be a purchase id")
		args = append(args, "-purchase", in.PurchaseID)
		if in.Scenario == "payment-failed" && in.DeclineCode != "" {
			v.Check(declineCodePattern.MatchString(in.DeclineCode), "declineCode", "must be a Stripe decline code such as insufficient_funds")
			args = append(args, "-code", in.DeclineCode)
		}
	}
	if err := v.Err(); err != nil {
		writeProblem(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 30*time.Second)
	defer cancel()
	status, body, err := p.sim.play(ctx, scenarios[in.Scenario], args)
	if err != nil {
		// The scenario could not be built from the stack's data: the
		// purchase has no PaymentIntent, the partner no Stripe customer.
		writeProblem(w, dsu.Errorf(dsu.KindConflict, "%s", err.Error()))
		return
	}
	if status >= 300 {
		p.log.Warn("simulated event refused", "scenario", in.Scenario, "status", status)
		writeProblem(w, dsu.Errorf(dsu.KindConflict, "the webhook answered %d: %s", status, strings.TrimSpace(string(body))))
		return
	}
	writeJSON(w, http.StatusOK, simulateResponse{Scenario: in.Scenario, WebhookStatus: status})
}

// admin verifies the page's token as the gateway does and returns its
// partner; the token must carry the billing-admin group.
func (p *portal) admin(req *http.Request) (string, error) {
	cfg, err := p.env.functionsConfig()
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	claims, err := localstack.VerifyToken(p.env.jwtSecret, token, p.now())
	if token == "" || err != nil {
		return "", dsu.Errorf(dsu.KindUnauthenticated, "a token from POST /local/token is required")
	}
	partner := claims[cfg.PartnerClaim]
	if dsu.ValidatePartnerID(partner) != nil {
		return "", dsu.Errorf(dsu.KindUnauthenticated, "the token names no usable partner")
	}
	groups := strings.Fields(strings.Trim(claims[cfg.GroupsClaim], "[]"))
	for _, g := range groups {
		if g == cfg.AdminGroup {
			return partner, nil
		}
	}
	return "", dsu.Errorf(dsu.KindForbidden, "only a billing admin may confirm a card")
}

// decodeLocal reads a small JSON body. JSON only: a cross-origin page
// cannot send it without a preflight, which the local endpoints never
// grant.
func decodeLocal(req *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return dsu.Errorf(dsu.KindUnsupportedMediaType, "the body must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxLocalBody+1))
	if err != nil {
		return dsu.InvalidField("body", "the body could not be read")
	}
	if len(body) > maxLocalBody {
		return dsu.Errorf(dsu.KindPayloadTooLarge, "the body is larger than 4 KiB")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return dsu.InvalidField("body", "must be a JSON object with the documented fields")
	}
	if dec.More() {
		return dsu.InvalidField("body", "must be one JSON object")
	}
	return nil
}

func writeProblem(w http.ResponseWriter, err error) {
	var de *dsu.Error
	if !errors.As(err, &de) {
		err = dsu.Errorf(dsu.KindInternal, "internal")
	}
	p := httpapi.ProblemOf(err, "local")
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
