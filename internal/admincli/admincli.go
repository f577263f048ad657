// Package admincli is dsu-admin, the on-call operator's command line over
// the operator routes (API.md, "Operator routes"): show a partner, adjust
// its balance, lift a dispute hold, verify it against its ledger and
// Stripe. Calls to an API Gateway execute-api endpoint are SigV4-signed
// with the default AWS credential chain; the local stack needs no
// signature.
package admincli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// DefaultAPI is the local stack's address.
const DefaultAPI = "http://127.0.0.1:8080"

const usage = `usage: dsu-admin [-api URL] [-json] <command> [flags]

commands:
  show PARTNER                           the partner's billing, plan, last ledger entries and purchases, invariant
  adjust PARTNER -units N -reason R [-ticket T] [-key K]
                                         an adjustment ledger entry, once per key (the default key is
                                         derived from partner, units, reason and ticket, so running the
                                         same command again never adjusts twice)
  release-dispute-hold PARTNER           lift a dispute hold (the plan stays paused until the partner re-enables it)
  verify PARTNER...                      check each partner's money; exit status 1 when any problem is found
                                         or a partner cannot be checked (the others are checked all the same)

-api defaults to ` + DefaultAPI + ` (the local stack). An execute-api URL is signed with
SigV4 using the default AWS credential chain (environment, shared config and SSO, ...).
`

// Exit statuses.
const (
	ExitOK       = 0
	ExitProblems = 1 // verify found problems, or a request failed
	ExitUsage    = 2
)

// CLI is one run of dsu-admin.
type CLI struct {
	Stdout, Stderr io.Writer
	// HTTP carries the requests; nil for a client with a 60 s timeout.
	HTTP *http.Client
	// Credentials signs execute-api calls; nil loads the default chain.
	Credentials aws.CredentialsProvider
	// Region of the execute-api endpoint when its host does not say.
	Region string
}

// Run runs dsu-admin with args (without the program name) and returns the
// exit status.
func (c *CLI) Run(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("dsu-admin", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.Usage = func() { fmt.Fprint(c.Stderr, usage) }
	api := fs.String("api", DefaultAPI, "API base URL")
	asJSON := fs.Bool("json", false, "print the API's JSON answers, for scripts")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(c.Stderr, usage)
		return ExitUsage
	}
	client := &apiClient{base: strings.TrimRight(*api, "/"), cli: c}
	var err error
	status := ExitOK
	switch cmd, args := rest[0], rest[1:]; cmd {
	case "show":
		err = c.show(ctx, client, args, *asJSON)
	case "adjust":
		err = c.adjust(ctx, client, args, *asJSON)
	case "release-dispute-hold":
		err = c.release(ctx, client, args, *asJSON)
	case "verify":
		status, err = c.verify(ctx, client, args, *asJSON)
	case "help", "-h":
		fmt.Fprint(c.Stdout, usage)
	default:
		err = usageError(fmt.Sprintf("unknown command %q", cmd))
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.Stderr, "dsu-admin: %s\n%s", ue, usage)
		return ExitUsage
	case err != nil:
		fmt.Fprintf(c.Stderr, "dsu-admin: %v\n", err)
		return ExitProblems
	}
	return status
}

type usageError string

func (e usageError) Error() string { return string(e) }

func onePartner(cmd string, args []string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", nil, usageError(cmd + " needs a partner id")
	}
	return args[0], args[1:], nil
}

// ---- commands ----

