package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/logging/logtest"
	"github.com/cirasync/dsubilling/internal/openapitest"
)

// TestLocalStackEndToEnd runs the dsu-local binary as `make dev` does:
// it must print the ready line, serve the API to a `token` JWT, and stop
// cleanly on SIGTERM, taking stripe-mock with it.
func TestLocalStackEndToEnd(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "dsu-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "DSU_LOCAL_ADDR=127.0.0.1:0", "DSU_LOCAL_JWT_SECRET=e2e-secret", "STRIPE_SECRET_KEY=", "DYNAMODB_ENDPOINT=")
	cmd := exec.Command(bin)
	cmd.Env = env
	stdout, _ := cmd.StdoutPipe()
	stderr := &logtest.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "dsu-local ready on "); ok {
				ready <- u
			}
		}
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-exited:
		t.Fatalf("exited before ready: %v\n%s", err, stderr.String())
	case <-time.After(120 * time.Second):
		t.Fatalf("no ready line within 120s\n%s", stderr.String())
	}

	tokenCmd := exec.Command(bin, "token", "-partner", "e2e-partner")
	tokenCmd.Env = env
	tok, err := tokenCmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	client := openapitest.Client(t, 30*time.Second) // checks every answer against docs/openapi.yaml
	req, _ := http.NewRequest("GET", base+"/v1/packages", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var pkgs struct {
		Currency string            `json:"currency"`
		Packages []json.RawMessage `json:"packages"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &pkgs) != nil || len(pkgs.Packages) != 5 {
		t.Fatalf("GET /v1/packages → %d %s", resp.StatusCode, body)
	}
	if resp, err := client.Get(base + "/v1/packages"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("without a token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	stripeURL := regexp.MustCompile(`"msg":"stripe: stripe-mock","url":"([^"]+)"`).FindStringSubmatch(stderr.String())
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop within 20s of SIGTERM")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no orderly shutdown in the log:\n%s", stderr.String())
	}
	if len(stripeURL) == 2 {
		c := http.Client{Timeout: 2 * time.Second}
		if _, err := c.Get(stripeURL[1] + "/v1/customers"); err == nil {
			t.Errorf("stripe-mock still answers at %s after shutdown", stripeURL[1])
		}
	} else {
		t.Errorf("the log does not say where stripe-mock ran:\n%s", stderr.String())
	}
}

func TestTokenCommand(t *testing.T) {
	var out bytes.Buffer
	getenv := func(k string) string { return map[string]string{"DSU_LOCAL_JWT_SECRET": "x"}[k] }
	if err := run([]string{"token", "-partner", "p1", "-admin"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if parts := strings.Split(strings.TrimSpace(out.String()), "."); len(parts) != 3 {
		t.Fatalf("not a JWT: %q", out.String())
	}
	if err := run([]string{"token"}, getenv, &out, io.Discard); err == nil {
		t.Fatal("a token without a partner was issued")
	}
	if err := run([]string{"bogus"}, getenv, &out, io.Discard); err == nil {
		t.Fatal("an unknown command passed")
	}
}
