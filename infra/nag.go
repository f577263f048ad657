package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The stack is checked with cdk-nag's AwsSolutions pack at every synth (an
// error fails `cdk synth`) and in the tests. Each finding is fixed or
// suppressed next to the resource it concerns, with its reason
// (docs/DEPLOYMENT.md, "Security checks").

// addNagChecks applies the AwsSolutions pack to the stack.
func addNagChecks(stack awscdk.Stack) {
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		// No CSV reports in cdk.out: the findings are the synth's errors and
		// warnings.
		Reports: jsii.Bool(false),
	}), nil)
}

// nagRule is one suppressed rule with its reason; appliesTo narrows it to
// findings such as "Resource::*" (the rule suppresses only those), or
// appliesToRegex to findings matching a regular expression ("/…/").
type nagRule struct {
	id, reason     string
	appliesTo      []string
	appliesToRegex []string
}

func nag(id, reason string, appliesTo ...string) nagRule {
	return nagRule{id: id, reason: reason, appliesTo: appliesTo}
}

func nagRegex(id, reason string, regexes ...string) nagRule {
	return nagRule{id: id, reason: reason, appliesToRegex: regexes}
}

// nagSuppress suppresses rules on c's own CloudFormation resource (a
// construct's default child).
func nagSuppress(c constructs.IConstruct, rules ...nagRule) {
	target := c
	if child := c.Node().DefaultChild(); child != nil {
		target = child
	}
	cdknag.NagSuppressions_AddResourceSuppressions(target, suppressions(rules), jsii.Bool(false))
}

// nagSuppressTree suppresses rules on c and every resource below it (a
// role and its default policy).
func nagSuppressTree(c constructs.IConstruct, rules ...nagRule) {
	cdknag.NagSuppressions_AddResourceSuppressions(c, suppressions(rules), jsii.Bool(true))
}

func suppressions(rules []nagRule) *[]*cdknag.NagPackSuppression {
	var sup []*cdknag.NagPackSuppression
	for _, r := range rules {
		s := &cdknag.NagPackSuppression{Id: jsii.String(r.id), Reason: jsii.String(r.reason)}
		var applies []interface{}
		for _, a := range r.appliesTo {
			applies = append(applies, a)
		}
		for _, re := range r.appliesToRegex {
			applies = append(applies, &cdknag.RegexAppliesTo{Regex: jsii.String(re)})
		}
		if len(applies) > 0 {
			s.AppliesTo = &applies
		}
		sup = append(sup, s)
	}
	return &sup
}
