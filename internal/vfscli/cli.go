// Package vfscli is `strata fs`: the command line of the embedded versioned
// filesystem, a port of the gitstore v0.57.0 CLI over package vfs. It uses
// only vfs, as any user's program would. Main runs one command in-process,
// so tests drive it the way click's CliRunner drives gitstore.
//
// The framework every command file uses (all in this package):
//
//	cli.go       app (stdin/stdout/stderr, a.printf, a.status for -v lines);
//	             errors: failf (`Error: …`, exit 1), usagef (exit 2),
//	             exitCode (a silent status), libMsg (a library error's
//	             gitstore wording); a.repoPath; a.openRead (never creates:
//	             `Repository not found: P`); a.openWrite (creates with -b or
//	             main unless --no-create); currentBranch; branchFS (`Branch
//	             not found: X`); a.openBranch (-b or the current branch's
//	             tip); writeJSON; mapErr
//	root.go      the root command, the subcommand list, and the usage-error
//	             argument checks noArgs, exactArgs, minArgs, maxArgs
//	refpath.go   parseRefPath (checklist §3), parseRepoArg (colon optional),
//	             parseArgs (every argument), repoPaths,
//	             normRepoPath/normFilePath, hasTrailingSlash, isGlob
//	snapshot.go  snapshotOpts + addSnapshotFlags (--ref/--path/--match/
//	             --before/--back), resolveRev, a.snapshot (one argument's
//	             FS), applyFilters, back, checkRefConflicts, a.openReadArgs
//	             (cat, ls), writeTarget (writability: tags, ~N, missing
//	             branches), sameBranch, a.openSameBranch (rm, mv), orFail,
//	             parseBefore
//	options.go   commitOpts with addMessageFlag, addTagFlags, addDryRunFlag,
//	             addNoCreateFlag, addNoGlobFlag; checkTag (before a commit)
//	             and a.applyTag (after); addFormatFlag/checkFormat;
//	             expandRepoSources (glob only with * or ?)
//	rm.go        a.commitChange (rm and mv: --tag, -R hint, dry run);
//	             a.printActions (dry-run `+ :p`, `~ :p`, `- :p` lines)
//	reflog.go    short (a commit id's first seven characters)
package vfscli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"

	"github.com/strata-storage/strata/vfs"
)

// Main runs `strata fs` with args (the words after "fs") and returns the
// exit code: 0 on success, 1 for an error (printed as `Error: …`) or a
// negative answer (`branch exists`, `cmp`), 2 for a usage error.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(args, stdin, stdout, stderr, os.Getenv)
}

// run is Main with the environment injected, so tests of STRATA_REPO can
// run in parallel.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	a.closeStores()
	return a.report(err)
}

// app is one invocation's state: its streams and the global flags. Commands
// are methods on it, so nothing is global and tests can run in parallel.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	repo    string // -r/--repo
	verbose bool   // -v/--verbose

	stores []*vfs.Store // opened by this invocation; closed by run
}

// status prints a -v line on stderr; without -v writes are silent.
func (a *app) status(format string, args ...any) {
	if a.verbose {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}

// printf writes command output on stdout.
func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}

// cliError is a message for the user, printed as `Error: <msg>`.
type cliError struct {
	msg   string
	usage bool // exit 2: the command line itself is wrong
}

func (e *cliError) Error() string { return e.msg }

// failf is an error whose text is shown to the user as is (exit 1).
func failf(format string, args ...any) error {
	return &cliError{msg: fmt.Sprintf(format, args...)}
}

// usagef is a command-line error (exit 2), like click's UsageError.
func usagef(format string, args ...any) error {
	return &cliError{msg: fmt.Sprintf(format, args...), usage: true}
}

// exitCode ends a command with a status and no message: `branch exists`
// answering no, `cmp` finding a difference.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// report prints err the way click would and returns the exit code.
func (a *app) report(err error) int {
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	var ce *cliError
	var stale *vfs.StaleSnapshotError
	switch {
	case errors.As(err, &ce) && ce.usage, isUsageText(err.Error()):
		fmt.Fprintf(a.stderr, "Error: %s\nRun 'strata fs --help' for usage.\n", err)
		return 2
	case errors.As(err, &ce):
		fmt.Fprintf(a.stderr, "Error: %s\n", ce.msg)
	case errors.As(err, &stale):
		fmt.Fprintln(a.stderr, "Error: Branch modified concurrently — retry")
	default:
		fmt.Fprintf(a.stderr, "Error: %s\n", libMsg(err))
	}
	return 1
}

