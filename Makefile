GO ?= go
BIN := bin/gatehouse

.PHONY: build test test-short race fuzz demo bench deps vet

build:
	$(GO) build -o $(BIN) ./cmd/gatehouse

deps:
	scripts/install-deps.sh

vet:
	$(GO) vet ./...

# The full suite: real PostgreSQL servers, real clients (psql, pgbench,
# psycopg2, JDBC), with the race detector.
# internal/e2e drives real clients against whole gateways; it runs without
# the race detector (the packages it exercises run under it on their own),
# which keeps the suite's CPU load and time down on 2 cores.
test: deps vet
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v /internal/e2e$$)
	$(GO) test -count=1 -timeout 10m ./internal/e2e/

test-short: deps
	$(GO) test -count=1 -short ./...

# Run each fuzz target for a short while (FUZZTIME=30s by default).
FUZZTIME ?= 30s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

demo: deps
	$(GO) run ./cmd/gatehouse demo

bench: deps build
	bench/run.sh
