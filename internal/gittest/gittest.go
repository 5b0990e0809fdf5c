// Package gittest runs real git for tests, isolated from the user's and
// the system's configuration. Only _test.go files import it.
package gittest

import (
	"os"
	"os/exec"
	"strings"
)

// Env is the environment of Run: the test's, with no global or system
// git configuration, no credential prompt, and a fixed author and
// committer.
var Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
	"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.com")

// Run runs git with args in dir (the current directory when empty) and
// returns its combined output, trimmed; err is git's exit error.
func Run(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = Env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
