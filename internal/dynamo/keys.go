package dynamo

import (
	"fmt"
	"hash/fnv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item types and their keys. docs/ARCHITECTURE.md has the same table with
// the access patterns.
//
//	type       pk                 sk
//	profile    P#<partner>        PROFILE              (+ gsi1 SWEEPCARD#<n> when the sweep must look)
//	balance    P#<partner>        BALANCE              (+ gsi1 SWEEP#<n> when the sweep must look)
//	ledger     P#<partner>        LEDGER#<seq, 20 digits>
//	ref        P#<partner>        REF#<reference>      (a reference applied once)
//	purchase   P#<partner>        PURCHASE#<id>        (+ gsi1 SWEEPPUR#<n> while manual and unfinished)
//	idem       P#<partner>        IDEM#<key>           (TTL)
//	usage      P#<partner>        USAGE#<date>#<tenant>
//	month      P#<partner>        MONTH#<YYYY-MM>      (the month's first entry and opening balance)
//	audit      P#<partner>        AUDIT#<id>           (who changed what, time-sortable ids)
//	rate       P#<partner>        RATE#<name>#<window> (a rate limit's counter; TTL)
//	pi         PI#<payment intent> PI                  (payment intent → purchase)
//	duplicate  PI#<payment intent> DUPLICATE           (a double charge and its refund)
//	customer   CUS#<customer>     CUS                  (Stripe customer → partner)
//	package    CATALOG            PKG#<id>             (stamped with the catalog version)
//	catalog    CATALOG            VERSION              (the current catalog version)
//	event      EVT#<stripe event> EVT                  (TTL)
const (
	typeProfile  = "profile"
	typeBalance  = "balance"
	typeLedger   = "ledger"
	typeRef      = "ref"
	typePurchase = "purchase"
	typeIdem     = "idem"
	typeUsage    = "usage"
	typePI       = "pi"
	typePackage  = "package"
	typeEvent    = "event"
	typeMonth    = "month"
	typeAudit    = "audit"
	typeDup      = "duplicate"
	typeRate     = "rate"

	skProfile        = "PROFILE"
	skBalance        = "BALANCE"
	skLedgerPrefix   = "LEDGER#"
	skRefPrefix      = "REF#"
	skPurchasePrefix = "PURCHASE#"
	skIdemPrefix     = "IDEM#"
	skUsagePrefix    = "USAGE#"
	pkCatalog        = "CATALOG"
	skPackagePrefix  = "PKG#"
)

func partnerPK(partnerID string) string { return "P#" + partnerID }

func ledgerSK(seq int64) string { return fmt.Sprintf("%s%020d", skLedgerPrefix, seq) }

func key(pk, sk string) item {
	return item{AttrPK: avS(pk), AttrSK: avS(sk)}
}

func profileKey(partnerID string) item { return key(partnerPK(partnerID), skProfile) }
func balanceKey(partnerID string) item { return key(partnerPK(partnerID), skBalance) }
func refKey(partnerID, reference string) item {
	return key(partnerPK(partnerID), skRefPrefix+reference)
}
func purchaseKey(partnerID, purchaseID string) item {
	return key(partnerPK(partnerID), skPurchasePrefix+purchaseID)
}
func idemKey(partnerID, k string) item { return key(partnerPK(partnerID), skIdemPrefix+k) }
func usageKey(partnerID, tenantID, date string) item {
	return key(partnerPK(partnerID), skUsagePrefix+date+"#"+tenantID)
}
func paymentIntentKey(pi string) item { return key("PI#"+pi, "PI") }
func eventKey(eventID string) item    { return key("EVT#"+eventID, "EVT") }
func duplicateKey(pi string) item     { return key("PI#"+pi, "DUPLICATE") }

// The sparse index holds three kinds of work, each under its own shard
// prefix so the sweep queries each kind by itself: accounts (a refill due,
// retried or stuck), unfinished manual purchases, and billing records with
// card work (a replaced card to detach, an expiry to announce).
const (
	sweepAccounts  = "SWEEP#"
	sweepPurchases = "SWEEPPUR#"
	sweepCards     = "SWEEPCARD#"
)

// sweepPK spreads the sparse index over a few partitions so one hot key never
// limits the sweep; the sweep queries each of them.
func sweepPK(kind, id string, shards int) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return sweepShardPK(kind, int(h.Sum32()%uint32(shards)))
}

func sweepShardPK(kind string, shard int) string { return fmt.Sprintf("%s%d", kind, shard) }

// withKey copies key attributes into it and returns it.
func withKey(it, k item) item {
	for name, v := range k {
		it[name] = v
	}
	return it
}

// keyString renders a key for error messages.
func keyString(k map[string]types.AttributeValue) string {
	r := reader{it: k}
	return r.str(AttrPK) + "/" + r.str(AttrSK)
}
