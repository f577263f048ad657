package functions_test

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/lambdatest"
	"github.com/cirasync/dsubilling/internal/routes"
)

// Quality bar (README.md, "Quality bars"): each function's linux/arm64 bootstrap is at most 10 MiB.
const maxBootstrapBytes = 10 << 20

func bootstrapSize(t testing.TB, fn string) int64 {
	bin := lambdatest.BuildPackage(t, "./functions/"+fn, []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"})
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// A size regression fails the build, not only the benchmark report.
func TestBootstrapSizes(t *testing.T) {
	for _, fn := range routes.Functions {
		if size := bootstrapSize(t, fn); size > maxBootstrapBytes {
			t.Errorf("%s bootstrap is %d bytes, over the 10 MiB budget", fn, size)
		}
	}
}

func BenchmarkBootstrapSize(b *testing.B) {
	for _, fn := range routes.Functions {
		b.Run(fn, func(b *testing.B) {
			size := bootstrapSize(b, fn)
			for range b.N {
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB")
			if size > maxBootstrapBytes {
				b.Errorf("%d bytes, over 10 MiB", size)
			}
		})
	}
}

// startToReady starts a binary against an emulated Runtime API and measures
// how long it takes to ask for its first event.
func startToReady(b *testing.B, bin string, env map[string]string) time.Duration {
	rt := lambdatest.NewRuntimeAPI(b)
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + rt.Addr(), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case <-rt.Ready():
		return time.Since(start)
	case <-time.After(20 * time.Second):
		b.Fatal("not ready within 20s")
		return 0
	}
}

// Quality bar (README.md, "Quality bars"): process start to ready for the first event is at most 2× a
// hello-world aws-lambda-go binary, with no network I/O at init except
// loading secrets (here the secrets come from the environment).
func BenchmarkStartToReady(b *testing.B) {
	emu := dynamotest.New(b)
	env := map[string]string{
		"TABLE_NAME": dynamotest.Table, "DYNAMODB_ENDPOINT": emu.URL, "STRIPE_SECRET_KEY": "sk_test_bench",
		"STRIPE_API_BASE": "http://127.0.0.1:9", "STRIPE_WEBHOOK_SECRET": webhookSecret,
	}
	// The median of several starts: one slow start on a busy machine
	// says nothing about the binary.
	measure := func(bin string) time.Duration {
		runs := make([]time.Duration, 15)
		for i := range runs {
			runs[i] = startToReady(b, bin, env)
		}
		slices.Sort(runs)
		return runs[len(runs)/2]
	}
	hello := measure(lambdatest.Hello(b))
	for _, fn := range routes.Functions {
		b.Run(fn, func(b *testing.B) {
			bin := lambdatest.Build(b, fn)
			var d time.Duration
			for range b.N {
				d = measure(bin)
			}
			ratio := float64(d) / float64(hello)
			b.ReportMetric(float64(d.Microseconds()), "µs-to-ready")
			b.ReportMetric(ratio, "×hello")
			if ratio > 2 {
				b.Errorf("%s is ready in %v, %.1f× hello-world (%v); budget 2×", fn, d, ratio, hello)
			}
		})
	}
}
