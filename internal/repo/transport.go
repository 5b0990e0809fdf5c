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

// CommitSignatures walks the commits reachable from tips but from none of
// exclude (git-rev-list(1) "tips --not exclude") and calls fn with git's
// verdict on each commit's signature until fn returns false. env
// configures git's verifier: GNUPGHOME for OpenPGP and
// gpg.ssh.allowedSignersFile (through GIT_CONFIG_* variables) for SSH.
// Which commits an update must have verified is the caller's rule.
func (r *Repo) CommitSignatures(ctx context.Context, tips, exclude []git.ObjectID, env []string, fn func(CommitSignature) bool) error {
	if len(tips) == 0 {
		return nil
	}
	// The revisions go through stdin: the exclusions may be every ref of a
	// large repository, too many for a command line.
	var revs strings.Builder
	for i, list := range [][]git.ObjectID{tips, exclude} {
		for _, oid := range list {
			if !git.IsFullHex(string(oid)) {
				return fmt.Errorf("%w: %q", git.ErrInvalidObjectID, oid)
			}
			if i == 1 {
				revs.WriteByte('^')
			}
			revs.WriteString(string(oid) + "\n")
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:  "log",
		Flags: []string{"--no-decorate", "--format=%H %G?", "--stdin"},
	}, git.WithStdin(strings.NewReader(revs.String())), git.WithStdoutPipe(), git.WithEnv(env...))
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
