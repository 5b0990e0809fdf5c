# Strata: the two commands the README promises, plus helpers.
.PHONY: build serve cluster test fuzz vet bench soak

build:
	go build -o strata ./cmd/strata

# Run the server on embedded defaults (127.0.0.1:8080, ./strata-data, dev org).
serve: build
	./strata serve

# Try the clustered mode (docs/scale-out.md) on loopback: a PostgreSQL, a
# versitygw, three nodes built from this checkout and a round-robin proxy
# on 127.0.0.1:8080 (tools/cluster). Ctrl-C stops everything. Flags go in
# CLUSTER_FLAGS, e.g. CLUSTER_FLAGS='-dir ./strata-cluster' keeps the state.
# Built and run rather than `go run`, which exits 1 after a Ctrl-C whatever
# the program does (and make would report an error).
cluster:
	@d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT INT TERM; \
	go build -o "$$d/cluster" ./tools/cluster && "$$d/cluster" $(CLUSTER_FLAGS)

# The whole test suite: vet, unit and integration tests (real git, real
# servers on loopback, the @pierre/storage SDK conformance suite), then a
# short run of every fuzz target.
test: vet
	go test -race -count=1 -timeout 25m ./...
	$(MAKE) fuzz

# Counts, not durations: a duration budget races the fuzz coordinator's own
# deadline (golang/go#75804, fixed in Go 1.27) and fails spuriously on busy
# machines. FuzzCheckRefFormat runs `git check-ref-format` per input as its
# oracle (~1k execs/s), so it gets a smaller budget.
FUZZN ?= 100000x
FUZZN_SLOW ?= 6000x
# The vocabulary and webhook targets run a fuller decode per input (JSON
# round trips, HMACs); 30k executions keep the three under ~1 minute.
FUZZN_DECODE ?= 30000x
fuzz:
	go test -run='^$$' -fuzz='^FuzzReader$$' -fuzztime=$(FUZZN) ./internal/commitpack
	go test -run='^$$' -fuzz='^FuzzCleanPath$$' -fuzztime=$(FUZZN) ./internal/git
	go test -run='^$$' -fuzz='^FuzzCheckRefFormat$$' -fuzztime=$(FUZZN_SLOW) ./internal/git
	go test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZN) ./internal/auth
	go test -run='^$$' -fuzz='^FuzzParseTree$$' -fuzztime=$(FUZZN) ./internal/git/odb
	go test -run='^$$' -fuzz='^FuzzSpliceTree$$' -fuzztime=$(FUZZN) ./internal/git/odb
	go test -run='^$$' -fuzz='^FuzzChunkFastPath$$' -fuzztime=$(FUZZN) ./internal/commitpack
	go test -run='^$$' -fuzz='^FuzzReadPushCommands$$' -fuzztime=$(FUZZN) ./internal/githttp
	go test -run='^$$' -fuzz='^FuzzParseRoute$$' -fuzztime=$(FUZZN) ./internal/githttp
	go test -run='^$$' -fuzz='^FuzzURL$$' -fuzztime=$(FUZZN) ./internal/upstream
	go test -run='^$$' -fuzz='^FuzzNormalise$$' -fuzztime=$(FUZZN_DECODE) ./internal/api
	go test -run='^$$' -fuzz='^FuzzSign$$' -fuzztime=$(FUZZN_DECODE) ./internal/webhook
	go test -run='^$$' -fuzz='^FuzzPayloads$$' -fuzztime=$(FUZZN_DECODE) ./internal/webhook
	go test -run='^$$' -fuzz='^FuzzParseRefPath$$' -fuzztime=$(FUZZN) ./internal/vfscli

# The long forms of the resilience tests (test/resilience): 25 kill -9
# rounds of the crash test, and the load test with 200 clients for 60 s.
# `make test` runs their reduced forms (3 rounds; 50 clients for 10 s).
soak:
	STRATA_SOAK=1 go test -count=1 -timeout 60m -v -run '^(TestCrash|TestLoad)' ./test/resilience

vet:
	go vet ./...

bench:
	./bench/run.sh