// libMsg is the text of a library error as a person should read it. The
// library words its messages as gitstore does, then wraps them in
// *fs.PathError or *vfs.RefError for programs; a wrapper around a bare
// sentinel ("is a directory") keeps its path, so it stays.
func libMsg(err error) string {
	var inner error
	var pe *fs.PathError
	var re *vfs.RefError
	switch {
	case errors.As(err, &pe):
		inner = pe.Err
	case errors.As(err, &re):
		inner = re.Err
	default:
		return err.Error()
	}
	for _, s := range []error{fs.ErrNotExist, fs.ErrExist, fs.ErrPermission, fs.ErrInvalid,
		vfs.ErrIsDir, vfs.ErrNotDir, vfs.ErrNotSymlink} {
		if inner == s {
			return err.Error()
		}
	}
	return inner.Error()
}

// repoPath is -r/--repo, else $STRATA_REPO. An explicit flag always wins
// (gitstore before v0.74 let a subcommand's env fallback override it).
func (a *app) repoPath() (string, error) {
	if a.repo != "" {
		return a.repo, nil
	}
	if p := a.getenv("STRATA_REPO"); p != "" {
		return p, nil
	}
	return "", failf("No repository specified. Use --repo or set STRATA_REPO.")
}

// openRead opens an existing repository; read commands never create one.
func (a *app) openRead() (*vfs.Store, error) {
	path, err := a.repoPath()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, failf("Repository not found: %s", path)
	}
	return a.open(path, vfs.Options{NoCreate: true})
}

// openWrite opens the repository for a write command, creating it with
// branch (or main) when it is missing, unless noCreate.
func (a *app) openWrite(branch string, noCreate bool) (*vfs.Store, error) {
	path, err := a.repoPath()
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(path)
	missing := errors.Is(statErr, fs.ErrNotExist)
	if missing && noCreate {
		return nil, failf("Repository not found: %s", path)
	}
	if branch == "" {
		branch = "main"
	}
	s, err := a.open(path, vfs.Options{Branch: branch})
	if err == nil && missing {
		a.status("Initialized %s", path)
	}
	return s, err
}

func (a *app) open(path string, opt vfs.Options) (*vfs.Store, error) {
	// One store per invocation: commands that open twice share it.
	for _, s := range a.stores {
		if s.Path() == path {
			return s, nil
		}
	}
	s, err := vfs.Open(path, opt)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, failf("Repository not found: %s", path)
	}
	if err != nil {
		return nil, err
	}
	a.stores = append(a.stores, s)
	return s, nil
}

func (a *app) closeStores() {
	for _, s := range a.stores {
		s.Close()
	}
	a.stores = nil
}

// currentBranch is -b when given, else HEAD's branch, else "main" (HEAD
// dangling). It does not check that the branch exists: branchFS does.
func currentBranch(s *vfs.Store, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	name, err := s.Branches().CurrentName()
	if err != nil {
		return "", err
	}
	if name == "" {
		return "main", nil
	}
	return name, nil
}

// branchFS is the tip of a branch, or `Branch not found: X`.
func branchFS(s *vfs.Store, name string) (*vfs.FS, error) {
	f, err := s.Branches().Get(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, failf("Branch not found: %s", name)
	}
	return f, err
}

// openBranch opens the repository at the tip of -b (flag) or the current
// branch; its name is the snapshot's RefName.
func (a *app) openBranch(flag string) (*vfs.FS, error) {
	s, err := a.openRead()
	if err != nil {
		return nil, err
	}
	name, err := currentBranch(s, flag)
	if err != nil {
		return nil, err
	}
	return branchFS(s, name)
}

// writeJSON writes v as indented JSON (log and reflog) or compact JSON (ls)
// with `<>&` left alone, as Python's json.dumps does.
func writeJSON(w io.Writer, v any, indent bool) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}

// mapErr turns a vfs path error into gitstore's CLI wording; anything else
// passes through.
func mapErr(err error, path string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return failf("File not found: %s", path)
	case errors.Is(err, vfs.ErrIsDir):
		return failf("%s is a directory, not a file", path)
	case errors.Is(err, vfs.ErrNotDir):
		return failf("Not a directory: %s", path)
	}
	return err
}

// version is the module version of the binary, "(devel)" in a plain build.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
