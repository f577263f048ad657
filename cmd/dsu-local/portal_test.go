package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// The reference portal in a real browser: headless Chromium against the
// local stack, as `make dev` serves it. The test walks the help page's two
// flows (a manual purchase with a new card; contact, card and the
// automated plan), reads the ledger, checks what a reader may do, and
// asserts that the page asks nothing of any other origin.
//
// Each screen is saved as a PNG (the paths are logged) in a temporary
// directory that is kept when the test fails, or in
// DSU_PORTAL_SCREENSHOTS=<dir> when that is set: docs/portal-overview.png is
// that run's overview-after.png.
func TestPortalInARealBrowser(t *testing.T) {
	exe := findChromium(t)
	s := startLocal(t, "demo")
	usageDays := postDemoUsage(t, s)
	latest := usageDays[0]
	balance := int64(2000 - 3*65) // the welcome grant, less three billed days of 40 + 25 users

	b := openBrowser(t, exe, s.run.URL)
	b.do(chromedp.EmulateViewport(1200, 900), chromedp.Navigate(s.run.URL+"/"))
	b.waitIdle("the page loads the partner's data")

	// Overview: the demo partner (the default identity), its balance and runway.
	b.wantText("identity", "Partner demo · Billing admin")
	b.wantText("ov-balance", dsuText(balance))
	b.wantText("ov-average", "65 DSUs a day")
	if got := b.text("ov-runway"); !strings.HasSuffix(got, "days") {
		t.Errorf("runway %q, want a number of days", got)
	}
	b.wantText("ov-plan-status", "Off")
	b.screenshot("overview")

	// Buy DSU packages: the catalog, "+" twice on 5,000 DSUs, the live total.
	b.do(chromedp.Click(chromedp.ID("tab-buy")))
	if rows := b.eval(`document.querySelectorAll('#catalog-body tr').length`); rows != "5" {
		t.Fatalf("catalog rows %s, want the 5 packages", rows)
	}
	b.wantText("row-dsu-5000", "$237.50")
	b.wantText("row-dsu-5000", "Save 5%")
	// "+" and "−" are buttons: the keyboard reaches and presses them.
	b.do(chromedp.Focus(chromedp.ID("inc-dsu-1000")), chromedp.KeyEvent("\r"))
	b.wantValue("qty-dsu-1000", "1")
	b.do(chromedp.Focus(chromedp.ID("dec-dsu-1000")), chromedp.KeyEvent("\r"))
	b.wantValue("qty-dsu-1000", "0")
	b.do(chromedp.Click(chromedp.ID("inc-dsu-5000")), chromedp.Click(chromedp.ID("inc-dsu-5000")))
	b.wantText("buy-total", "Total: 2 packages, 10,000 DSUs for $475.00")
	b.screenshot("buy")

	// Next, then Purchase with a new card; dsu-local plays Stripe's
	// payment_intent.succeeded for it.
	b.do(chromedp.Click(chromedp.ID("buy-next")))
	b.waitFor(`!document.getElementById('buy-pay').hidden`, "the payment step")
	if b.eval(`document.getElementById('pay-saved').disabled && document.getElementById('pay-new').checked`) != "true" {
		t.Error("without a saved card the new card must be chosen and the saved one unavailable")
	}
	b.wantText("pay-amount", "$475.00")
	b.screenshot("pay")
	// The first answer is lost on its way back, after the stack made the
	// purchase: pressing Purchase again resends the same Idempotency-Key,
	// and the stack answers with that purchase instead of a second one.
	lost := b.loseNextPurchaseAnswer()
	b.do(chromedp.Click(chromedp.ID("buy-purchase")))
	<-lost
	b.waitFor(`document.getElementById('buy-msg').textContent.includes('same Idempotency-Key')`, "the lost answer's message")
	b.waitIdle("the lost answer")
	b.screenshot("lost-answer")
	b.do(chromedp.Click(chromedp.ID("buy-purchase")))
	b.waitFor(`document.getElementById('buy-outcome').textContent.includes('Paid.')`, "the purchase's outcome")
	b.waitIdle("the balance after the purchase")
	b.wantText("buy-outcome", "10,000 DSUs added")
	b.screenshot("purchase-outcome")
	balance += 2 * 5000
	b.do(chromedp.Click(chromedp.ID("tab-overview")))
	b.wantText("ov-balance", dsuText(balance)) // grew by exactly the units bought

	// Billing info: one invalid field first; its message appears next to it.
	b.do(chromedp.Click(chromedp.ID("tab-billing")))
	b.typeInto("f-name", "Jane Doe")
	b.typeInto("f-email", "support@demo.example")
	b.typeInto("f-phone", "+1 312 555 0100")
	b.typeInto("f-line1", "1 Main St")
	b.typeInto("f-line2", "Suite 200")
	b.typeInto("f-city", "Springfield")
	b.typeInto("f-state", "IL")
	b.typeInto("f-postal", "62701")
	b.typeInto("f-country", "US")
	b.do(chromedp.Click(chromedp.ID("contact-save")))
	b.waitFor(`(document.getElementById('f-email-error') || {}).textContent`, "the email field's error")
	b.waitIdle("the contact form's answer")
	b.wantText("f-email-error", "role account")
	b.wantText("contact-msg", "Invalid request")
	next := b.eval(`(() => { const i = document.getElementById('f-email'), e = document.getElementById('f-email-error');
		return i.getAttribute('aria-invalid') === 'true' && e.closest('.field') === i.closest('.field') &&
			i.getAttribute('aria-describedby').split(' ').includes(e.id) })()`)
	if next != "true" {
		t.Error("the email error is not next to its field, or the field is not marked invalid and described by it")
	}
	if n := b.eval(`document.querySelectorAll('#contact-form [aria-invalid="true"]').length`); n != "1" {
		t.Errorf("%s fields marked invalid, want only the email", n)
	}
	b.screenshot("contact-error")
	b.typeInto("f-email", "jane.doe@demo.example")
	b.do(chromedp.Click(chromedp.ID("contact-save")))
	b.waitFor(`document.getElementById('contact-msg').textContent.includes('saved')`, "the saved contact")
	b.waitIdle("the billing info after the contact")
	if b.text("f-email-error") != "" {
		t.Error("the email error stays after a successful save")
	}

	// The card, through the simulated SetupIntent.
	b.do(chromedp.Click(chromedp.ID("card-save")))
	b.waitFor(`document.getElementById('card-summary').textContent.includes('••••')`, "the saved card")
	b.waitIdle("the billing info after the card")

	// The automated plan: on, 1,000 DSUs at 500, at most 5 a month.
	b.do(chromedp.Click(chromedp.ID("p-enabled")), chromedp.SetValue(chromedp.ID("p-package"), "dsu-1000"))
	b.typeInto("p-threshold", "500")
	b.typeInto("p-limit", "5")
	b.do(chromedp.Click(chromedp.ID("plan-save")))
	b.waitFor(`document.getElementById('plan-msg').textContent.includes('saved and on')`, "the saved plan")
	b.waitIdle("the billing info after the plan")
	b.wantText("plan-status", "Active")
	b.screenshot("billing")

	// With the saved card: the bank asks for 3-D Secure, the purchase waits
	// for "Confirm", then succeeds.
	b.do(chromedp.Click(chromedp.ID("tab-buy")), chromedp.Click(chromedp.ID("buy-again")))
	b.do(chromedp.Click(chromedp.ID("inc-dsu-1000")), chromedp.Click(chromedp.ID("buy-next")))
	b.waitFor(`!document.getElementById('pay-saved').disabled`, "the saved card as a choice")
	b.do(chromedp.Click(chromedp.ID("pay-saved")), chromedp.SetValue(chromedp.ID("pay-outcome"), "payment-requires-action"))
	b.do(chromedp.Click(chromedp.ID("buy-purchase")))
	b.waitFor(`!document.getElementById('buy-confirm').hidden`, "the Confirm step")
	b.waitIdle("the purchase needing action")
	b.wantText("buy-outcome", "3-D Secure")
	b.screenshot("requires-action")
	b.do(chromedp.Click(chromedp.ID("buy-confirm")))
	b.waitFor(`document.getElementById('buy-outcome').textContent.includes('Paid.')`, "the confirmed purchase")
	b.waitIdle("the balance after the confirmed purchase")
	balance += 1000
	b.wantText("buy-outcome", "Balance now: "+dsuText(balance))

	// A declined new card: nothing added, the selection kept to try again.
	b.do(chromedp.Click(chromedp.ID("buy-again")), chromedp.Click(chromedp.ID("inc-dsu-1000")), chromedp.Click(chromedp.ID("buy-next")))
	b.do(chromedp.Click(chromedp.ID("pay-new")), chromedp.SetValue(chromedp.ID("pay-outcome"), "payment-failed"))
	b.do(chromedp.Click(chromedp.ID("buy-purchase")))
	b.waitFor(`document.getElementById('buy-outcome').textContent.includes('did not go through')`, "the declined purchase")
	b.waitIdle("the balance after the decline")
	b.wantText("buy-outcome", "insufficient_funds")
	b.wantText("buy-again", "Try again")
	b.wantValue("qty-dsu-1000", "1")
	b.screenshot("declined")
	b.do(chromedp.Click(chromedp.ID("tab-overview")))
	b.wantText("ov-balance", dsuText(balance))

	// Support adjusts the balance (an operator route, audited); the page
	// reads it like any other change.
	if status, out := s.dsuAdmin("adjust", "demo", "-units", "100", "-reason", "goodwill after the outage", "-ticket", "SUP-7"); status != 0 {
		t.Fatalf("dsu-admin adjust: %d %s", status, out)
	}
	balance += 100

	// History: the purchase and the ledger with its descriptions.
	b.do(chromedp.Click(chromedp.ID("tab-history")))
	b.waitFor(`document.querySelectorAll('#ledger-body tr').length >= 7`, "the ledger")
	b.waitIdle("the history")
	if n := b.eval(`document.querySelectorAll('#purchases-body tr').length`); n != "3" {
		t.Errorf("%s purchases, want 3: the retried post must not have made a second one", n)
	}
	b.wantText("purchases-body", "2 × 5,000 DSUs")
	b.wantText("purchases-body", "Succeeded")
	b.wantText("purchases-body", "Failed")
	b.wantText("ledger-body", "(2 × 5,000 DSUs)")
	b.wantText("ledger-body", "(1 × 1,000 DSUs)")
	b.wantText("ledger-body", "+10,000")
	b.wantText("ledger-body", "Welcome grant of 2,000 DSUs")
	b.wantText("ledger-body", "Usage on "+latest.Format("2006-01-02")+" across 2 tenants")

	b.wantText("ledger-body", "+100")
	// The audit log, as the API recorded it (for now it records the
	// operators' actions).
	b.waitFor(`document.getElementById('audit-body').textContent.includes('Balance adjusted by support')`, "the audit log")
	b.wantText("audit-body", "+100 DSUs: goodwill after the outage (SUP-7)")
	b.wantText("audit-body", "local-operator")

	// This month's statement: everything above was written today.
	b.waitFor(`document.getElementById('statement-closing')`, "the statement")
	b.waitIdle("the statement")
	b.wantText("statement-closing", dsuText(balance))
	b.wantText("statement-body", "+11,000") // the two purchases credited
	b.wantText("statement-body", "−195")    // the usage
	b.wantText("statement-body", "Adjustment")
	// Usage by tenant in the month of the latest usage day, and its CSV.
	month := latest.Format("2006-01")
	b.do(chromedp.SetValue(chromedp.ID("usage-month"), month), chromedp.Click(chromedp.ID("usage-show")))
	b.waitFor(`document.getElementById('usage-body').textContent.includes('fabrikam')`, "the usage report")
	b.waitIdle("the usage report")
	inMonth := int64(0)
	for _, d := range usageDays {
		if d.Format("2006-01") == month {
			inMonth++
		}
	}
	b.wantText("usage-body", dsuText(65*inMonth)+" across 2 tenants in "+month)
	if first := b.eval(`document.querySelector('#usage-body tbody tr td').textContent`); first != "contoso" {
		t.Errorf("first tenant %q, want contoso (the most DSUs)", first)
	}
	b.do(chromedp.Click(chromedp.ID("usage-csv")))
	b.waitFor(`document.getElementById('usage-msg').textContent.includes('downloaded')`, "the usage CSV")
	b.wantText("usage-msg", fmt.Sprintf("usage-demo-%s.csv downloaded: %d rows", month, 2*inMonth))
	b.screenshot("history")

	b.do(chromedp.Click(chromedp.ID("tab-overview")))
	b.waitIdle("the overview")
	b.wantText("ov-balance", dsuText(balance)) // the overview reads the balance again
	b.wantText("ov-plan-status", "Active")
	// The whole postal address: both street lines, the state.
	b.wantText("ov-contact", "1 Main St, Suite 200, Springfield, IL 62701, US")
	b.screenshot("overview-after")

	// A partner id the identity provider could not issue changes nothing.
	b.typeInto("who-partner", "no spaces allowed")
	b.do(chromedp.Click(chromedp.ID("who-switch")))
	b.waitFor(`document.getElementById('who-error').textContent`, "the refused partner id")
	b.wantText("who-error", "Partner id:")
	b.wantText("identity", "Partner demo")

	// A reader sees everything and can change nothing; a forced write
	// shows the API's 403.
	b.typeInto("who-partner", "demo")
	b.do(chromedp.Click(chromedp.ID("who-reader")), chromedp.Click(chromedp.ID("who-switch")))
	b.waitFor(`document.getElementById('identity').textContent.includes('Reader')`, "the reader's identity")
	b.waitFor(`document.body.dataset.ready === 'true'`, "the reader's data")
	b.waitIdle("the reader's data")
	b.wantText("ov-balance", dsuText(balance))
	b.do(chromedp.Click(chromedp.ID("tab-history")))
	b.waitFor(`!document.getElementById('audit-note').hidden`, "the reader's audit note")
	b.waitIdle("the reader's history")
	b.wantText("ledger-body", "Welcome grant") // a reader reads the rest
	b.do(chromedp.Click(chromedp.ID("tab-overview")))
	for _, id := range []string{"inc-dsu-5000", "buy-next", "f-name", "contact-save", "card-save", "card-remove", "p-enabled", "plan-save"} {
		if b.eval(fmt.Sprintf(`document.getElementById(%q).matches(':disabled')`, id)) != "true" {
			t.Errorf("#%s is enabled for a reader", id)
		}
	}
	b.do(chromedp.Click(chromedp.ID("reader-try")))
	b.waitFor(`document.getElementById('identity-msg').textContent.includes('Not allowed')`, "the reader's refused change")
	b.do(chromedp.Click(chromedp.ID("tab-billing")))
	b.eval(`document.querySelectorAll('#plan-form [data-write]').forEach(n => { n.disabled = false }); 'forced'`)
	b.do(chromedp.Click(chromedp.ID("plan-save")))
	b.waitFor(`document.getElementById('plan-msg').textContent.includes('Not allowed')`, "the 403 of a forced write")
	b.wantText("plan-msg", "HTTP 403")
	b.screenshot("reader-forced-write")

	b.checkRequests()
	b.checkNoExceptions()
}

