package wiring

import (
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/localstack"
	"github.com/cirasync/dsubilling/internal/routes"
)

// HTTPFunctions builds every HTTP function by name. The local stack serves
// all of them; a new HTTP function is one line here.
var HTTPFunctions = map[string]func(Deps) (*httpapi.Function, error){
	routes.Purchases: Purchases,
}

// Local builds the functions for the local stack, on the clients and
// configuration the stack provides.
func Local(env localstack.Env) (localstack.Functions, error) {
	clock := dsu.SystemClock{}
	deps := Deps{Config: env.Config, DynamoDB: env.DynamoDB, Clock: clock, IDs: dsu.RandomIDs{Clock: clock}, Log: env.Log}
	fns := localstack.Functions{HTTP: map[string]localstack.HTTPHandler{}}
	for name, build := range HTTPFunctions {
		f, err := build(deps)
		if err != nil {
			return localstack.Functions{}, err
		}
		fns.HTTP[name] = f.Handle
	}
	return fns, nil
}
