package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/routes"
)

// businessPanel is one graph of business metrics: the service totals of
// some metrics, or one breakdown of some metrics (one line per function
// and breakdown value, found by a CloudWatch SEARCH, so a new kind or
// reason shows up without a deployment).
type businessPanel struct {
	title     string
	totals    []string
	breakdown string
	metrics   []string
}

// businessPanels lay out every metric of internal/metrics and each of its
// breakdowns (TestDashboardShowsEveryBusinessMetric keeps it complete).
var businessPanels = []businessPanel{
	{title: "Purchases", totals: []string{metrics.PurchasesCreated, metrics.PurchasesSucceeded, metrics.PurchasesFailed}},
	{title: "Purchases by kind", breakdown: metrics.DimKind, metrics: []string{metrics.PurchasesCreated, metrics.PurchasesSucceeded, metrics.PurchasesFailed}},
	{title: "Automatic refills", totals: []string{metrics.RefillsStarted, metrics.RefillsSucceeded, metrics.RefillsFailed, metrics.RefillsPaused}},
	{title: "Plans paused, by reason", breakdown: metrics.DimReason, metrics: []string{metrics.RefillsPaused}},
	{title: "DSUs credited and debited", totals: []string{metrics.UnitsCredited, metrics.UnitsDebited}},
	{title: "Usage records by status", totals: []string{metrics.UsageRecords}, breakdown: metrics.DimStatus, metrics: []string{metrics.UsageRecords}},
	{title: "Webhook events by type", totals: []string{metrics.WebhookEvents}, breakdown: metrics.DimType, metrics: []string{metrics.WebhookEvents}},
	{title: "Webhook events by outcome", breakdown: metrics.DimOutcome, metrics: []string{metrics.WebhookEvents}},
	{title: "Credit mismatches and double charges (alarmed)", totals: []string{metrics.CreditMismatches, metrics.DoubleChargesRefunded}},
	{title: "Credit mismatches by reason", breakdown: metrics.DimReason, metrics: []string{metrics.CreditMismatches}},
}

// tableOperations are the DynamoDB operations the functions call (the
// throttle and system error graphs sum them).
var tableOperations = []awsdynamodb.Operation{
	awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_BATCH_GET_ITEM, awsdynamodb.Operation_QUERY,
	awsdynamodb.Operation_PUT_ITEM, awsdynamodb.Operation_UPDATE_ITEM, awsdynamodb.Operation_TRANSACT_WRITE_ITEMS,
}

const dashboardPeriodMinutes = 5