// findChromium returns the browser to drive: $CHROMIUM, or `chromium` on
// the PATH. Without one the test skips, unless CI is set: there a missing
// browser is a failure (.ci/run installs Debian's chromium).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no browser: set CHROMIUM or install Debian's chromium package (apt-get install -y chromium)")
	}
	t.Skip("no browser: set CHROMIUM or install chromium (under CI=true this fails)")
	return ""
}

// postDemoUsage reports three billed days of usage (40 + 25 users a day)
// for the demo partner, so the overview has a daily average and a runway and
// the ledger has usage lines. It returns the days, latest first.
func postDemoUsage(t *testing.T, s *localStack) []time.Time {
	t.Helper()
	// Billed days before today (days 26 to month end are free, and today
	// does not count toward the average): at most 9 days back, well inside
	// the 14 days the average looks at and the dates the route accepts.
	var days []time.Time
	for d := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1); len(days) < 3; d = d.AddDate(0, 0, -1) {
		if dsu.IsBilledDay(d) {
			days = append(days, d)
		}
	}
	var records []string
	for _, d := range days {
		date := d.Format("2006-01-02")
		records = append(records,
			fmt.Sprintf(`{"partnerId":"demo","tenantId":"contoso","date":%q,"users":40}`, date),
			fmt.Sprintf(`{"partnerId":"demo","tenantId":"fabrikam","date":%q,"users":25}`, date))
	}
	var out struct{ Results []struct{ Status string } }
	s.call("POST", "/v1/internal/usage", "", `{"records":[`+strings.Join(records, ",")+`]}`, 200, &out)
	for _, r := range out.Results {
		if r.Status != "applied" {
			t.Fatalf("usage results %+v, want all applied", out.Results)
		}
	}
	return days
}

