// Package dsu is the domain of DSU Billing: Daily Subscription Units, money,
// the package catalog, partners, the ledger, purchases and the rules that tie
// them together (docs/RULES.md).
//
// It imports nothing from AWS, Stripe or Lambda. Adapters translate to and from
// these types; use cases combine them.
package dsu
