// Package resilience holds the standing resilience tests of issue 10: the
// crash test (kill -9 under concurrent writes, restart, check every
// acknowledged write, fsck and the event feed) and the load test (many
// mixed clients against one server: no 5xx, no lost write, /healthz
// answering, RSS reported). Both drive the real strata binary on loopback
// with real git. `go test` runs reduced forms sized for CI; -soak (or
// STRATA_SOAK=1, `make soak`) runs the long ones.
package resilience
