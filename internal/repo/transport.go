package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// SignatureGood is git's %G? verdict for a good signature from a trusted
// key (git-log(1) PRETTY FORMATS). Other verdicts: B bad, U good but of
// unknown validity (e.g. an SSH key missing from the allowed signers), X/Y
// expired signature/key, R revoked key, E cannot be checked (key missing),
// N no signature.
const SignatureGood byte = 'G'

// CommitSignature is git's verdict on one commit's signature.
type CommitSignature struct {
	OID    git.ObjectID
	Status byte // %G?
}

// IntroducedCommitSignatures walks the commits reachable from tips but from
// no ref in any namespace — what a push of tips introduces — and calls fn
// with git's verdict on each commit's signature until fn returns false.
// env configures git's verifier: GNUPGHOME for OpenPGP and
// gpg.ssh.allowedSignersFile (through GIT_CONFIG_* variables) for SSH.
func (r *Repo) IntroducedCommitSignatures(ctx context.Context, tips []git.ObjectID, env []string, fn func(CommitSignature) bool) error {
	if len(tips) == 0 {
		return nil
	}
	args := make([]string, len(tips))
	for i, t := range tips {
		if !git.IsFullHex(string(t)) {
			return fmt.Errorf("%w: %q", git.ErrInvalidObjectID, t)
		}
		args[i] = string(t)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// "--not --all --not <tips>": the second --not flips the tips back to
	// positive, so they can stay positional arguments after the flags.
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:  "log",
		Flags: []string{"--no-decorate", "--format=%H %G?", "--not", "--all", "--not"},
		Args:  args,
	}, git.WithStdoutPipe(), git.WithEnv(env...))
	if err != nil {
		return fmt.Errorf("verify signatures: %w", err)
	}
	sc := bufio.NewScanner(p.Stdout)
	stopped := false
	for sc.Scan() {
		oid, status, ok := strings.Cut(sc.Text(), " ")
		if !ok || len(status) != 1 || !git.IsFullHex(oid) {
			continue
		}
		if !fn(CommitSignature{OID: git.ObjectID(oid), Status: status[0]}) {
			stopped = true
			cancel()
			break
		}
	}
	werr := p.Wait()
	if stopped {
		return nil
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("verify signatures: %w", err)
	}
	if werr != nil {
		return fmt.Errorf("verify signatures: %w", werr)
	}
	return nil
}