func dsuText(n int64) string { return dsu.FormatUnits(n) + " DSUs" }

// browser is one headless Chromium tab on the portal.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	n     int

	mu              sync.Mutex
	requests        []string // every request the page made: "METHOD URL"
	idempotencyKeys []string // the Idempotency-Key of each POST /v1/purchases ("" without one)
	exceptions      []string // uncaught JavaScript exceptions, and errors the browser logged (a CSP violation…)
}

func openBrowser(t *testing.T, exe, base string) *browser {
	t.Helper()
	profile := t.TempDir() // removed after the browser stops (cleanups run last-in, first-out)
	b := &browser{t: t, base: base, shots: screenshotDir(t)}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1200, 900),
	)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a timeout, or the
	// browser would end with it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	b.ctx = ctx
	t.Logf("screenshots in %s", b.shots)
	return b
}

// loseNextPurchaseAnswer makes the browser drop the answer to the next
// POST /v1/purchases after the stack sent it, as a broken connection would.
// The returned channel closes once that answer was dropped.
func (b *browser) loseNextPurchaseAnswer() <-chan struct{} {
	b.t.Helper()
	paused := chromedp.Events(b.ctx, fetch.RequestPaused)
	_, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/v1/purchases", RequestStage: fetch.RequestStageResponse},
	}})
	if err != nil {
		b.t.Fatalf("intercept purchases: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(b.ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
			_, _ = chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{})
			return
		}
	}()
	return done
}

