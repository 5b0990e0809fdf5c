package githttp

import (
	"cmp"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/signing"
)

// refUpdateTimeout bounds applying a push's ref updates. They run detached
// from the request: a client hanging up must not kill update-ref between
// taking and committing its locks.
const refUpdateTimeout = time.Minute

// pushSession decides and applies the ref updates of one push, on behalf of
// the token that authorised it. The Principal never leaves the server: the
// hook only relays.
type pushSession struct {
	h    *Handler
	req  *request
	sent pushRequest // the commands as the client sent them
	// manifest is the file where the pre-receive hook lists the object
	// files this push adds to the repository.
	manifest string
}

// decision is the verdict on one command.
type decision struct {
	cmd    pushCommand
	update refs.Update
	reason string // why it is rejected; "" to apply
}

// process decides every command before applying any, so that what one
// command introduces can't change the verdict on another, then applies the
// accepted ones through repo.Repo.UpdateRefs: one transaction for an atomic
// push, one per ref otherwise. It returns one reason per command, ""
// for an applied update.
func (s *pushSession) process(ctx context.Context, cmds []pushCommand, atomic bool, out *bandWriter) []string {
	ds := make([]decision, len(cmds))
	for i, c := range cmds {
		ds[i] = s.decide(ctx, c, out)
	}
	if atomic {
		s.applyAtomic(ctx, ds)
	} else {
		s.applyEach(ctx, ds)
	}
	reasons := make([]string, len(ds))
	accepted := 0
	for i, d := range ds {
		reasons[i] = oneLine(d.reason)
		if d.reason == "" {
			accepted++
		}
	}
	var st PushStats
	if accepted == 0 {
		s.dropObjects()
	} else {
		var err error
		if st, err = s.stats(); err != nil {
			s.h.log.Warn("push: measure pushed objects", "repo", s.req.meta.ID, "err", err)
		}
		if s.h.pushes != nil {
			s.h.pushes.Pushed(s.req.repo.Key(), st)
		}
	}
	s.h.log.Info("push", "org", s.req.principal.Org, "repo", s.req.meta.ID, "namespace", string(s.req.route.remote.namespace()),
		"commands", len(ds), "accepted", accepted, "atomic", atomic, "packs", st.Packs, "objects", st.Objects, "bytes", st.Bytes)
	return reasons
}

// decide checks one command: ref name and namespace rules, the default
// branch, then the token's ref policy (spec §3) with the update's kind
// worked out from the repository, never taken from the client, then
// verify-sig (signing.Keys.Check: the commits new to the ref, old..new).
func (s *pushSession) decide(ctx context.Context, c pushCommand, out *bandWriter) decision {
	d := decision{cmd: c}
	ns := s.req.route.remote.namespace()
	ref := c.Ref
	switch {
	case !strings.HasPrefix(ref, "refs/") || git.CheckRefFormat(ref) != nil:
		d.reason = "funny refname"
		return d
	case !c.New.IsZero() && checkShortName(ref) != nil:
		// Names REST could not address later ("-x", "refs/…") or that
		// make every clone warn "refname is ambiguous" ("HEAD", "@");
		// deleting one that exists stays possible.
		d.reason = checkShortName(ref).Error()
		return d
	case c.Old.IsZero() && c.New.IsZero():
		d.reason = "nothing to update"
		return d
	case ns == git.NormalNamespace && strings.HasPrefix(ref, "refs/namespaces/"):
		d.reason = "refs/namespaces/ is reserved"
		return d
	case !c.New.IsZero() && !pushableRef(ref):
		// Stray refs (refs/pull/*, refs/stash, …) that REST could neither
		// list nor delete; deleting one that exists stays possible.
		d.reason = "refs outside refs/heads/, refs/tags/ and refs/notes/ cannot be pushed"
		return d
	case ns == git.EphemeralNamespace && strings.HasPrefix(ref, "refs/tags/"):
		d.reason = "tags cannot be pushed to the ephemeral remote"
		return d
	case ns == git.EphemeralNamespace && !strings.HasPrefix(ref, "refs/heads/"):
		d.reason = "the ephemeral remote holds branches (refs/heads/*) only"
		return d
	}
	d.update = refs.Update{Ref: git.ReferenceName(ns.Prefix() + ref), Old: c.Old, New: c.New}

	var kind auth.UpdateKind
	switch {
	case c.Old.IsZero():
		kind = auth.UpdateCreate
	case c.New.IsZero():
		kind = auth.UpdateDelete
	default:
		kind = auth.UpdateNonFastForward
		ff, err := s.req.repo.IsAncestor(ctx, c.Old, c.New)
		switch {
		case ctx.Err() != nil:
			d.reason = "push cancelled"
			return d
		case err != nil:
			// Not two commits (say, a tag moved to a tree): not a
			// fast-forward, so no-force-push denies it.
			s.h.log.Debug("push: fast-forward check", "ref", ref, "err", err)
		case ff:
			kind = auth.UpdateFastForward
		}
	}
	if kind == auth.UpdateDelete && ns == git.NormalNamespace && ref == "refs/heads/"+s.defaultBranch() {
		d.reason = "refusing to delete the default branch"
		return d
	}
	// Ephemeral branches are matched by the name the remote shows,
	// refs/heads/<name> (spec Q6).
	policy := s.req.principal.Policy
	if err := policy.Check(ref, kind); err != nil {
		d.reason = err.Error()
		return d
	}
	err := s.h.keys.Check(ctx, s.req.repo, s.req.principal.Org, policy, signing.Update{Ref: ref, Old: c.Old, New: c.New})
	var denied *auth.DeniedError
	switch {
	case errors.As(err, &denied):
		out.message("%s", denied)
		d.reason = denied.Error()
		return d
	case ctx.Err() != nil:
		d.reason = "push cancelled"
		return d
	case err != nil:
		s.h.log.Error("push: verify signatures", "repo", s.req.meta.ID, "ref", ref, "err", err)
		d.reason = (&auth.DeniedError{Op: auth.OpVerifySig, Ref: ref, Reason: "signatures could not be checked"}).Error()
		return d
	}
	d.reason = s.checkBlobSizes(ctx, c, out)
	return d
}

