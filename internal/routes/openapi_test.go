package routes

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// docs/openapi.yaml must describe exactly the routes of the table, each with
// the authorization API Gateway applies to it. The module has no YAML
// library, and one test is no reason to add a dependency: the document keeps
// a layout a few lines of Go can read (its header states it): under
// `paths:`, paths at 2 spaces of indentation, operations at 4, and each
// operation's `security:` at 6 with its schemes at 8.

type openAPIOperation struct {
	key   string   // "GET /v1/purchases/{id}"
	lines []string // the operation's body, indentation kept
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// pathItemFields are the other keys a path item may hold at 4 spaces.
var pathItemFields = []string{"summary:", "description:", "parameters:", "servers:", "$ref:"}

func readOpenAPI(t *testing.T) (header string, ops map[string]openAPIOperation) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ops = map[string]openAPIOperation{}
	inPaths, path, current := false, "", ""
	for n, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		where := fmt.Sprintf("docs/openapi.yaml:%d", n+1)
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if strings.HasPrefix(line[indent:], "\t") {
			t.Fatalf("%s: tab in the indentation", where)
		}
		if indent == 0 {
			if strings.HasPrefix(line, "openapi:") {
				header = line
			}
			inPaths, current = line == "paths:", ""
			continue
		}
		if !inPaths {
			continue
		}
		switch {
		case indent == 2:
			if !strings.HasPrefix(trimmed, "/") || !strings.HasSuffix(trimmed, ":") {
				t.Fatalf("%s: want a path key at 2 spaces under paths:, have %q", where, trimmed)
			}
			path, current = strings.TrimSuffix(trimmed, ":"), ""
		case indent == 4:
			method := strings.TrimSuffix(trimmed, ":")
			if slices.Contains(httpMethods, method) && strings.HasSuffix(trimmed, ":") {
				current = strings.ToUpper(method) + " " + path
				if _, dup := ops[current]; dup {
					t.Fatalf("%s: %s twice", where, current)
				}
				ops[current] = openAPIOperation{key: current}
				continue
			}
			if !slices.ContainsFunc(pathItemFields, func(f string) bool { return strings.HasPrefix(trimmed, f) }) {
				t.Fatalf("%s: want an HTTP method at 4 spaces under %s, have %q", where, path, trimmed)
			}
			current = ""
		case indent == 3 || indent < 2:
			t.Fatalf("%s: indentation of %d spaces under paths:", where, indent)
		case current != "":
			op := ops[current]
			op.lines = append(op.lines, line)
			ops[current] = op
		}
	}
	return header, ops
}

// security returns the schemes an operation declares ("" for security: []),
// and whether it declares any security at all.
func (op openAPIOperation) security() ([]string, bool) {
	for i, line := range op.lines {
		if !strings.HasPrefix(line, "      security:") || strings.HasPrefix(line, "       ") {
			continue
		}
		if strings.TrimSpace(strings.TrimPrefix(line, "      security:")) == "[]" {
			return []string{}, true
		}
		var schemes []string
		for _, l := range op.lines[i+1:] {
			item, ok := strings.CutPrefix(l, "        - ")
			if !ok {
				break
			}
			name, _, _ := strings.Cut(item, ":")
			schemes = append(schemes, name)
		}
		return schemes, true
	}
	return nil, false
}

// responds reports whether the operation documents a response status.
func (op openAPIOperation) responds(status string) bool {
	return slices.Contains(op.lines, "        '"+status+"':")
}

func (op openAPIOperation) mentions(s string) bool {
	return slices.ContainsFunc(op.lines, func(l string) bool { return strings.Contains(l, s) })
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	header, ops := readOpenAPI(t)
	if !strings.HasPrefix(header, "openapi: 3.1") {
		t.Errorf("not an OpenAPI 3.1 document: %q", header)
	}
	if len(ops) == 0 {
		t.Fatal("no operations found under paths:")
	}
	for _, r := range All {
		if _, ok := ops[r.Key()]; !ok {
			t.Errorf("%s is in the route table but not in docs/openapi.yaml", r.Key())
		}
	}
	for key := range ops {
		if _, ok := ByKey(key); !ok {
			t.Errorf("docs/openapi.yaml documents %s, which no function serves", key)
		}
	}

	want := map[Auth][]string{AuthJWT: {"bearerAuth"}, AuthIAM: {"awsSigV4"}, AuthNone: {}}
	for _, r := range All {
		op, ok := ops[r.Key()]
		if !ok {
			continue
		}
		// Explicit on every operation, so the document-wide default never
		// silently applies to the webhook or the IAM route.
		schemes, declared := op.security()
		if !declared {
			t.Errorf("%s: no security: of its own", r.Key())
		} else if !slices.Equal(schemes, want[r.Auth]) {
			t.Errorf("%s: security %v, want %v (auth %s)", r.Key(), schemes, want[r.Auth], r.Auth)
		}
		if r.Auth == AuthJWT && !op.responds("401") {
			t.Errorf("%s: 401 not documented", r.Key())
		}
		if r.Auth == AuthJWT && r.Write() && !op.responds("403") {
			t.Errorf("%s: a write without the billing-admin group is 403; not documented", r.Key())
		}
		for _, s := range []string{"500", "503"} {
			if !op.responds(s) {
				t.Errorf("%s: %s not documented", r.Key(), s)
			}
		}
		if strings.Contains(r.Path, "{") && !op.mentions("#/components/parameters/") {
			t.Errorf("%s: the path parameter is not documented", r.Key())
		}
	}
	// The headers §3 makes part of the contract.
	for key, ref := range map[string]string{
		"POST /v1/purchases":      "#/components/parameters/IdempotencyKey",
		"POST /v1/stripe/webhook": "#/components/parameters/StripeSignature",
		"GET /v1/purchases":       "#/components/parameters/Cursor",
		"GET /v1/ledger":          "#/components/parameters/Limit",
	} {
		if op, ok := ops[key]; ok && !op.mentions(ref) {
			t.Errorf("%s does not use %s", key, ref)
		}
	}
}
