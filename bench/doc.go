// Package bench measures Strata against plain git doing the same job in the
// same run. Run it with ./bench/run.sh (or `go test -bench . -run '^$'
// ./bench/`); results and how to read them are in docs/benchmarks.md.
// Nothing here asserts on timing.
package bench
