package functions_test

import (
	"encoding/json"
	"testing"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/lambdatest"
)

// TestAdminServesItsSampleEvents runs functions/admin as Lambda does with
// the operator routes' sample events under events/admin/: IAM-signed
// requests whose caller becomes the audit actor.
func TestAdminServesItsSampleEvents(t *testing.T) {
	emu := seededTable(t)
	store := fixtureWorld(t, emu) // partner-acme: 2,000 DSUs, a card, a pending $50 purchase
	rt := lambdatest.Start(t, lambdatest.Build(t, "admin"), baseEnv(emu))

	var show struct {
		Billing struct {
			PartnerID string `json:"partnerId"`
		} `json:"billing"`
		Invariant struct {
			OK      bool  `json:"ok"`
			Balance int64 `json:"balance"`
		} `json:"invariant"`
	}
	if resp := invokeHTTP(t, rt, "admin/get-partner.json"); resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &show) != nil ||
		show.Billing.PartnerID != "partner-acme" || !show.Invariant.OK || show.Invariant.Balance != 2000 {
		t.Fatalf("show: %d %s", resp.StatusCode, resp.Body)
	}
	first := invokeHTTP(t, rt, "admin/post-adjustment.json")
	again := invokeHTTP(t, rt, "admin/post-adjustment.json")
	if first.StatusCode != 201 || again.StatusCode != 201 || first.Body != again.Body {
		t.Fatalf("adjustment twice: %d %s / %d %s", first.StatusCode, first.Body, again.StatusCode, again.Body)
	}
	if resp := invokeHTTP(t, rt, "admin/post-dispute-hold-release.json"); resp.StatusCode != 200 {
		t.Fatalf("release: %d %s", resp.StatusCode, resp.Body)
	}
	var v struct {
		OK       bool `json:"ok"`
		Problems []struct {
			Kind string `json:"kind"`
		} `json:"problems"`
	}
	if resp := invokeHTTP(t, rt, "admin/get-verify.json"); resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &v) != nil {
		t.Fatalf("verify: %d %s", resp.StatusCode, resp.Body)
	}
	acc, err := store.GetAccount(t.Context(), "partner-acme")
	if err != nil || acc.Units != 2500 {
		t.Fatalf("balance %d after one adjustment of 500 sent twice, %v", acc.Units, err)
	}
	events, _, err := store.ListAudit(t.Context(), "partner-acme", dsu.Page{Limit: 10})
	if err != nil || len(events) != 1 || events[0].Actor.Sub != "arn:aws:sts::123456789012:assumed-role/DsuBilling-dev-OperatorRole/jane.oncall" {
		t.Fatalf("audit %+v %v", events, err)
	}
}
