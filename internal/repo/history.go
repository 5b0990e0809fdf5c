package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// LastChanges finds, for each of paths, the newest commit reachable from
// commit that touched it: one git-log(1) walk for the whole set, stopped as
// soon as every path is accounted for. Answers go into the same cache
// LastChange uses.
func (r *Repo) LastChanges(ctx context.Context, commit git.ObjectID, paths []string) (map[string]git.ObjectID, error) {
	found := make(map[string]git.ObjectID, len(paths))
	want := make(map[string]bool, len(paths))
	for _, p := range paths {
		if lc, ok := r.memo.lastMod.get(r.key + "\x00" + string(commit) + "\x00" + p); ok {
			found[p] = lc.Commit
			continue
		}
		want[p] = true
	}
	if len(want) == 0 {
		return found, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// %x01 marks a commit line: paths from --name-only can't contain it in
	// any tree Strata accepts.
	cmd := git.Command{
		Name:  "log",
		Flags: []string{"--format=%x01%H", "--name-only", "-z", "--no-renames", "--diff-merges=first-parent"},
		Args:  []string{string(commit)},
	}
	if len(want) <= 64 {
		for p := range want {
			cmd.PostSep = append(cmd.PostSep, git.LiteralPathspec(p))
		}
	}
	p, err := r.git.Start(ctx, r.path, cmd, git.WithStdoutPipe())
	if err != nil {
		return nil, fmt.Errorf("walk history of %s: %w", commit, err)
	}
	br := bufio.NewReaderSize(p.Stdout, 64<<10)
	var current git.ObjectID
	for len(want) > 0 {
		tok, err := br.ReadString(0)
		if err == io.EOF {
			break
		}
		if err != nil {
			cancel()
			p.Wait()
			return nil, fmt.Errorf("walk history of %s: %w", commit, err)
		}
		tok = strings.TrimSuffix(tok, "\x00")
		if id, ok := strings.CutPrefix(tok, "\x01"); ok {
			current = git.ObjectID(strings.TrimSpace(id))
			continue
		}
		name := strings.TrimPrefix(tok, "\n")
		if want[name] {
			found[name] = current
			delete(want, name)
		}
	}
	cancel()
	p.Stdout.Close()
	_ = p.Wait() // killed on purpose when we stop early
	return found, nil
}

// IsAncestor reports whether a is an ancestor of (or equal to) b, i.e.
// whether moving a ref from a to b is a fast-forward.
func (r *Repo) IsAncestor(ctx context.Context, a, b git.ObjectID) (bool, error) {
	err := r.git.Run(ctx, r.path, git.Command{Name: "merge-base", Flags: []string{"--is-ancestor"}, Args: []string{string(a), string(b)}})
	if err == nil {
		return true, nil
	}
	var ce *git.CommandError
	if errors.As(err, &ce) && ce.ExitCode == 1 {
		return false, nil
	}
	return false, fmt.Errorf("merge-base %s %s: %w", a, b, err)
}

// FirstParentLog streams tip's first-parent history, newest first, to fn
// with, for each commit, whether it changed path against its first parent
// (an add, a delete, new content or a new mode; for a directory, anything
// below it). With path "" every commit counts as changed. With all false
// only the commits that changed path are passed; with all true every
// commit is, for callers whose filters depend on the walk's order (the
// embedded library's "before" cut-off). fn returns false to stop.
//
// One git-log(1) streams the walk, and with all and a path one
// git-rev-list(1) first lists the commits that touch it: git's history
// simplification with --first-parent compares each commit with its first
// parent only, which is exactly the test.
func (r *Repo) FirstParentLog(ctx context.Context, tip git.ObjectID, path string, all bool, fn func(c *Commit, changed bool) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var touching map[git.ObjectID]bool
	if path != "" && all {
		out, err := r.git.Output(ctx, r.path, git.Command{
			Name:    "rev-list",
			Flags:   []string{"--first-parent"},
			Args:    []string{string(tip)},
			PostSep: []string{git.LiteralPathspec(path)},
		})
		if err != nil {
			return fmt.Errorf("history of %s in %s: %w", path, tip, err)
		}
		touching = map[git.ObjectID]bool{}
		for _, c := range strings.Fields(string(out)) {
			touching[git.ObjectID(c)] = true
		}
	}
	cmd := git.Command{
		Name:  "log",
		Flags: []string{"-z", logFormat, "--date=raw", "--no-use-mailmap", "--no-show-signature", "--first-parent"},
		Args:  []string{string(tip)},
	}
	if path != "" && !all {
		cmd.PostSep = []string{git.LiteralPathspec(path)}
	}
	p, err := r.git.Start(ctx, r.path, cmd, git.WithStdoutPipe())
	if err != nil {
		return fmt.Errorf("walk history of %s: %w", tip, err)
	}
	lr := &logReader{br: bufio.NewReaderSize(p.Stdout, 64<<10)}
	var walkErr error
	early := false
	for {
		c, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			walkErr = fmt.Errorf("walk history of %s: %w", tip, err)
			break
		}
		if !fn(c, touching == nil || touching[c.OID]) {
			early = true
			break
		}
	}
	if early || walkErr != nil {
		cancel() // git may still be writing; what it says next is not wanted
		p.Wait()
		return walkErr
	}
	if err := p.Wait(); err != nil {
		return fmt.Errorf("walk history of %s: %w", tip, err)
	}
	return nil
}
