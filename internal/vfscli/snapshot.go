package vfscli

import (
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/strata-storage/strata/vfs"
)

// snapshotOpts are the snapshot filters (checklist §2.2): which commit a
// read command looks at.
type snapshotOpts struct {
	ref    string // --ref: branch, tag, or (abbreviated) commit hash
	path   string // --path: the latest commit that changed this path
	match  string // --match: the latest commit whose message fnmatches
	before string // --before: the latest commit at or before this time
	back   int    // --back: then walk N first parents back
}

func addSnapshotFlags(cmd *cobra.Command, o *snapshotOpts) {
	f := cmd.Flags()
	f.StringVar(&o.ref, "ref", "", "branch, tag or commit hash to read from")
	f.StringVar(&o.path, "path", "", "use the latest commit that changed this path")
	f.StringVar(&o.match, "match", "", "use the latest commit whose message matches this pattern (* and ?)")
	f.StringVar(&o.before, "before", "", "use the latest commit at or before this ISO 8601 date or time")
	f.IntVar(&o.back, "back", 0, "walk N commits back")
}

// filtered reports whether any of --path/--match/--before/--back is set.
func (o *snapshotOpts) filtered() bool {
	return o.path != "" || o.match != "" || o.before != "" || o.back != 0
}

// set reports whether any snapshot flag, --ref included, is set.
func (o *snapshotOpts) set() bool { return o.ref != "" || o.filtered() }

// resolveRev resolves --ref or an explicit `ref:`: branch, then tag, then a
// full or abbreviated commit hash.
func resolveRev(s *vfs.Store, rev string) (*vfs.FS, error) {
	f, err := s.Resolve(rev)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, failf("Unknown ref: %s", rev)
	case errors.Is(err, vfs.ErrInvalid):
		return nil, failf("Object %s is not a commit", rev)
	}
	return nil, err
}

// snapshot resolves the FS one argument reads from. The start is the
// argument's own ref, else --ref, else -b or the current branch; then the
// argument's ~N, then --path/--match/--before (the first matching commit),
// then --back. checkRefConflicts has already refused contradictory input.
func (a *app) snapshot(s *vfs.Store, rp refPath, branch string, o *snapshotOpts) (*vfs.FS, error) {
	var f *vfs.FS
	var err error
	switch {
	case rp.explicit():
		f, err = resolveRev(s, rp.Ref)
	case o.ref != "":
		f, err = resolveRev(s, o.ref)
	default:
		var name string
		if name, err = currentBranch(s, branch); err == nil {
			f, err = branchFS(s, name)
		}
	}
	if err != nil {
		return nil, err
	}
	if rp.Back > 0 {
		if f, err = back(f, rp.Back); err != nil {
			return nil, err
		}
	}
	return applyFilters(f, o)
}

// applyFilters selects the first commit of f's log that passes
// --path/--match/--before, then walks --back from it.
func applyFilters(f *vfs.FS, o *snapshotOpts) (*vfs.FS, error) {
	if o.path != "" || o.match != "" || o.before != "" {
		lo, err := o.logOptions()
		if err != nil {
			return nil, err
		}
		var found *vfs.FS
		for c, err := range f.Log(lo) {
			if err != nil {
				return nil, err
			}
			found = c
			break
		}
		if found == nil {
			return nil, failf("No matching commits found")
		}
		f = found
	}
	return back(f, o.back)
}

// logOptions converts the filters for FS.Log.
func (o *snapshotOpts) logOptions() (vfs.LogOptions, error) {
	var lo vfs.LogOptions
	if o.path != "" {
		p, err := normRepoPath(strings.TrimPrefix(o.path, ":"))
		if err != nil {
			return lo, err
		}
		lo.Path = p
	}
	lo.Match = o.match
	if o.before != "" {
		t, err := parseBefore(o.before)
		if err != nil {
			return lo, err
		}
		lo.Before = t
	}
	return lo, nil
}

// back walks n first parents; the library words "history too short".
func back(f *vfs.FS, n int) (*vfs.FS, error) {
	if n == 0 {
		return f, nil
	}
	if n < 0 {
		return nil, failf("--back must be >= 0, got %d", n)
	}
	return f.Back(n)
}

// checkRefConflicts refuses flag and path combinations that contradict each
// other (checklist §3): a path naming its ref leaves no room for -b or
// --ref, a `~N` none for --back, and filters need one ref to apply to.
func checkRefConflicts(rps []refPath, branchSet bool, o *snapshotOpts) error {
	refs := map[string]bool{}
	tilde := false
	for _, rp := range rps {
		if rp.explicit() {
			refs[rp.Ref] = true
		}
		if rp.Repo && rp.Back > 0 {
			tilde = true
		}
	}
	switch {
	case len(refs) > 0 && branchSet:
		return failf("Cannot use -b/--branch with explicit ref: in path")
	case len(refs) > 0 && o.ref != "":
		return failf("Cannot use --ref with explicit ref: in path")
	case tilde && o.back != 0:
		return failf("Cannot use --back with ~N in path")
	case len(refs) > 1 && o.filtered():
		return failf("Cannot use snapshot filters with paths targeting different refs")
	}
	return nil
}

