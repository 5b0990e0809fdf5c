package main

import (
	"os"

	"github.com/strata-storage/strata/internal/vfscli"
)

// runFS hands the words after "fs" to the embedded filesystem's CLI, which
// prints its own errors and picks its exit code (2 for usage errors), so
// nothing goes back through main's "strata fs: …" error path.
func runFS(args []string) error {
	if code := vfscli.Main(args, os.Stdin, os.Stdout, os.Stderr); code != 0 {
		os.Exit(code)
	}
	return nil
}
