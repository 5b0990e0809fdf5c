package commitpack

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// metadataJSON is the wire form of the metadata object. Pointers tell
// "absent" from "empty"; unknown keys are ignored (spec §4.5, §10).
type metadataJSON struct {
	TargetBranch  *string    `json:"target_branch"`
	CommitMessage *string    `json:"commit_message"`
	Author        *Signature `json:"author"`
	Committer     *Signature `json:"committer"`
	Files         []fileJSON `json:"files"`

	ExpectedHeadSHA   *string `json:"expected_head_sha"`
	ExpectedTargetSHA *string `json:"expected_target_sha"`
	BaseBranch        *string `json:"base_branch"`

	Ephemeral         *bool `json:"ephemeral"`
	TargetIsEphemeral *bool `json:"target_is_ephemeral"`
	EphemeralBase     *bool `json:"ephemeral_base"`
	BaseIsEphemeral   *bool `json:"base_is_ephemeral"`
}

// diffMetadataJSON is metadataJSON without "files": diff-commit has no such
// key, so one sent anyway is an unknown key and ignored, not validated.
type diffMetadataJSON struct {
	metadataJSON
	Files json.RawMessage `json:"files"`
}

type fileJSON struct {
	Path      *string `json:"path"`
	ContentID string  `json:"content_id"`
	Operation string  `json:"operation"`
	Mode      string  `json:"mode"`
}

var allowedModes = map[string]bool{"100644": true, "100755": true, "120000": true, "160000": true}

// jsonError turns a decoder error into a client-facing *Error that names
// the field instead of Go types.
func jsonError(what string, err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return errorf("%s: %s", what, pe.Msg)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return errorf("%s: expected %s, got %s", what, jsonKind(te.Type), te.Value)
		}
		return errorf("%s: field %q: expected %s, got %s", what, te.Field, jsonKind(te.Type), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errorf("%s: malformed JSON: %v", what, se)
	}
	return errorf("%s: %v", what, err)
}

func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	default:
		return "a " + t.Kind().String()
	}
}

// validate checks the fields common to commit-pack and diff-commit and
// returns the normalised metadata (Files not filled in).
func (m *metadataJSON) validate() (*Metadata, error) {
	out := &Metadata{}
	var err error
	if m.TargetBranch == nil {
		return nil, errorf("metadata: target_branch is required")
	}
	if out.TargetBranch, err = branchField("target_branch", *m.TargetBranch); err != nil {
		return nil, err
	}
	if m.CommitMessage == nil || strings.TrimSpace(*m.CommitMessage) == "" {
		return nil, errorf("metadata: commit_message is required and must not be blank")
	}
	if err := checkMessage(*m.CommitMessage); err != nil {
		return nil, err
	}
	out.CommitMessage = *m.CommitMessage
	if out.Author, out.Committer, err = identities(m.Author, m.Committer); err != nil {
		return nil, err
	}
	sha := preferred(m.ExpectedTargetSHA, m.ExpectedHeadSHA)
	if out.ExpectedHeadSHA, err = shaField("expected_head_sha", sha); err != nil {
		return nil, err
	}
	if m.BaseBranch != nil && *m.BaseBranch != "" {
		if out.BaseBranch, err = branchField("base_branch", *m.BaseBranch); err != nil {
			return nil, err
		}
	}
	out.Ephemeral = preferred(m.TargetIsEphemeral, m.Ephemeral)
	out.EphemeralBase = preferred(m.BaseIsEphemeral, m.EphemeralBase)
	if out.EphemeralBase && out.BaseBranch == "" {
		return nil, errorf("metadata: ephemeral_base requires base_branch")
	}
	return out, nil
}