// pushableRef says whether a push may write ref: branches, tags and notes,
// the namespaces REST can list and delete (docs/git-transport.md).
func pushableRef(ref string) bool {
	for _, p := range []string{"refs/heads/", "refs/tags/", "refs/notes/"} {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	return false
}

// checkShortName applies the REST API's branch and tag name rules to
// refs/heads/* and refs/tags/*.
func checkShortName(ref string) error {
	if b, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
		return git.ValidateBranchName(b)
	}
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return git.ValidateTagName(t)
	}
	return nil
}

func (s *pushSession) defaultBranch() string {
	if b, err := s.req.repo.DefaultBranch(); err == nil {
		return b
	}
	return s.req.meta.DefaultBranch
}

// applyAtomic applies every update in one transaction, or none: also when
// receive-pack itself refused a command the client sent (it never reaches
// the hook, which must then not apply the rest).
func (s *pushSession) applyAtomic(ctx context.Context, ds []decision) {
	failed := ""
	for _, d := range ds {
		if d.reason != "" {
			failed = d.cmd.Ref
			break
		}
	}
	if failed == "" {
		got := make(map[string]bool, len(ds))
		for _, d := range ds {
			got[d.cmd.Ref] = true
		}
		for _, c := range s.sent.commands {
			if !got[c.Ref] {
				failed = c.Ref
				break
			}
		}
	}
	if failed != "" {
		for i := range ds {
			if ds[i].reason == "" {
				ds[i].reason = "atomic push failure"
			}
		}
		return
	}
	updates := make([]refs.Update, len(ds))
	for i, d := range ds {
		updates[i] = d.update
	}
	if err := s.apply(ctx, updates...); err != nil {
		reason := updateFailure(err)
		for i := range ds {
			ds[i].reason = reason
		}
	}
}

// applyEach applies the accepted updates one transaction each, deletions
// first as receive-pack does (so "delete a, create a/b" works).
func (s *pushSession) applyEach(ctx context.Context, ds []decision) {
	for _, deletions := range []bool{true, false} {
		for i := range ds {
			d := &ds[i]
			if d.reason != "" || d.update.IsDelete() != deletions {
				continue
			}
			if err := s.apply(ctx, d.update); err != nil {
				d.reason = updateFailure(err)
			}
		}
	}
}

func (s *pushSession) apply(ctx context.Context, updates ...refs.Update) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refUpdateTimeout)
	defer cancel()
	err := s.req.repo.UpdateRefs(ctx, updates...)
	if err != nil && !errors.Is(err, repo.ErrConflict) {
		s.h.log.Warn("push: update refs", "repo", s.req.meta.ID, "err", err)
	}
	return err
}

// updateFailure is the ng reason for a failed ref transaction.
func updateFailure(err error) string {
	var missing *refs.MissingObjectError
	switch {
	case errors.Is(err, repo.ErrConflict):
		return "reference changed concurrently; fetch and try again"
	case errors.As(err, &missing):
		return "missing object " + missing.OID.Short()
	case errors.Is(err, refs.ErrInvalidUpdate):
		return "invalid update (only commits can be stored under refs/heads/)"
	}
	return "failed to update ref"
}

// oneLine keeps a reason on one pkt-line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return truncate(s, 1000)
}

// dropObjects deletes the object files this push added (listed by the
// pre-receive hook) when none of its ref updates was accepted: receive-pack
// has already moved them out of its quarantine, and a refused push must not
// leave up to receive.maxInputSize on disk until the prune grace ends. A
// file is deleted only if it is still the one the push brought (same
// inode): a concurrent push of the same objects keeps its own. Pack index
// first, so git never sees an index without its pack. Nothing else can
// depend on these objects: no ref reaches them, and Strata's own object
// writes never reuse packed objects (odb.Writer looks at loose ones only;
// receive.unpackLimit=1 makes every push a pack).
func (s *pushSession) dropObjects() {
	files, err := s.readManifest()
	if err != nil {
		s.h.log.Warn("push: read pushed-objects manifest", "repo", s.req.meta.ID, "err", err)
		return
	}
	// .idx first: git finds a pack through its index.
	rank := func(f manifestFile) int {
		if filepath.Ext(f.path) == ".idx" {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(files, func(a, b manifestFile) int { return cmp.Compare(rank(a), rank(b)) })
	removed := 0
	for _, f := range files {
		fi, err := os.Lstat(f.path)
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Ino != f.ino {
			continue
		}
		if err := os.Remove(f.path); err != nil {
			s.h.log.Warn("push: drop refused objects", "repo", s.req.meta.ID, "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		s.h.log.Info("push refused: dropped its objects", "repo", s.req.meta.ID, "files", removed)
	}
}
