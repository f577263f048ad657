// Package stripemock runs stripe-mock, Stripe's own API mock, pinned in
// go.mod as a tool (`go tool stripe-mock`). The local stack starts it when no
// real Stripe key is configured, and tests start it to exercise the Stripe
// adapter through the real stripe-go client.
package stripemock

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a running stripe-mock.
type Process struct {
	URL  string // http://127.0.0.1:<port>
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the stripe-mock executable: $STRIPE_MOCK_BIN when set,
// otherwise the pinned tool, built (once, then cached) by the go command.
// It must run inside the module.
func Binary(ctx context.Context) (string, error) {
	if bin := os.Getenv("STRIPE_MOCK_BIN"); bin != "" {
		return bin, nil
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locate stripe-mock (go tool -n stripe-mock): %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Start launches stripe-mock on a free loopback port and waits until it
// listens.
func Start(ctx context.Context) (*Process, error) {
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	// With -http-addr alone stripe-mock also binds HTTPS on its fixed port
	// 12112, and a second instance (another test package running in
	// parallel) dies on it: HTTPS gets a free port too.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	// Its own process group, so an interrupted parent can still stop it
	// and a Ctrl-C in the terminal reaches the parent first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	p := &Process{cmd: cmd, done: make(chan struct{})}
	// Pdeathsig fires when the OS thread that started the child exits, not
	// the process, and Go may retire threads. So the child is started from
	// a goroutine locked to its thread that lives until the child exits.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, after the child
		if err := cmd.Start(); err != nil {
			started <- err
			close(p.done)
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start stripe-mock: %w", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := strings.CutPrefix(line, "Listening for HTTP at address: "); ok {
				select {
				case found <- strings.TrimSpace(addr):
				default:
				}
			}
		}
	}()

	select {
	case addr := <-found:
		p.URL = "http://" + addr
		return p, nil
	case <-p.done:
		return nil, errors.New("stripe-mock exited before listening")
	case <-time.After(60 * time.Second):
		p.Stop()
		return nil, errors.New("stripe-mock did not start within 60s")
	case <-ctx.Done():
		p.Stop()
		return nil, ctx.Err()
	}
}

// Stop terminates stripe-mock and waits for it to exit.
func (p *Process) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

var (
	shared     *Process
	sharedErr  error
	sharedOnce sync.Once
)

// Shared starts one stripe-mock per test binary; call StopShared from
// TestMain when the tests are done.
func Shared() (*Process, error) {
	sharedOnce.Do(func() { shared, sharedErr = Start(context.Background()) })
	return shared, sharedErr
}

// StopShared stops the process Shared started, if any.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}
