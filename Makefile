# Strata: the two commands the README promises, plus helpers.
.PHONY: build serve test fuzz vet bench

build:
	go build -o strata ./cmd/strata

# Run the server on embedded defaults (127.0.0.1:8080, ./strata-data, dev org).
serve: build
	./strata serve

# The whole test suite: vet, unit and integration tests (real git, real
# servers on loopback, the @pierre/storage SDK conformance suite), then a
# short run of every fuzz target.
test: vet
	go test -race -count=1 -timeout 25m ./...
	$(MAKE) fuzz

FUZZTIME ?= 6s
fuzz:
	go test -run='^$$' -fuzz='^FuzzReader$$' -fuzztime=$(FUZZTIME) ./internal/commitpack
	go test -run='^$$' -fuzz='^FuzzCleanPath$$' -fuzztime=$(FUZZTIME) ./internal/git
	go test -run='^$$' -fuzz='^FuzzCheckRefFormat$$' -fuzztime=$(FUZZTIME) ./internal/git
	go test -run='^$$' -fuzz='^FuzzVerify$$' -fuzztime=$(FUZZTIME) ./internal/auth
	go test -run='^$$' -fuzz='^FuzzParseTree$$' -fuzztime=$(FUZZTIME) ./internal/git/odb
	go test -run='^$$' -fuzz='^FuzzChunkFastPath$$' -fuzztime=$(FUZZTIME) ./internal/commitpack
	go test -run='^$$' -fuzz='^FuzzReadPushCommands$$' -fuzztime=$(FUZZTIME) ./internal/githttp
	go test -run='^$$' -fuzz='^FuzzParseRoute$$' -fuzztime=$(FUZZTIME) ./internal/githttp

vet:
	go vet ./...

bench:
	./bench/run.sh
