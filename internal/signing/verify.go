package signing

import (
	"context"
	"fmt"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// Update is one ref update as a policy sees it.
type Update struct {
	// Ref is the name the policy matches: refs/heads/<name> also for an
	// ephemeral branch (spec Q6).
	Ref string
	// Old is the value the update replaces (compare-and-swapped by the
	// caller); zero for a creation.
	Old git.ObjectID
	// New is the value it writes; zero for a deletion.
	New git.ObjectID
}

// Check enforces policy's verify-sig op on u. It returns nil when the op
// does not apply (no rule with verify-sig decides u.Ref, or u deletes the
// ref), a *auth.DeniedError naming the first commit without a good
// signature from a key registered for org, or another error when the
// signatures could not be checked (the caller must then refuse: fail
// closed).
//
// The commits checked are those the protected ref gains:
//   - an update (u.Old set) checks old..new: every commit reachable from
//     the new value and not from the old one, however the commits reached
//     the repository (an earlier push to another or an ephemeral branch
//     does not make them trusted);
//   - a creation checks every commit reachable from the new value and
//     from no existing ref that the same policy protects with verify-sig
//     (in any namespace, matched by the name the policy sees). Those tips
//     passed this check when they moved; with none, the whole history is
//     checked.
//
// Only git's verdict G (good signature, registered key) passes. Annotated
// tag objects are not checked, only the commits they reach.
func (k *Keys) Check(ctx context.Context, r *repo.Repo, org string, policy auth.Policy, u Update) error {
	if u.New.IsZero() || !policy.Has(u.Ref, auth.OpVerifySig) {
		return nil
	}
	exclude := []git.ObjectID{u.Old}
	if u.Old.IsZero() {
		var err error
		if exclude, err = protectedTips(ctx, r, policy); err != nil {
			return err
		}
	}
	var denied *auth.DeniedError
	err := r.CommitSignatures(ctx, []git.ObjectID{u.New}, exclude, k.Env(org), func(cs repo.CommitSignature) bool {
		if cs.Status == repo.SignatureGood {
			return true
		}
		denied = &auth.DeniedError{Op: auth.OpVerifySig, Ref: u.Ref,
			Reason: fmt.Sprintf("commit %s %s", cs.OID.Short(), describe(cs.Status, org))}
		return false
	})
	if err != nil {
		return fmt.Errorf("verify-sig on %s: %w", u.Ref, err)
	}
	if denied != nil {
		return denied
	}
	return nil
}

// protectedTips are the values of the refs policy protects with
// verify-sig.
func protectedTips(ctx context.Context, r *repo.Repo, policy auth.Policy) ([]git.ObjectID, error) {
	list, err := r.ListRefs(ctx, "refs/")
	if err != nil {
		return nil, err
	}
	var tips []git.ObjectID
	for _, ref := range list {
		_, name := ref.Name.Namespace()
		if policy.Has(string(name), auth.OpVerifySig) {
			tips = append(tips, ref.OID)
		}
	}
	return tips, nil
}

func describe(status byte, org string) string {
	switch status {
	case 'N':
		return "is not signed"
	case 'B':
		return "has a bad signature"
	case 'U', 'E':
		return "is not signed by a key registered for " + org
	case 'X', 'Y':
		return "has an expired signature or key"
	case 'R':
		return "is signed by a revoked key"
	}
	return fmt.Sprintf("has an unacceptable signature (%c)", status)
}
