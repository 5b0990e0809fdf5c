package main

import (
	"fmt"
	"runtime/debug"
)

func runVersion([]string) error {
	version, revision := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	fmt.Printf("strata %s %s\n", version, revision)
	return nil
}
