package localstack

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The API's paths always reach the gateway, whatever the local handler
// serves; everything else reaches the local handler.
func TestFrontDoorKeepsTheAPIPathsForTheGateway(t *testing.T) {
	tag := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Served-By", name) })
	}
	f := frontDoor{api: tag("gateway"), local: tag("local")}
	for path, want := range map[string]string{
		"/v1/billing":           "gateway",
		"/v1/purchases/pur_1":   "gateway",
		"/v1/no-such-route":     "gateway",
		"/v1":                   "gateway",
		"/":                     "local",
		"/local/token":          "local",
		"/v1beta/billing":       "local",
		"/portal.js":            "local",
		"/V1/billing":           "local", // paths are case-sensitive, as in API Gateway
		"/favicon.ico":          "local",
		"/v1/stripe/webhook":    "gateway",
		"/v1/internal/usage":    "gateway",
		"/v1/billing/card/x/y/": "gateway",
	} {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if got := rec.Header().Get("X-Served-By"); got != want {
			t.Errorf("%s served by %s, want %s", path, got, want)
		}
	}
}