// openReadArgs parses the path arguments of a read command (cat, ls; the
// colon optional), refuses contradictory flags, and opens the repository.
func (a *app) openReadArgs(cmd *cobra.Command, args []string, o *snapshotOpts) (*vfs.Store, []refPath, error) {
	rps, err := parseArgs(args, parseRepoArg)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRefConflicts(rps, cmd.Flags().Changed("branch"), o); err != nil {
		return nil, nil, err
	}
	s, err := a.openRead()
	return s, rps, err
}

// writeTarget names the branch a write goes to: the argument's own ref,
// else -b, else the current branch. Only branches are writable; a `ref:`
// and a different -b together are a contradiction, not a precedence rule.
// verb completes "Cannot <verb> tag 'v1' — use a branch".
func writeTarget(s *vfs.Store, rp refPath, branch, verb string) (string, error) {
	if rp.Back > 0 {
		return "", failf("Cannot %s a historical commit (remove ~N)", verb)
	}
	if !rp.explicit() {
		name, err := currentBranch(s, branch)
		if err != nil {
			return "", err
		}
		if ok, err := s.Branches().Has(name); err != nil || !ok {
			return "", orFail(err, "Branch not found: %s", name)
		}
		return name, nil
	}
	if branch != "" && branch != rp.Ref {
		return "", failf("Cannot use -b/--branch with explicit ref: in path (%s: vs -b %s)", rp.Ref, branch)
	}
	if ok, err := s.Branches().Has(rp.Ref); err != nil || ok {
		return rp.Ref, err
	}
	if ok, err := s.Tags().Has(rp.Ref); err != nil || ok {
		return "", orFail(err, "Cannot %s tag '%s' — use a branch", verb, rp.Ref)
	}
	return "", failf("Branch not found: %s", rp.Ref)
}

// orFail returns err when there is one, else the formatted failure.
func orFail(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	return failf(format, args...)
}

// sameBranch checks that every explicit ref among rps names one branch (rm
// and mv commit once, to one branch) and returns the argument that decides
// the target.
func sameBranch(rps []refPath) (refPath, error) {
	var first refPath
	seen := false
	for _, rp := range rps {
		if !rp.explicit() {
			continue
		}
		if seen && rp.Ref != first.Ref {
			return refPath{}, failf("All paths must target the same branch")
		}
		first, seen = rp, true
	}
	if !seen {
		return refPath{Repo: true}, nil
	}
	return refPath{Repo: true, Ref: first.Ref}, nil
}

// openSameBranch opens the one branch rm and mv commit to: the ref their
// arguments name (all the same one), else -b, else the current branch.
// verb is writeTarget's.
func (a *app) openSameBranch(rps []refPath, branch, verb string) (*vfs.FS, error) {
	target, err := sameBranch(rps)
	if err != nil {
		return nil, err
	}
	s, err := a.openRead()
	if err != nil {
		return nil, err
	}
	name, err := writeTarget(s, target, branch, verb)
	if err != nil {
		return nil, err
	}
	return branchFS(s, name)
}

// beforeLayouts are the ISO 8601 forms --before accepts after the date:
// Python's datetime.fromisoformat forms that people type.
var beforeLayouts = func() []string {
	var out []string
	for _, sep := range []string{"T", " "} {
		for _, clock := range []string{"15", "15:04", "15:04:05", "15:04:05.999999999"} {
			for _, zone := range []string{"", "Z07:00", "-0700", "-07"} {
				out = append(out, "2006-01-02"+sep+clock+zone)
			}
		}
	}
	return out
}()

// parseBefore reads --before. A date alone means the end of that day, so
// `--before 2024-01-15` includes the 15th; a time without a zone is UTC.
func parseBefore(v string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.Add(24*time.Hour - time.Microsecond), nil
	}
	// A lower-case t separator is ISO 8601 too; the layouts spell it T.
	norm := v
	if len(norm) > 10 && norm[10] == 't' {
		norm = norm[:10] + "T" + norm[11:]
	}
	for _, layout := range beforeLayouts {
		if t, err := time.Parse(layout, norm); err == nil {
			return t, nil
		}
	}
	return time.Time{}, failf("Invalid date: %s (use ISO 8601, e.g. 2024-01-15 or 2024-01-15T14:30:00)", v)
}
