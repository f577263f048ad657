package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/cirasync/dsubilling/internal/routes"
)

// BuildFlags are the go build flags of every function binary (docs/DEPLOYMENT.md, the same
// as `make build`). -buildvcs=false keeps the binary, and so the CDK asset
// hash, unchanged by commits that do not touch the function's code: no
// needless Lambda deployments.
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w"}

// BuildFunctions compiles functions/<fn> into <codeDir>/<fn>/bootstrap for
// linux/arm64 for every function of routes.Functions, with the local Go
// toolchain (no Docker). root is the module root; a relative codeDir is
// relative to it.
func BuildFunctions(root, codeDir string, log io.Writer) error {
	if !filepath.IsAbs(codeDir) {
		codeDir = filepath.Join(root, codeDir)
	}
	var missing []string
	for _, fn := range routes.Functions {
		if _, err := os.Stat(filepath.Join(root, "functions", fn, "main.go")); err != nil {
			missing = append(missing, "functions/"+fn)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no main package in %v: every entry of routes.Functions needs one", missing)
	}
	for _, fn := range routes.Functions {
		start := time.Now()
		out := filepath.Join(codeDir, fn, "bootstrap")
		args := append([]string{"build"}, BuildFlags...)
		args = append(args, "-o", out, "./functions/"+fn)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./functions/%s: %w", fn, err)
		}
		fmt.Fprintf(log, "built %s (%s)\n", out, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory; run from the repository")
		}
		dir = parent
	}
}
