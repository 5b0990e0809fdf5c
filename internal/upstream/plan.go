package upstream

import (
	"context"
	"sort"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
)

// plan is what one sync does to the repository's refs.
type plan struct {
	updates []refs.Update
	// synced is the new record of upstream values applied, per ref.
	synced map[string]string
	// kept are refs the sync left alone because they changed locally
	// since the last sync (a diverged branch, a moved tag).
	kept []string
}

// planSync decides how the repository's branches and tags follow the
// upstream's. Upstream-owned refs follow the upstream: created, moved
// (fast-forward, or any move when the local ref still has the value the
// last sync gave it) and deleted (only when unchanged since the last
// sync). A ref changed locally since the last sync and not a
// fast-forward of the upstream is never overwritten: it is kept and
// reported. A local-only ref is left alone. With only set, just that ref
// is considered. The default branch is never deleted.
func planSync(ctx context.Context, local, upstream, lastSynced map[string]git.ObjectID, only, defaultRef string,
	isAncestor func(ctx context.Context, a, b git.ObjectID) (bool, error)) (plan, error) {
	p := plan{synced: map[string]string{}}
	for name, oid := range lastSynced {
		p.synced[name] = string(oid)
	}
	names := map[string]bool{}
	for n := range local {
		names[n] = true
	}
	for n := range upstream {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		if only == "" || n == only {
			sorted = append(sorted, n)
		}
	}
	sort.Strings(sorted)
	for _, name := range sorted {
		up, onUpstream := upstream[name]
		cur, isLocal := local[name]
		last, wasSynced := lastSynced[name]
		switch {
		case onUpstream && !isLocal:
			p.updates = append(p.updates, refs.Update{Ref: git.ReferenceName(name), Old: git.ZeroOID, New: up})
			p.synced[name] = string(up)
		case onUpstream && cur == up:
			p.synced[name] = string(up)
		case onUpstream:
			move := wasSynced && cur == last
			if !move && strings.HasPrefix(name, "refs/heads/") {
				ff, err := isAncestor(ctx, cur, up)
				if err != nil {
					return plan{}, err
				}
				move = ff
			}
			if !move {
				p.kept = append(p.kept, name)
				continue
			}
			p.updates = append(p.updates, refs.Update{Ref: git.ReferenceName(name), Old: cur, New: up})
			p.synced[name] = string(up)
		case wasSynced && cur == last && name != defaultRef:
			// Deleted upstream, untouched here since the last sync.
			p.updates = append(p.updates, refs.Update{Ref: git.ReferenceName(name), Old: cur, New: git.ZeroOID})
			delete(p.synced, name)
		case wasSynced:
			// Deleted upstream but changed here (or the default branch):
			// it is the repository's own now.
			p.kept = append(p.kept, name)
			delete(p.synced, name)
		}
	}
	return p, nil
}