// screenshotDir is DSU_PORTAL_SCREENSHOTS, or a temporary directory that
// is removed only when the test passes, so a failure can be seen.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("DSU_PORTAL_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dir, err := os.MkdirTemp("", "portal-screens-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshots kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// listen runs in the tab's event loop, from before the first request.
func (b *browser) listen(ev any) {
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.mu.Lock()
		b.requests = append(b.requests, ev.Request.Method+" "+ev.Request.URL)
		if ev.Request.Method == "POST" && strings.HasSuffix(ev.Request.URL, "/v1/purchases") {
			key, _ := ev.Request.Headers["Idempotency-Key"].(string)
			b.idempotencyKeys = append(b.idempotencyKeys, key)
		}
		b.mu.Unlock()
	case *runtime.EventExceptionThrown:
		b.mu.Lock()
		b.exceptions = append(b.exceptions, ev.ExceptionDetails.Text+" "+exceptionDescription(ev.ExceptionDetails))
		b.mu.Unlock()
	case *cdplog.EventEntryAdded:
		// The network's errors are the API's 4xx the walk provokes.
		if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
			b.mu.Lock()
			b.exceptions = append(b.exceptions, string(ev.Entry.Source)+": "+ev.Entry.Text)
			b.mu.Unlock()
		}
	}
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d == nil || d.Exception == nil {
		return ""
	}
	return d.Exception.Description
}

