// Package app holds the use cases: what a partner, Stripe, the sync platform
// or the schedule asks of the system, expressed over the domain (package dsu)
// and small interfaces to storage and payments declared here, where they are
// used. Adapters (dynamo, stripeapi, httpapi) live elsewhere.
package app