// validateFiles checks the commit-pack change list.
func validateFiles(files []fileJSON) ([]FileOp, error) {
	ops := make([]FileOp, 0, len(files))
	seen := make(map[string]string, len(files)) // upsert content_id → path
	for i, f := range files {
		where := fmt.Sprintf("metadata: files[%d]", i)
		if f.Path == nil {
			return nil, errorf("%s: path is required", where)
		}
		p, err := git.CleanPath(*f.Path)
		if err != nil {
			return nil, errorf("%s: %v", where, err)
		}
		op := FileOp{Path: p, ContentID: f.ContentID, Operation: f.Operation}
		switch f.Operation {
		case "", OpUpsert:
			op.Operation = OpUpsert
			op.Mode = f.Mode
			if op.Mode == "" {
				op.Mode = "100644"
			}
			if !allowedModes[op.Mode] {
				return nil, errorf("%s (%s): mode %s is not one of 100644, 100755, 120000, 160000", where, quote(p), quote(f.Mode))
			}
			if op.ContentID == "" {
				return nil, errorf("%s (%s): content_id is required for an upsert", where, quote(p))
			}
			if prev, dup := seen[op.ContentID]; dup {
				return nil, errorf("%s (%s): content_id %s is already used by %s", where, quote(p), quote(op.ContentID), quote(prev))
			}
			seen[op.ContentID] = p
		case OpDelete:
			// Deletes carry no content; a mode sent anyway means nothing.
		default:
			return nil, errorf("%s (%s): operation %s is not \"upsert\" or \"delete\"", where, quote(p), quote(f.Operation))
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// branchField validates a short branch name. Like the SDK, it strips one
// leading "refs/heads/" and refuses any other "refs/" name, so a client
// can't aim a branch write at refs/tags/ or refs/notes/.
func branchField(field, name string) (string, error) {
	short := strings.TrimPrefix(name, "refs/heads/")
	if strings.HasPrefix(short, "refs/") {
		return "", errorf("metadata: %s %s must be a branch name, not a ref outside refs/heads/", field, quote(name))
	}
	if err := git.ValidateBranchName(short); err != nil {
		return "", errorf("metadata: %s: %v", field, err)
	}
	return short, nil
}

// signature trims and checks an identity. '<', '>' and newlines would
// corrupt the "name <email> time tz" line of the commit header.
// identities validates the author (required) and the optional committer.
func identities(author, committer *Signature) (Signature, *Signature, error) {
	if author == nil {
		return Signature{}, nil, errorf("metadata: author is required")
	}
	a, err := signature("author", *author)
	if err != nil {
		return Signature{}, nil, err
	}
	if committer == nil {
		return a, nil, nil
	}
	c, err := signature("committer", *committer)
	if err != nil {
		return Signature{}, nil, err
	}
	return a, &c, nil
}

func signature(field string, s Signature) (Signature, error) {
	out := Signature{Name: strings.TrimSpace(s.Name), Email: strings.TrimSpace(s.Email)}
	if out.Name == "" {
		return out, errorf("metadata: %s.name is required and must not be blank", field)
	}
	if out.Email == "" {
		return out, errorf("metadata: %s.email is required and must not be blank", field)
	}
	if strings.ContainsAny(out.Name, "<>\n\x00") {
		return out, errorf("metadata: %s.name %s contains '<', '>', a newline or NUL", field, quote(out.Name))
	}
	if strings.ContainsAny(out.Email, "<>\n\x00") {
		return out, errorf("metadata: %s.email %s contains '<', '>', a newline or NUL", field, quote(out.Email))
	}
	return out, nil
}

// checkMessage refuses a NUL in a commit message: git cuts the message there
// (commit-tree refuses it outright).
func checkMessage(msg string) error {
	if strings.IndexByte(msg, 0) >= 0 {
		return errorf("metadata: commit_message contains a NUL byte")
	}
	return nil
}

// shaField normalises an optional full object id.
func shaField(field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	lower := strings.ToLower(v)
	if !git.IsFullHex(lower) {
		return "", errorf("metadata: %s %s is not a 40-character hex SHA", field, quote(v))
	}
	return lower, nil
}

// preferred returns the standard-vocabulary value when it was sent (even
// an explicit false or ""), else the 1.17.1 one: the newer SDKs send only
// the new names, and where a client sends both the new one wins
// (API-next.md, "Server takeaways").
func preferred[T any](standard, old *T) T {
	switch {
	case standard != nil:
		return *standard
	case old != nil:
		return *old
	}
	var zero T
	return zero
}
