package app_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

func TestClientSecretsNeverPrint(t *testing.T) {
	pi := app.PaymentIntent{ID: "pi_1", Status: "requires_action", ClientSecret: "pi_1_secret_TOPSECRET",
		Amount: dsu.Money{Amount: 5000, Currency: dsu.USD}, LastError: &app.PaymentError{Code: "card_declined", DeclineCode: "insufficient_funds"}}
	si := app.SetupIntent{ID: "seti_1", Status: "succeeded", ClientSecret: "seti_1_secret_TOPSECRET"}

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("x", "pi", pi, "si", si, "piPtr", &pi)
	fmt.Fprintf(&buf, "%v %+v %s %v %+v", pi, pi, si, si, &si)
	out := buf.String()
	if strings.Contains(out, "TOPSECRET") {
		t.Errorf("client secret printed: %s", out)
	}
	for _, want := range []string{"pi_1", "requires_action", "insufficient_funds", "seti_1", "[redacted]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: %s", want, out)
		}
	}
}