func (c *CLI) show(ctx context.Context, api *apiClient, args []string, asJSON bool) error {
	partner, rest, err := onePartner("show", args)
	if err != nil || len(rest) > 0 {
		return cmp(err, usageError("show takes one partner id"))
	}
	raw, err := api.call(ctx, "GET", "/v1/admin/partners/"+url.PathEscape(partner), "", nil, http.StatusOK)
	if err != nil {
		return err
	}
	if asJSON {
		return c.printJSON(raw)
	}
	var v struct {
		Billing struct {
			PartnerID, Currency string
			StripeCustomerID    *string
			Card                *struct {
				Brand, Last4      string
				ExpMonth, ExpYear int
			}
			Balance struct{ Units int64 }
		}
		Plan struct {
			Enabled               bool
			Status                string
			PausedReason          *string
			PackageID             *string
			Threshold             int64
			MonthlyLimit          int
			DisputeHold           bool
			Phase                 string
			PurchaseID, StartedAt *string
			Failures, MonthCount  int
			NextAttemptAt, Month  *string
		}
		Ledger []struct {
			CreatedAt, Type, Description string
			Units, BalanceAfter          int64
		}
		Purchases []struct {
			ID, Kind, Status, CreatedAt string
			Units                       int64
			Amount                      struct {
				Amount   int64
				Currency string
			}
		}
		Invariant struct {
			LedgerSum, Balance int64
			OK                 bool
		}
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	w := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	b, p := v.Billing, v.Plan
	fmt.Fprintf(w, "partner\t%s (%s)\n", b.PartnerID, b.Currency)
	fmt.Fprintf(w, "stripe customer\t%s\n", orDash(b.StripeCustomerID))
	if b.Card != nil {
		fmt.Fprintf(w, "card\t%s •••• %s, expires %02d/%d\n", b.Card.Brand, b.Card.Last4, b.Card.ExpMonth, b.Card.ExpYear)
	} else {
		fmt.Fprintf(w, "card\t-\n")
	}
	fmt.Fprintf(w, "balance\t%s DSUs\n", units(b.Balance.Units))
	invariant := "ok"
	if !v.Invariant.OK {
		invariant = fmt.Sprintf("BROKEN: ledger sums to %s", units(v.Invariant.LedgerSum))
	}
	fmt.Fprintf(w, "invariant\t%s\n", invariant)
	plan := p.Status
	if p.PausedReason != nil {
		plan += " (" + *p.PausedReason + ")"
	}
	if p.DisputeHold {
		plan += ", DISPUTE HOLD"
	}
	fmt.Fprintf(w, "plan\t%s, package %s, threshold %s, %d/%d automatic purchases in %s\n", plan, orDash(p.PackageID), units(p.Threshold), p.MonthCount, p.MonthlyLimit, orDash(p.Month))
	fmt.Fprintf(w, "refill\t%s, purchase %s, since %s, %d failures, next attempt %s\n", p.Phase, orDash(p.PurchaseID), orDash(p.StartedAt), p.Failures, orDash(p.NextAttemptAt))
	w.Flush()
	fmt.Fprintln(c.Stdout, "\nlast ledger entries:")
	w = tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, e := range v.Ledger {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t  %s\n", e.CreatedAt, e.Type, units(e.Units), units(e.BalanceAfter), e.Description)
	}
	w.Flush()
	fmt.Fprintln(c.Stdout, "\nlast purchases:")
	w = tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	for _, pu := range v.Purchases {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s DSUs\t%s %s\n", pu.CreatedAt, pu.ID, pu.Kind, pu.Status, units(pu.Units), money(pu.Amount.Amount), strings.ToUpper(pu.Amount.Currency))
	}
	return w.Flush()
}

func (c *CLI) adjust(ctx context.Context, api *apiClient, args []string, asJSON bool) error {
	partner, rest, err := onePartner("adjust", args)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("adjust", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	n := fs.Int64("units", 0, "signed DSUs to add (negative to remove); not 0")
	reason := fs.String("reason", "", "why (3–500 characters), shown on the partner's statement")
	ticket := fs.String("ticket", "", "the support ticket")
	key := fs.String("key", "", "Idempotency-Key (default: derived from partner, units, reason and ticket)")
	if err := fs.Parse(rest); err != nil {
		return usageError(err.Error())
	}
	if *n == 0 || *reason == "" || fs.NArg() > 0 {
		return usageError("adjust needs -units N (not 0) and -reason R")
	}
	if *key == "" {
		sum := sha256.Sum256([]byte(strings.Join([]string{partner, strconv.FormatInt(*n, 10), *reason, *ticket}, "\x00")))
		*key = "dsu-admin-" + hex.EncodeToString(sum[:12])
	}
	body, _ := json.Marshal(map[string]any{"units": *n, "reason": *reason, "ticket": *ticket})
	raw, err := api.call(ctx, "POST", "/v1/admin/partners/"+url.PathEscape(partner)+"/adjustments", *key, body, http.StatusCreated)
	if err != nil {
		return err
	}
	if asJSON {
		return c.printJSON(raw)
	}
	var e struct {
		ID, Reference, Description string
		Units, BalanceAfter        int64
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	fmt.Fprintf(c.Stdout, "%s: %s DSUs (%s), balance after it %s DSUs\nentry %s, Idempotency-Key %s (the same key never adjusts twice)\n",
		partner, signedUnits(e.Units), e.Description, units(e.BalanceAfter), e.ID, *key)
	return nil
}

func (c *CLI) release(ctx context.Context, api *apiClient, args []string, asJSON bool) error {
	partner, rest, err := onePartner("release-dispute-hold", args)
	if err != nil || len(rest) > 0 {
		return cmp(err, usageError("release-dispute-hold takes one partner id"))
	}
	if !asJSON {
		// Say so when there is nothing to release: the route answers the
		// same either way.
		raw, err := api.call(ctx, "GET", "/v1/admin/partners/"+url.PathEscape(partner), "", nil, http.StatusOK)
		if err != nil {
			return err
		}
		var v struct{ Plan struct{ DisputeHold bool } }
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("unexpected answer: %w", err)
		}
		if !v.Plan.DisputeHold {
			fmt.Fprintf(c.Stdout, "%s: no dispute hold; nothing changed\n", partner)
			return nil
		}
	}
	raw, err := api.call(ctx, "POST", "/v1/admin/partners/"+url.PathEscape(partner)+"/dispute-hold/release", "", []byte("{}"), http.StatusOK)
	if err != nil {
		return err
	}
	if asJSON {
		return c.printJSON(raw)
	}
	var info struct {
		AutoRefill struct {
			Status       string
			PausedReason *string
		}
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	fmt.Fprintf(c.Stdout, "%s: dispute hold released; the plan is %s%s until the partner re-enables it\n",
		partner, info.AutoRefill.Status, parenthesized(info.AutoRefill.PausedReason))
	return nil
}

func (c *CLI) verify(ctx context.Context, api *apiClient, args []string, asJSON bool) (int, error) {
	if len(args) == 0 {
		return ExitUsage, usageError("verify needs at least one partner id")
	}
	status := ExitOK
	// One partner that cannot be verified (unknown, or the call failed)
	// does not hide the others: its error is printed, the exit status is
	// 1, and the next partner is verified.
	failed := func(partner string, err error) {
		status = ExitProblems
		fmt.Fprintf(c.Stderr, "dsu-admin: %s: %v\n", partner, err)
		if asJSON {
			line, _ := json.Marshal(map[string]string{"partnerId": partner, "error": err.Error()})
			fmt.Fprintf(c.Stdout, "%s\n", line)
		}
	}
	for _, partner := range args {
		raw, err := api.call(ctx, "GET", "/v1/admin/partners/"+url.PathEscape(partner)+"/verify", "", nil, http.StatusOK)
		var ue usageError
		if errors.As(err, &ue) {
			return ExitUsage, err // the same for every partner
		}
		if err != nil {
			failed(partner, err)
			continue
		}
		var v struct {
			OK       bool
			Problems []struct{ Kind, Detail, PurchaseID string }
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			failed(partner, fmt.Errorf("unexpected answer: %w", err))
			continue
		}
		if !v.OK {
			status = ExitProblems
		}
		if asJSON {
			fmt.Fprintf(c.Stdout, "{\"partnerId\":%q,\"verification\":%s}\n", partner, bytes.TrimSpace(raw))
			continue
		}
		if v.OK {
			fmt.Fprintf(c.Stdout, "%s: ok\n", partner)
			continue
		}
		fmt.Fprintf(c.Stdout, "%s: %d problem(s)\n", partner, len(v.Problems))
		for _, p := range v.Problems {
			where := ""
			if p.PurchaseID != "" {
				where = " [" + p.PurchaseID + "]"
			}
			fmt.Fprintf(c.Stdout, "  %s%s: %s\n", p.Kind, where, p.Detail)
		}
	}
	return status, nil
}

func (c *CLI) printJSON(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := c.Stdout.Write(buf.Bytes())
	return err
}

// ---- the API ----

type apiClient struct {
	base string
	cli  *CLI
}

// executeAPIHost matches API Gateway's own endpoints and gives the region.
var executeAPIHost = regexp.MustCompile(`^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// call sends one request and returns the body of the wanted status; any
// other status is an error quoting the API's problem.
func (a *apiClient) call(ctx context.Context, method, path, key string, body []byte, want int) ([]byte, error) {
	u, err := url.Parse(a.base + path)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, usageError(fmt.Sprintf("-api %q is not an http(s) URL", a.base))
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if m := executeAPIHost.FindStringSubmatch(u.Hostname()); m != nil {
		if err := a.sign(ctx, req, body, m[1]); err != nil {
			return nil, err
		}
	}
	hc := a.cli.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, refused(method, path, resp.StatusCode, raw)
	}
	return raw, nil
}

// refused is the error of an answer other than the wanted one: the
// problem's code and detail, then one "field: message" line per field the
// API refused (API.md, "Errors"), so an operator sees what to correct.
func refused(method, path string, status int, raw []byte) error {
	var p struct {
		Title, Detail, Code, Message string
		Errors                       []struct{ Field, Message string }
	}
	if json.Unmarshal(raw, &p) != nil || (p.Detail == "" && p.Message == "" && len(p.Errors) == 0) {
		return fmt.Errorf("%s %s: %d %s", method, path, status, strings.TrimSpace(string(raw)))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", method, path, status, strings.TrimSpace(p.Code+" "+cmpString(p.Detail+p.Message, p.Title)))
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", e.Field, e.Message)
	}
	return errors.New(b.String())
}

// sign signs req with SigV4 for API Gateway (service execute-api) with the
// default credential chain, or the CLI's own credentials.
func (a *apiClient) sign(ctx context.Context, req *http.Request, body []byte, region string) error {
	creds := a.cli.Credentials
	if creds == nil {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("AWS credentials: %w", err)
		}
		creds = cfg.Credentials
	}
	if creds == nil {
		return errors.New("AWS credentials: none found in the default chain")
	}
	c, err := creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	if region == "" {
		region = a.cli.Region
	}
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(ctx, c, req, hex.EncodeToString(sum[:]), "execute-api", region, time.Now())
}

// ---- formatting ----

func units(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func signedUnits(n int64) string {
	if n > 0 {
		return "+" + units(n)
	}
	return units(n)
}

func money(minor int64) string { return fmt.Sprintf("%s.%02d", units(minor/100), minor%100) }

func orDash(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}

func parenthesized(s *string) string {
	if s == nil || *s == "" {
		return ""
	}
	return " (" + *s + ")"
}

func cmpString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
