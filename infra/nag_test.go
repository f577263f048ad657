package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// expectedSuppressions are the AwsSolutions rules the stack suppresses, by
// the resource types that carry them: a new suppression is a decision to
// make here too. Each one's reason is written next to its resource.
var expectedSuppressions = map[string][]string{
	// The webhook route: Stripe signs its requests instead.
	"AwsSolutions-APIG4": {"AWS::ApiGatewayV2::Route"},
	// dynamodb:ListStreams and X-Ray's writes have no resource type.
	"AwsSolutions-IAM5": {"AWS::IAM::Policy", "AWS::IAM::Role"},
	// Stripe's keys and signing secret are rolled at Stripe; the cursor key
	// only invalidates cursors.
	"AwsSolutions-SMG4": {"AWS::SecretsManager::Secret"},
	// The two queues are dead-letter queues themselves.
	"AwsSolutions-SQS3": {"AWS::SQS::Queue"},
	// Alarm notifications carry no secret or personal data.
	"AwsSolutions-SNS2": {"AWS::SNS::Topic"},
	// The Cognito fallback: MFA offered, not required; no Plus plan.
	"AwsSolutions-COG2": {"AWS::Cognito::UserPool"},
	"AwsSolutions-COG8": {"AWS::Cognito::UserPool"},
}

// The AwsSolutions pack reports nothing unsuppressed: an error fails the
// synth itself (the variants would not build), and neither an error nor a
// warning is left in the annotations.
func TestNagAwsSolutions(t *testing.T) {
	for _, v := range []*variant{devVariant, prodVariant, operatorVariant} {
		s := v.get(t)
		t.Run(s.name+"-"+s.cfg.StackName, func(t *testing.T) { checkNag(t, s) })
	}
}

func checkNag(t *testing.T, s *synthed) {
	ann := assertions.Annotations_FromStack(s.stack.Stack)
	rule := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range *ann.FindError(jsii.String("*"), rule) {
		t.Errorf("nag error: %s", canon(m))
	}
	for _, m := range *ann.FindWarning(jsii.String("*"), rule) {
		t.Errorf("nag warning: %s", canon(m))
	}
	// Every suppression carries its reason and is one of the expected.
	seen := map[string]bool{}
	for id, r := range s.res {
		md, _ := r["Metadata"].(map[string]interface{})
		nagMD, _ := md["cdk_nag"].(map[string]interface{})
		for _, x := range asList(nagMD["rules_to_suppress"]) {
			sup := x.(map[string]interface{})
			rule, _ := sup["id"].(string)
			reason, _ := sup["reason"].(string)
			typ, _ := r["Type"].(string)
			seen[rule] = true
			if len(reason) < 60 || !strings.HasSuffix(reason, ".") {
				t.Errorf("%s (%s): suppression of %s without a real reason: %q", id, typ, rule, reason)
			}
			if !slices.Contains(expectedSuppressions[rule], typ) {
				t.Errorf("%s (%s) suppresses %s: not an expected suppression (expectedSuppressions)", id, typ, rule)
			}
			// IAM5 is narrowed to "*" resources (X-Ray, ListStreams) or to
			// the exact execute-api ARNs of routes with path parameters.
			if rule == "AwsSolutions-IAM5" && !jsonEq(sup["applies_to"], []string{"Resource::*"}) &&
				!strings.Contains(fmt.Sprint(sup["applies_to"]), "execute-api:<AWS::Region>") {
				t.Errorf("%s: the IAM5 suppression applies to %v", id, sup["applies_to"])
			}
		}
	}
	for rule := range expectedSuppressions {
		cognito := strings.HasPrefix(rule, "AwsSolutions-COG")
		if !seen[rule] && (!cognito || s.stack.UserPool != nil) {
			t.Errorf("expected suppression of %s not found: remove it from expectedSuppressions", rule)
		}
	}
}

// The pack is live: a stack with a known finding fails to synthesize.
func TestNagCatchesAFinding(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("Nagged"), nil)
	addNagChecks(stack)
	awssqs.NewQueue(stack, jsii.String("PlainQueue"), &awssqs.QueueProps{EnforceSSL: jsii.Bool(false)})
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		assertions.Template_FromStack(stack, nil)
		return nil
	}()
	switch {
	case err != nil && !strings.Contains(err.Error(), "Validation failed"):
		t.Fatalf("synth failed otherwise: %v", err)
	case err == nil:
		msgs := assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SQS4.*")))
		if len(*msgs) == 0 {
			t.Fatal("a queue without enforced SSL passed the AwsSolutions pack")
		}
	}
}
