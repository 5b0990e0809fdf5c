// Command strata is the Strata server and its operator tools.
package main

import (
	"fmt"
	"os"
)

type command struct {
	name    string
	summary string
	run     func(args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the server", runServe},
		{"token", "mint a JWT for curl and git users", runToken},
		{"keygen", "write a signing key pair", runKeygen},
		{"org", "manage organisations and their keys, live (strata org --help)", runOrg},
		{"version", "print version information", runVersion},
		{"fs", "the embedded versioned filesystem (strata fs --help)", runFS},
		{"mcp", "MCP tools for agents over stdio, calling a server's API", runMCP},
		{"hook", "(internal) git's proc-receive hook during pushes", runHook},
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	for _, c := range commands() {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "strata %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "strata: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: strata <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'strata <command> -h' for a command's flags.")
}
