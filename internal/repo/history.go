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
