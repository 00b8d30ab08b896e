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
test: deps vet
	$(GO) test -race -count=1 -timeout 20m ./...

test-short: deps
	$(GO) test -count=1 -short ./...

# Run each fuzz target for a short while (FUZZTIME=30s by default).
FUZZTIME ?= 30s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

demo: deps build
	$(BIN) demo

bench: deps build
	bench/run.sh
