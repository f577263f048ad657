package main

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/routes"
)

// The refill failure rate alarm: at least refillFailureMinAttempts refills
// ended in the hour and at least refillFailureRatePercent of them failed.
// Single declines are normal (the plan retries, then pauses and tells the
// partner); a rate this high means something systemic, such as a revoked
// Stripe key or a missing permission.
const (
	refillFailureRatePercent = 50
	refillFailureMinAttempts = 3
	refillFailureRateHours   = 1
)

// The purchases route's 429s, counted from the API's access log: those of
// the route's shared bucket (routeThrottles), which the function never
// sees, and those of the per-partner limit (10 manual purchases a minute).
// A partner clicking twice gets one or two; purchasesThrottledThreshold in
// five minutes is a client retrying in a loop or one partner flooding.
const (
	purchasesRouteKey           = "POST /v1/purchases"
	purchasesThrottledMetric    = "PurchaseRequestsThrottled"
	purchasesThrottledThreshold = 20
)

// runbook is where an alarm's description sends the on-call engineer: a
// section of docs/DEPLOYMENT.md, "Runbook", by its heading.
func runbook(heading string) string { return `runbook: docs/DEPLOYMENT.md, "` + heading + `"` }

func (s *BillingStack) addAlarms(cfg Config) {
	stack := s.Stack
	s.AlarmTopic = awssns.NewTopic(stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("DSU Billing " + cfg.Stage + " alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	nagSuppress(s.AlarmTopic, nag("AwsSolutions-SNS2",
		"Alarm notifications carry alarm names and metric values, no secret or personal data. CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed KMS key would only add a key policy to get wrong on the path that pages on-call."))
	if cfg.AlarmEmail != "" {
		s.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(s.AlarmTopic)
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	sum := jsii.String("Sum")

	// alarm fires when metric reaches threshold in one period; no data (no
	// traffic) is fine.
	alarm := func(id string, m awscloudwatch.IMetric, threshold float64, op awscloudwatch.ComparisonOperator, desc string) {
		a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: op,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription:   jsii.String(desc),
		})
		a.AddAlarmAction(action)
		s.Alarms = append(s.Alarms, a)
	}
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD

	for _, fn := range routes.Functions {
		f := s.Functions[fn]
		id := constructID(fn)
		alarm(id+"Errors", f.MetricErrors(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: sum}), 1, atLeast,
			fn+": the function failed (crash, timeout or unhandled error); "+runbook("Function errors and throttles"))
		alarm(id+"Throttles", f.MetricThrottles(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: sum}), 1, atLeast,
			fn+": invocations were throttled; "+runbook("Function errors and throttles"))
	}

	alarm("AutoRefillFailureQueueAlarm", s.FailureQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: fiveMinutes, Statistic: jsii.String("Maximum"),
	}), 0, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		"autorefill gave up on stream records; see the failure queue; "+runbook("AutoRefillFailureQueueAlarm"))
	alarm("SweepDeadLetterAlarm", s.SweepDLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: fiveMinutes, Statistic: jsii.String("Maximum"),
	}), 0, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		"the sweep schedule could not invoke autorefill; see the sweep dead-letter queue; "+runbook("SweepDeadLetterAlarm"))

	// Money that went wrong: any single occurrence pages (the metrics'
	// totals, without dimensions, whichever function records them).
	alarm("CreditMismatchAlarm", businessMetric(metrics.CreditMismatches, fiveMinutes), 1, atLeast,
		"money was taken that credits nothing: a payment that did not match its purchase, named no known purchase, or a double charge Stripe refused to refund; "+runbook("CreditMismatchAlarm"))
	alarm("DoubleChargeAlarm", businessMetric(metrics.DoubleChargesRefunded, fiveMinutes), 1, atLeast,
		"a purchase was charged twice; the second charge was refunded; "+runbook("DoubleChargeAlarm"))

	hour := awscdk.Duration_Hours(jsii.Number(refillFailureRateHours))
	alarm("RefillFailureRateAlarm", refillFailureRate(hour), refillFailureRatePercent, atLeast,
		"at least half of the automatic refills of the last hour failed (and at least 3 ended): something systemic, such as the Stripe key; "+runbook("RefillFailureRateAlarm"))

	alarm("Api5xxAlarm", s.API.MetricServerError(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: sum}), 1, atLeast,
		"the HTTP API answered 5xx; "+runbook("Api5xxAlarm"))

	throttled := awslogs.NewMetricFilter(stack, jsii.String("PurchasesThrottledFilter"), &awslogs.MetricFilterProps{
		LogGroup: s.AccessLogs,
		FilterPattern: awslogs.FilterPattern_All(
			awslogs.FilterPattern_StringValue(jsii.String("$.routeKey"), jsii.String("="), jsii.String(purchasesRouteKey)),
			awslogs.FilterPattern_StringValue(jsii.String("$.status"), jsii.String("="), jsii.String("429")),
		),
		MetricNamespace: jsii.String(metrics.Namespace),
		MetricName:      jsii.String(purchasesThrottledMetric),
		MetricValue:     jsii.String("1"),
	})
	alarm("PurchasesThrottledAlarm", throttled.Metric(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: sum}),
		purchasesThrottledThreshold, atLeast,
		"POST /v1/purchases answered 429 at least "+strconv.Itoa(purchasesThrottledThreshold)+" times in 5 minutes: a client retrying in a loop, or one partner flooding; "+
			runbook("PurchasesThrottledAlarm"))
}

// businessMetric is the service-wide total of one of internal/metrics'
// metrics: the EMF lines publish every value also without dimensions.
func businessMetric(name string, period awscdk.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  jsii.String(metrics.Namespace),
		MetricName: jsii.String(name),
		Period:     period,
		Statistic:  jsii.String("Sum"),
	})
}

// refillFailureRate is the percentage of refills that failed among those
// that ended in the period, 0 below refillFailureMinAttempts.
func refillFailureRate(period awscdk.Duration) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Label: jsii.String("refill failure rate (%)"),
		Expression: jsii.String("IF((failed + succeeded) >= " + strconv.Itoa(refillFailureMinAttempts) +
			", 100 * failed / (failed + succeeded), 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"failed":    fillZero("failedRaw", businessMetric(metrics.RefillsFailed, period)),
			"succeeded": fillZero("succeededRaw", businessMetric(metrics.RefillsSucceeded, period)),
		},
		Period: period,
	})
}

// fillZero reads a period without data points as 0: a metric without data
// would otherwise make the whole expression empty.
// id names m inside the expression (unique within the alarm).
func fillZero(id string, m awscloudwatch.IMetric) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String("FILL(" + id + ", 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{id: m},
	})
}
