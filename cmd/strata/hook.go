package main

import (
	"os"

	"github.com/strata-storage/strata/internal/githttp"
)

// runHook is the hidden `strata hook proc-receive`: git-receive-pack runs
// it during pushes served by `strata serve`; see githttp.RunHook.
func runHook(args []string) error {
	return githttp.RunHook(args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
}
