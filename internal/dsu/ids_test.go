package dsu

import (
	"strings"
	"testing"
)

func TestIDShapes(t *testing.T) {
	for id, want := range map[string]bool{
		"pur_01HQ3K9G7Y2W0000000000000A": true, "pur_fixture0000000001": true, "pur_1": true,
		"": false, "pur_": false, "PUR_1": false, "le_1": false, "pur_1#x": false, "pur_1/../x": false,
		"pur_\xff": false, "pur_é": false, "pur_1 ": false, "pur_" + strings.Repeat("a", 60): true,
		"pur_" + strings.Repeat("a", 61): false, "pur_" + strings.Repeat("9", 2000): false,
	} {
		if got := ValidPurchaseID(id); got != want {
			t.Errorf("ValidPurchaseID(%q) = %v", id, got)
		}
	}
	for id, want := range map[string]bool{
		"seti_1Pgag7B7WZ01zgkWSgwGdb8Z": true, "seti_123": true,
		"seti_": false, "seti_1Pg_secret_x": false, "pm_card_visa": false, "seti_1\x00": false,
		"seti_" + strings.Repeat("a", 250): true, "seti_" + strings.Repeat("a", 251): false,
	} {
		if got := ValidSetupIntentID(id); got != want {
			t.Errorf("ValidSetupIntentID(%q) = %v", id, got)
		}
	}
}
