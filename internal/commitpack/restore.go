package commitpack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// RestoreMetadata is the validated body of POST /repos/restore-commit.
type RestoreMetadata struct {
	// TargetBranch is a short branch name (a leading "refs/heads/" is
	// stripped, as for commit-pack).
	TargetBranch string
	// TargetCommitSHA is the revision whose tree to restore, as sent: any
	// revision git rev-parse resolves (spec §4.3); only its form is checked.
	TargetCommitSHA string
	// CommitMessage may be empty: the caller picks a default (spec Q12).
	CommitMessage string
	// ExpectedHeadSHA is "" or 40 lowercase hex digits.
	ExpectedHeadSHA string
	Author          Signature
	Committer       *Signature
}

// DefaultMaxRestore bounds a restore-commit body; real ones are a few
// hundred bytes.
const DefaultMaxRestore = 1 << 20

type restoreJSON struct {
	TargetBranch      *string    `json:"target_branch"`
	TargetCommitSHA   *string    `json:"target_commit_sha"`
	BaseRef           *string    `json:"base_ref"` // the standard name of target_commit_sha
	CommitMessage     *string    `json:"commit_message"`
	ExpectedHeadSHA   *string    `json:"expected_head_sha"`
	ExpectedTargetSHA *string    `json:"expected_target_sha"`
	Author            *Signature `json:"author"`
	Committer         *Signature `json:"committer"`
}

// ReadRestore reads a restore-commit body: one {"metadata":{...}} object,
// sent as application/json or as one NDJSON line, so trailing whitespace is
// allowed but nothing else. A body over max bytes is refused (max ≤ 0 means
// DefaultMaxRestore).
func ReadRestore(r io.Reader, max int64) (*RestoreMetadata, error) {
	if max <= 0 {
		max = DefaultMaxRestore
	}
	// Reading it whole is fine: the limit keeps a hostile body small.
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read restore-commit body: %w", err)
	}
	if int64(len(body)) > max {
		return nil, errorf("request body larger than %d bytes", max)
	}
	body = trimSpace(body)
	if len(body) == 0 {
		return nil, errorf("empty request body: want {\"metadata\":{...}}")
	}
	var env struct {
		Metadata *restoreJSON `json:"metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, jsonError("restore-commit body", err)
	}
	if dec.InputOffset() != int64(len(body)) {
		return nil, errorf("restore-commit body: unexpected data after the metadata object")
	}
	if env.Metadata == nil {
		return nil, errorf("restore-commit body: want {\"metadata\":{...}}")
	}
	m := env.Metadata
	out := &RestoreMetadata{}
	if m.TargetBranch == nil {
		return nil, errorf("metadata: target_branch is required")
	}
	if out.TargetBranch, err = branchField("target_branch", *m.TargetBranch); err != nil {
		return nil, err
	}
	if out.TargetCommitSHA = preferred(m.BaseRef, m.TargetCommitSHA); out.TargetCommitSHA == "" {
		return nil, errorf("metadata: base_ref (or target_commit_sha) is required")
	}
	// It reaches git as a revision argument: no option look-alikes, nothing
	// that breaks a line-based protocol.
	if strings.HasPrefix(out.TargetCommitSHA, "-") || strings.ContainsAny(out.TargetCommitSHA, "\x00\n\r ") {
		return nil, errorf("metadata: target_commit_sha %s is not a revision", quote(out.TargetCommitSHA))
	}
	if m.CommitMessage != nil {
		if err := checkMessage(*m.CommitMessage); err != nil {
			return nil, err
		}
		out.CommitMessage = *m.CommitMessage
	}
	sha := preferred(m.ExpectedTargetSHA, m.ExpectedHeadSHA)
	if out.ExpectedHeadSHA, err = shaField("expected_head_sha", sha); err != nil {
		return nil, err
	}
	if out.Author, out.Committer, err = identities(m.Author, m.Committer); err != nil {
		return nil, err
	}
	return out, nil
}
