package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/routes"
)

// Custom metrics.
const (
	MetricNamespace    = "DSUBilling"
	MetricRefillFailed = "RefillFailed"
	// RefillFailedEvent is the value of the "event" attribute the autorefill
	// function logs (JSON) when a refill fails.
	RefillFailedEvent = "refill_failed"
)

func (s *BillingStack) addAlarms(cfg Config) {
	stack := s.Stack
	s.AlarmTopic = awssns.NewTopic(stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("DSU Billing " + cfg.Stage + " alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	if cfg.AlarmEmail != "" {
		s.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(s.AlarmTopic)
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	sum := jsii.String("Sum")

	// alarm fires when metric reaches threshold in one 5-minute period;
	// no data (no traffic) is fine.
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
	}
	atLeast := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD

	for _, fn := range routes.Functions {
		f := s.Functions[fn]
		id := constructID(fn)
		alarm(id+"Errors", f.MetricErrors(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: sum}), 1, atLeast,
			fn+": the function failed (crash, timeout or unhandled error)")
		alarm(id+"Throttles", f.MetricThrottles(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: sum}), 1, atLeast,
			fn+": invocations were throttled")
	}

	alarm("AutoRefillFailureQueueAlarm", s.FailureQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period: fiveMinutes, Statistic: jsii.String("Maximum"),
	}), 0, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		"autorefill gave up on stream records; see the failure queue and docs/DEPLOYMENT.md")

	awslogs.NewMetricFilter(stack, jsii.String("RefillFailedFilter"), &awslogs.MetricFilterProps{
		LogGroup:        s.LogGroups[routes.AutoRefill],
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.event"), jsii.String("="), jsii.String(RefillFailedEvent)),
		MetricNamespace: jsii.String(MetricNamespace),
		MetricName:      jsii.String(MetricRefillFailed),
		MetricValue:     jsii.String("1"),
	})
	alarm("RefillFailuresAlarm", awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  jsii.String(MetricNamespace),
		MetricName: jsii.String(MetricRefillFailed),
		Period:     fiveMinutes,
		Statistic:  sum,
	}), 1, atLeast, "an automatic refill failed (payment failed, authentication required or paused)")

	alarm("Api5xxAlarm", s.API.MetricServerError(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: sum}), 1, atLeast,
		"the HTTP API answered 5xx")
}
