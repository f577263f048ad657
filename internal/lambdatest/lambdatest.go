// Package lambdatest runs a function's real bootstrap binary against an
// emulated Lambda Runtime API, so tests exercise functions/<name>/main.go
// exactly as Lambda starts it: environment, init, the event loop.
package lambdatest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// RuntimeAPI is the Runtime API of one function process.
type RuntimeAPI struct {
	srv     *httptest.Server
	pending chan invocation
	mu      sync.Mutex
	waiting map[string]chan result
	ready   chan struct{}
	once    sync.Once
	seq     int
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
}

// defaultTimeout is the function timeout Invoke gives an invocation.
const defaultTimeout = 30 * time.Second

type result struct {
	body  []byte
	isErr bool
}

// NewRuntimeAPI starts the emulated Runtime API.
func NewRuntimeAPI(t testing.TB) *RuntimeAPI {
	r := &RuntimeAPI{pending: make(chan invocation, 16), waiting: map[string]chan result{}, ready: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, req *http.Request) { r.finish(w, req, false) })
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, req *http.Request) { r.finish(w, req, true) })
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		t.Errorf("function init failed: %s", b)
		w.WriteHeader(http.StatusAccepted)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// Addr is the value of AWS_LAMBDA_RUNTIME_API.
func (r *RuntimeAPI) Addr() string { return strings.TrimPrefix(r.srv.URL, "http://") }

// Ready is closed when the function first asks for an event: init is done.
func (r *RuntimeAPI) Ready() <-chan struct{} { return r.ready }

func (r *RuntimeAPI) next(w http.ResponseWriter, req *http.Request) {
	r.once.Do(func() { close(r.ready) })
	select {
	case inv := <-r.pending:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(inv.deadline.UnixMilli()))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:test")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		_, _ = w.Write(inv.payload)
	case <-req.Context().Done():
	}
}

func (r *RuntimeAPI) finish(w http.ResponseWriter, req *http.Request, isErr bool) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	ch := r.waiting[req.PathValue("id")]
	delete(r.waiting, req.PathValue("id"))
	r.mu.Unlock()
	if ch != nil {
		ch <- result{body: body, isErr: isErr}
	}
	w.WriteHeader(http.StatusAccepted)
}

// Invoke sends one event and waits for the function's answer. It returns
// an error when the function reported an invocation error.
func (r *RuntimeAPI) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return r.InvokeBy(ctx, payload, time.Now().Add(defaultTimeout))
}

// InvokeBy is Invoke with the invocation's deadline, as Lambda derives it
// from the function's timeout: the function reads it from the
// Lambda-Runtime-Deadline-Ms header (its context's deadline). Like this
// emulator, it does not stop a function that runs past it; tests check
// when the answer arrived.
func (r *RuntimeAPI) InvokeBy(ctx context.Context, payload []byte, deadline time.Time) ([]byte, error) {
	r.mu.Lock()
	r.seq++
	id := fmt.Sprintf("req-%d", r.seq)
	ch := make(chan result, 1)
	r.waiting[id] = ch
	r.mu.Unlock()
	select {
	case r.pending <- invocation{id: id, payload: payload, deadline: deadline}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-ch:
		if res.isErr {
			return res.body, fmt.Errorf("invocation error: %s", res.body)
		}
		return res.body, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles functions/<name> as Lambda would run it (once per test
// binary) and returns the executable's path.
func Build(t testing.TB, name string) string {
	return BuildPackage(t, "./functions/"+name, nil)
}

// Hello is the smallest aws-lambda-go function, the reference of the
// start-up benchmark.
func Hello(t testing.TB) string {
	return BuildPackage(t, "./internal/lambdatest/testdata/hello", nil)
}

// LambdaFlags are the build flags of every deployed bootstrap (docs/DEPLOYMENT.md).
var LambdaFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w"}

// BuildPackage compiles a main package with the deployment flags, for this
// machine or, with env such as GOOS/GOARCH, for another; once per test
// binary and environment.
func BuildPackage(t testing.TB, pkg string, env []string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + strings.Join(env, " ")
	if bin, ok := built[key]; ok {
		return bin
	}
	dir, err := os.MkdirTemp("", "lambdatest-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bootstrap")
	args := append([]string{"build"}, LambdaFlags...)
	cmd := exec.Command("go", append(args, "-o", bin, pkg)...)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	built[key] = bin
	return bin
}

// Start runs a built function against a new Runtime API with env (on top
// of a minimal environment), waits until it is ready for its first event,
// and stops it when the test ends. Its logs go to the test log.
func Start(t testing.TB, bin string, env map[string]string) *RuntimeAPI {
	t.Helper()
	rt := NewRuntimeAPI(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_RUNTIME_API=" + rt.Addr(), "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_LAMBDA_FUNCTION_NAME=test"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	select {
	case <-rt.Ready():
	case <-exited:
		t.Fatalf("function exited during init: %v", waitErr)
	case <-time.After(30 * time.Second):
		t.Fatal("function not ready within 30s")
	}
	return rt
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