const browserStep = 90 * time.Second // generous: -race on a shared machine

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatalf("browser: %v", err)
	}
}

// eval runs JavaScript in the page (DevTools evaluation, which the page's
// Content-Security-Policy does not restrict) and returns its result as JSON
// text, strings unquoted.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
	if err != nil {
		b.fatalf("evaluate %s: %v", expr, err)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// waitFor polls a JavaScript condition until it is truthy.
func (b *browser) waitFor(cond, what string) {
	b.t.Helper()
	deadline := time.Now().Add(browserStep)
	for {
		v := b.eval(`Boolean(` + cond + `)`)
		if v == "true" {
			return
		}
		if time.Now().After(deadline) {
			b.fatalf("waited %s for %s (%s)", browserStep, what, cond)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitIdle waits until the page has no API call in flight.
func (b *browser) waitIdle(what string) {
	b.t.Helper()
	b.waitFor(`document.body.dataset.busy === '0'`, what)
}

func (b *browser) text(id string) string {
	b.t.Helper()
	return b.eval(fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || ''`, id))
}

func (b *browser) wantText(id, want string) {
	b.t.Helper()
	if got := b.text(id); !strings.Contains(got, want) {
		b.t.Errorf("#%s reads %q, want it to contain %q", id, strings.Join(strings.Fields(got), " "), want)
	}
}

func (b *browser) wantValue(id, want string) {
	b.t.Helper()
	if got := b.eval(fmt.Sprintf(`document.getElementById(%q).value`, id)); got != want {
		b.t.Errorf("#%s value %q, want %q", id, got, want)
	}
}

// typeInto replaces a field's value by typing, as a person would.
func (b *browser) typeInto(id, text string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`document.getElementById(%q).value = ''`, id))
	b.do(chromedp.SendKeys(chromedp.ID(id), text))
}

// screenshot saves the whole page (its body, however long) as the next
// numbered PNG.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("body")))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.n++
	path := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

// fatalf saves what the page showed, then fails.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	b.mu.Lock()
	exceptions := strings.Join(b.exceptions, "\n")
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(b.shots, "failure.png")
		if os.WriteFile(path, png, 0o644) == nil {
			b.t.Logf("the page at the failure: %s", path)
		}
	}
	b.t.Fatalf(format+"\nexceptions: %s", append(args, exceptions)...)
}

// checkRequests asserts that every request the page made went to the local
// stack (a data: URL never leaves the browser), and that the listener saw
// the calls the walk made.
func (b *browser) checkRequests() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range b.requests {
		method, url, _ := strings.Cut(r, " ")
		// data: and blob: URLs never leave the browser (a blob of the
		// page's own origin is a CSV it downloaded from the stack).
		if !strings.HasPrefix(url, b.base+"/") && !strings.HasPrefix(url, "data:") && !strings.HasPrefix(url, "blob:"+b.base+"/") {
			b.t.Errorf("the page requested %s %s, outside the local stack %s", method, url, b.base)
			continue
		}
		path, _, _ := strings.Cut(strings.TrimPrefix(url, b.base), "?")
		if id, ok := strings.CutPrefix(path, "/v1/purchases/"); ok && strings.HasSuffix(id, "/confirm") {
			path = "/v1/purchases/{id}/confirm"
		}
		seen[method+" "+path] = true
	}
	// One key per purchase attempt, reused by its retry: four posts (the
	// first retried once), three keys.
	keys := b.idempotencyKeys
	if distinct := slices.Compact(slices.Sorted(slices.Values(keys))); len(keys) != 4 || keys[0] != keys[1] || len(distinct) != 3 || distinct[0] == "" {
		b.t.Errorf("Idempotency-Keys of the purchase posts: %q, want the first twice, then two others", keys)
	}
	for _, want := range []string{"GET /", "GET /portal.js", "GET /portal.css", "POST /local/token", "GET /v1/balance",
		"POST /v1/purchases", "POST /local/simulate", "PUT /v1/billing/contact", "POST /v1/billing/card/setup-intent",
		"PUT /v1/billing/auto-refill", "GET /v1/ledger", "POST /v1/purchases/{id}/confirm", "GET /v1/usage", "GET /v1/audit",
		"GET /v1/statements/" + time.Now().UTC().Format("2006-01")} {
		if !seen[want] {
			b.t.Errorf("no %s among the %d requests the page made", want, len(b.requests))
		}
	}
}

func (b *browser) checkNoExceptions() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.exceptions {
		b.t.Errorf("error in the page: %s", e)
	}
}

// The local-only endpoints refuse what the page never sends: another
// content type (so another site's page cannot post a simple form to them),
// an unknown scenario, a reader's simulation.
func TestPortalLocalEndpoints(t *testing.T) {
	s := startLocal(t, "acme")
	post := func(path, token, contentType, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.run.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}

	// The token the page gets is the one `dsu-local token` prints.
	status, body := post("/local/token", "", "application/json", `{"partnerId":"acme","admin":true}`)
	var minted tokenResponse
	if status != 200 || json.Unmarshal([]byte(body), &minted) != nil || minted.PartnerID != "acme" || !minted.Admin {
		t.Fatalf("POST /local/token → %d %s", status, body)
	}
	var bal struct{ Units int64 }
	s.call("GET", "/v1/balance", minted.Token, "", 200, &bal)
	if bal.Units != 2000 {
		t.Fatalf("balance with the minted token: %d", bal.Units)
	}
	reader, _ := post("/local/token", "", "application/json", `{"partnerId":"acme"}`)
	if reader != 200 {
		t.Fatalf("reader token → %d", reader)
	}

	for _, c := range []struct {
		name, path, token, contentType, body string
		status                               int
		code                                 string
	}{
		{"a form post", "/local/token", "", "application/x-www-form-urlencoded", "partnerId=acme", 415, "unsupported_media_type"},
		{"text/plain", "/local/token", "", "text/plain", `{"partnerId":"acme"}`, 415, "unsupported_media_type"},
		{"no partner", "/local/token", "", "application/json", `{"admin":true}`, 400, "validation_failed"},
		{"a partner id with #", "/local/token", "", "application/json", `{"partnerId":"a#b"}`, 400, "validation_failed"},
		{"an unknown field", "/local/token", "", "application/json", `{"partnerId":"acme","groups":["x"]}`, 400, "validation_failed"},
		{"simulate without a token", "/local/simulate", "", "application/json", `{"scenario":"setup-succeeded"}`, 401, "unauthenticated"},
		{"simulate as a reader", "/local/simulate", s.reader, "application/json", `{"scenario":"setup-succeeded"}`, 403, "forbidden"},
		{"the raw scenario", "/local/simulate", s.admin, "application/json", `{"scenario":"raw"}`, 400, "validation_failed"},
		{"a refund", "/local/simulate", s.admin, "application/json", `{"scenario":"refund","purchaseId":"pur_1"}`, 400, "validation_failed"},
		{"no purchase id", "/local/simulate", s.admin, "application/json", `{"scenario":"payment-succeeded"}`, 400, "validation_failed"},
		{"an unknown purchase", "/local/simulate", s.admin, "application/json", `{"scenario":"payment-succeeded","purchaseId":"pur_nope"}`, 409, "conflict"},
		{"a card without a contact", "/local/simulate", s.admin, "application/json", `{"scenario":"setup-succeeded"}`, 409, "conflict"},
	} {
		status, body := post(c.path, c.token, c.contentType, c.body)
		var p struct{ Code string }
		_ = json.Unmarshal([]byte(body), &p)
		if status != c.status || p.Code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, body, c.status, c.code)
		}
	}

	// The page, and the gateway's own 404 for any other path outside /v1.
	resp, err := http.Get(s.run.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<title>DSU Billing") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "connect-src 'self'") {
		t.Fatalf("GET / → %d %q", resp.StatusCode, resp.Header)
	}
	for _, path := range []string{"/nope", "/portal/index.html", "/local/token"} {
		resp, err := http.Get(s.run.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 && resp.StatusCode != 405 {
			t.Errorf("GET %s → %d", path, resp.StatusCode)
		}
	}
	// /v1 stays the gateway's: its own answer for an unknown route.
	resp, err = http.Get(s.run.URL + "/v1/nope")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || strings.TrimSpace(string(raw)) != `{"message":"Not Found"}` {
		t.Errorf("GET /v1/nope → %d %s", resp.StatusCode, raw)
	}
}