// addDashboard builds the stack's one dashboard: alarms, business metrics,
// then the functions, the API, the table and the dead-letter queues.
func (s *BillingStack) addDashboard(cfg Config) {
	period := awscdk.Duration_Minutes(jsii.Number(dashboardPeriodMinutes))
	sum, max := jsii.String("Sum"), jsii.String("Maximum")
	opts := func(stat *string, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: period, Statistic: stat, Label: jsii.String(label)}
	}
	graph := func(title string, left []awscloudwatch.IMetric, right ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Right: &right, Width: jsii.Number(8), Height: jsii.Number(6),
		})
	}
	perFunction := func(m func(fn string) awscloudwatch.IMetric) []awscloudwatch.IMetric {
		var out []awscloudwatch.IMetric
		for _, fn := range routes.Functions {
			out = append(out, m(fn))
		}
		return out
	}

	d := awscloudwatch.NewDashboard(s.Stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(cfg.StackName),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
	})
	s.Dashboard = d
	d.AddWidgets(
		awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
			Markdown: jsii.String("# DSU Billing " + cfg.Stage + "\nBusiness metrics (namespace `" + metrics.Namespace +
				"`, docs/ARCHITECTURE.md \"Metrics\"), then functions, API, table and dead-letter queues. Runbook: docs/DEPLOYMENT.md."),
			Width: jsii.Number(8), Height: jsii.Number(4),
		}),
		awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title: jsii.String("Alarms"), Alarms: s.alarmList(), Width: jsii.Number(16), Height: jsii.Number(4),
		}),
	)

	var row []awscloudwatch.IWidget
	flush := func() {
		if len(row) > 0 {
			d.AddWidgets(row...)
			row = nil
		}
	}
	add := func(w awscloudwatch.IWidget) {
		row = append(row, w)
		if len(row) == 3 {
			flush()
		}
	}
	for _, p := range businessPanels {
		var left []awscloudwatch.IMetric
		for _, name := range p.totals {
			left = append(left, businessMetric(name, period).With(&awscloudwatch.MetricOptions{Label: jsii.String(name)}))
		}
		for _, name := range p.metrics {
			left = append(left, searchBreakdown(name, p.breakdown, period))
		}
		var right []awscloudwatch.IMetric
		if p.title == "Automatic refills" {
			right = append(right, refillFailureRate(period))
		}
		add(graph(p.title, left, right...))
	}
	flush()

	add(graph("Lambda invocations and errors",
		perFunction(func(fn string) awscloudwatch.IMetric { return s.Functions[fn].MetricInvocations(opts(sum, fn)) }),
		perFunction(func(fn string) awscloudwatch.IMetric { return s.Functions[fn].MetricErrors(opts(sum, fn+" errors")) })...))
	add(graph("Lambda throttles",
		perFunction(func(fn string) awscloudwatch.IMetric { return s.Functions[fn].MetricThrottles(opts(sum, fn)) })))
	add(graph("Lambda duration p99 (ms)",
		perFunction(func(fn string) awscloudwatch.IMetric {
			return s.Functions[fn].MetricDuration(opts(jsii.String("p99"), fn))
		})))
	flush()

	add(graph("API requests, 4xx, 5xx", []awscloudwatch.IMetric{
		s.API.MetricCount(opts(sum, "requests")),
		s.API.MetricClientError(opts(sum, "4xx")),
		s.API.MetricServerError(opts(sum, "5xx")),
	}))
	add(graph("API latency (ms)", []awscloudwatch.IMetric{
		s.API.MetricLatency(opts(jsii.String("p50"), "p50")),
		s.API.MetricLatency(opts(jsii.String("p99"), "p99")),
		s.API.MetricIntegrationLatency(opts(jsii.String("p99"), "integration p99")),
	}))
	add(graph("Dead-letter queues (messages)", []awscloudwatch.IMetric{
		s.FailureQueue.MetricApproximateNumberOfMessagesVisible(opts(max, "stream failures")),
		s.SweepDLQ.MetricApproximateNumberOfMessagesVisible(opts(max, "sweep dead letters")),
	}))
	flush()

	ops := &tableOperations
	add(graph("DynamoDB throttles", []awscloudwatch.IMetric{
		s.Table.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{Operations: ops, Period: period, Label: jsii.String("throttled requests")}),
		s.Table.Metric(jsii.String("ReadThrottleEvents"), opts(sum, "read throttle events")),
		s.Table.Metric(jsii.String("WriteThrottleEvents"), opts(sum, "write throttle events")),
	}))
	add(graph("DynamoDB system errors", []awscloudwatch.IMetric{
		s.Table.MetricSystemErrorsForOperations(&awsdynamodb.SystemErrorsForOperationsMetricOptions{Operations: ops, Period: period, Label: jsii.String("system errors")}),
	}))
	add(graph("DynamoDB consumed capacity", []awscloudwatch.IMetric{
		s.Table.MetricConsumedReadCapacityUnits(opts(sum, "read units")),
		s.Table.MetricConsumedWriteCapacityUnits(opts(sum, "write units")),
	}))
	flush()
}

// searchBreakdown is every series of one metric under [Function, breakdown].
func searchBreakdown(name, breakdown string, period awscdk.Duration) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s"', 'Sum', %d)`,
			metrics.Namespace, metrics.DimFunction, breakdown, name, dashboardPeriodMinutes*60)),
		Label:        jsii.String(name + " by " + breakdown),
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Period:       period,
	})
}

func (s *BillingStack) alarmList() *[]interfacesawscloudwatch.IAlarmRef {
	out := make([]interfacesawscloudwatch.IAlarmRef, len(s.Alarms))
	for i, a := range s.Alarms {
		out[i] = a
	}
	return &out
}
