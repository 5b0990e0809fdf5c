// Package leakcheck fails a test binary whose tests leave goroutines (a
// reaper of an unreaped git, a forgotten monitor, a pipe copier) behind.
// Only TestMain functions import it.
package leakcheck

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// Run runs the tests and returns the exit code for os.Exit: m.Run's, or 1
// when more goroutines are alive afterwards than before, once exiting ones
// (closing connections, exec's pipe copiers) have had up to 5 s to finish.
// The check is skipped under -fuzz, whose engine keeps goroutines running.
func Run(m *testing.M) int {
	before := runtime.NumGoroutine()
	code := m.Run()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return code
	}
	if code == 0 && !settle(before) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		fmt.Fprintf(os.Stderr, "goroutine leak: %d before, %d after\n%s\n", before, runtime.NumGoroutine(), buf[:n])
		return 1
	}
	return code
}

func settle(want int) bool {
	for range 250 {
		if runtime.NumGoroutine() <= want {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
