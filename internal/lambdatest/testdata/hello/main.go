// Command hello is the reference for the start-up benchmark: the smallest
// aws-lambda-go function (README.md, "Quality bars", compares every function's start to it).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, map[string]any) (string, error) { return "hello", nil })
}
