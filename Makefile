# DSU Billing. `make dev` runs the local stack, `make test` everything a CI
# run checks. See README.md.

GO        ?= go
FUNCTIONS := $(notdir $(patsubst %/,%,$(wildcard functions/*/)))
DIST      := dist
# Lambda build flags (docs/DEPLOYMENT.md): no RPC shim, reproducible paths, no symbols.
# -buildvcs=false keeps binaries (and so deployments) unchanged by commits
# that do not change the code.
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -buildvcs=false -ldflags "-s -w"
# The CDK CLI, pinned in .cdk-cli/package.json; a dot-directory keeps its
# node_modules out of the Go module tree.
CDK := .cdk-cli/node_modules/.bin/cdk
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: dev test lint build bench synth cdk fuzz clean tools

## dev: run the local stack (go run ./cmd/dsu-local)
dev:
	$(GO) run ./cmd/dsu-local

## test: lint, then every test with the race detector (the CDK assertion
## tests need Node.js for jsii and run without -race: they are slow under it;
## so does the local-stack load test, see cmd/dsu-local/load_e2e_test.go)
test: lint tools
	$(GO) test -race -timeout 20m $$($(GO) list ./... | grep -v '/infra')
	$(GO) test -timeout 10m -run '^TestConcurrentLoadThroughTheLocalStack$$' ./cmd/dsu-local
	$(GO) test -timeout 20m ./infra/...

## lint: go vet, staticcheck (pinned as a tool in go.mod) and a gofmt check.
## ./... skips dot-directories, so .cdk-cli/node_modules is never linted.
lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

## tools: build the pinned stripe-mock once, so the first test that needs it does not wait
tools:
	$(GO) build -o /dev/null github.com/stripe/stripe-mock 2>/dev/null || $(GO) tool -n stripe-mock >/dev/null

## build: one linux/arm64 bootstrap per function into dist/<fn>/bootstrap
build:
	@for fn in $(FUNCTIONS); do \
		echo "build $$fn"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(LAMBDA_FLAGS) -o $(DIST)/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

## bench: the quality-bar benchmarks (README.md, "Quality bars") (sizes, start-up, handler overhead, round trips)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

$(CDK): .cdk-cli/package.json .cdk-cli/package-lock.json
	npm ci --prefix .cdk-cli --no-audit --no-fund
	@touch $(CDK)

## synth: synthesize the CDK stack offline; it builds the functions itself (no Docker)
synth: $(CDK)
	$(CDK) synth -q

## cdk: any CDK command with the pinned CLI, e.g. make cdk ARGS="deploy -c stage=prod"
cdk: $(CDK)
	$(CDK) $(ARGS)

## fuzz: run each fuzz target briefly (FUZZTIME=30s for longer)
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./internal/...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf $(DIST) cdk.out .cdk-cli/node_modules
