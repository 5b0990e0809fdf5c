package bench

import (
	"fmt"
	"os"
	"testing"

	"github.com/strata-storage/strata/internal/githttp"
)

// TestMain lets this test binary stand in for the strata binary as the
// push hook: the in-process servers the benchmarks start install
// `<os.Executable()> hook proc-receive` as receive-pack's proc-receive hook
// (docs/git-transport.md, "Hook binary in tests").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "hook" {
		if err := githttp.RunHook(os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "strata hook:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
