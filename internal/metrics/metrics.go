// Package metrics records the business metrics of DSU Billing as
// CloudWatch embedded metric format (EMF) log lines: JSON objects on the
// function's standard output that CloudWatch Logs turns into metrics. No
// CloudWatch API call, no permission beyond writing the function's own
// logs, nothing on a request's path but one buffered write per
// invocation.
//
// Every value is published under three kinds of dimension set: none (the
// service's total, which the alarms watch), [Function], and, for each
// breakdown it carries such as Kind, [Function, Kind]. Dimension values are
// labels from small fixed sets (a purchase kind, a pause reason, a webhook
// event type, an outcome, a status): never a partner, purchase or any other
// id, which would make one metric per partner (docs/ARCHITECTURE.md,
// "Metrics").
package metrics

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Namespace is the CloudWatch namespace of every business metric.
const Namespace = "DSUBilling"

// The business metrics. The comment names the breakdowns each may carry.
const (
	PurchasesCreated      = "PurchasesCreated"      // Kind: a purchase and its PaymentIntent were created
	PurchasesSucceeded    = "PurchasesSucceeded"    // Kind: a purchase was credited
	PurchasesFailed       = "PurchasesFailed"       // Kind: a purchase ended failed or canceled
	RefillsStarted        = "RefillsStarted"        // an automatic refill claimed the plan and charged
	RefillsSucceeded      = "RefillsSucceeded"      // an automatic refill was credited
	RefillsFailed         = "RefillsFailed"         // an automatic refill's payment failed or needs authentication
	RefillsPaused         = "RefillsPaused"         // Reason: the plan was paused
	UnitsCredited         = "UnitsCredited"         // DSUs added to balances (purchases, grants, adjustments)
	UnitsDebited          = "UnitsDebited"          // DSUs taken from balances (usage, refunds, disputes)
	WebhookEvents         = "WebhookEvents"         // Type, Outcome: verified Stripe events
	CreditMismatches      = "CreditMismatches"      // Reason: a payment did not match its purchase (amount, currency, partner)
	DoubleChargesRefunded = "DoubleChargesRefunded" // a second successful charge for one purchase was refunded
	UsageRecords          = "UsageRecords"          // Status: usage records by their result
)

// The dimensions. Function is set by the recorder; the others are the
// breakdowns of Spec.Breakdowns.
const (
	DimFunction = "Function"
	DimKind     = "Kind"
	DimOutcome  = "Outcome"
	DimReason   = "Reason"
	DimType     = "Type"
	DimStatus   = "Status"
)

// Unit is a CloudWatch unit.
type Unit string

// Count is the unit of every business metric: events, or DSUs.
const Count Unit = "Count"

// Spec is what a metric may be recorded with.
type Spec struct {
	Unit Unit
	// Breakdowns are the dimensions a value of the metric may carry, each
	// published as its own dimension set [Function, breakdown].
	Breakdowns []string
}

// Specs are all business metrics (what one unit of each means:
// docs/ARCHITECTURE.md, "Metrics"). The stack's dashboard (infra/dashboard.go)
// is checked to show every one of them and each of its breakdowns.
var Specs = map[string]Spec{
	PurchasesCreated:      {Count, []string{DimKind}},
	PurchasesSucceeded:    {Count, []string{DimKind}},
	PurchasesFailed:       {Count, []string{DimKind}},
	RefillsStarted:        {Count, nil},
	RefillsSucceeded:      {Count, nil},
	RefillsFailed:         {Count, nil},
	RefillsPaused:         {Count, []string{DimReason}},
	UnitsCredited:         {Count, nil},
	UnitsDebited:          {Count, nil},
	WebhookEvents:         {Count, []string{DimType, DimOutcome}},
	CreditMismatches:      {Count, []string{DimReason}},
	DoubleChargesRefunded: {Count, nil},
	UsageRecords:          {Count, []string{DimStatus}},
}

// Names lists the metrics of Specs, sorted.
func Names() []string {
	out := make([]string, 0, len(Specs))
	for name := range Specs {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Dimension is one breakdown of a value: Kind=manual, Outcome=processed.
type Dimension struct{ Name, Value string }

// Breakdowns of a value.
func Kind(v string) Dimension    { return Dimension{DimKind, v} }
func Outcome(v string) Dimension { return Dimension{DimOutcome, v} }
func Reason(v string) Dimension  { return Dimension{DimReason, v} }
func Type(v string) Dimension    { return Dimension{DimType, v} }
func Status(v string) Dimension  { return Dimension{DimStatus, v} }

// labelRe is the shape of a dimension value: a lower-case label such as
// "auto_refill" or "payment_intent.succeeded". It keeps out free text; that
// a value is a label and not an id is the caller's promise.
var labelRe = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)

// Check reports why name with dims cannot be recorded: an unknown metric, a
// breakdown the metric does not have, a breakdown given twice, or a value
// that is not a label.
func Check(name string, dims ...Dimension) error {
	spec, ok := Specs[name]
	if !ok {
		return fmt.Errorf("unknown metric %q", name)
	}
	seen := map[string]bool{}
	for _, d := range dims {
		if !slices.Contains(spec.Breakdowns, d.Name) {
			return fmt.Errorf("metric %s has no dimension %q (it has %s)", name, d.Name, strings.Join(spec.Breakdowns, ", "))
		}
		if seen[d.Name] {
			return fmt.Errorf("metric %s: dimension %s given twice", name, d.Name)
		}
		seen[d.Name] = true
		if !labelRe.MatchString(d.Value) {
			return fmt.Errorf("metric %s: %s=%q is not a label (lower-case letters, digits, _ and ., at most 64)", name, d.Name, d.Value)
		}
	}
	return nil
}

// Recorder takes metric values. *EMF writes them as EMF lines; Discard
// drops them. Use cases may declare the same method in an interface of
// their own: this package knows nothing of AWS.
type Recorder interface {
	Add(name string, value float64, dims ...Dimension)
}

// Discard is a Recorder that drops every value (tests that do not look at
// metrics, tools).
type Discard struct{}

func (Discard) Add(string, float64, ...Dimension) {}
