package mcp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func (t *tools) registerWrites(s *sdk.Server) {
	sdk.AddTool(s, &sdk.Tool{Name: "create_repository",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(false)},
		Description: "Create the token's repository (the id is the token's repo claim), empty, with a default branch name. Needs the repo:write scope. The first commit_files call to the default branch makes its first commit."}, t.createRepository)
	sdk.AddTool(s, &sdk.Tool{Name: "create_branch",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(false)},
		Description: "Create a branch at a base ref (a branch, tag or commit SHA). Needs the git:write scope; ref policies of the token apply. Fails if the branch exists."}, t.createBranch)
	sdk.AddTool(s, &sdk.Tool{Name: "commit_files",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(false)},
		Description: "Commit file changes to a branch in one commit: write files (full new content, UTF-8 text or base64) and delete files or directories. A branch that does not exist yet is created from base_branch. Pass expected_head_sha to fail instead of committing on top of someone else's change. Needs the git:write scope; ref policies of the token apply."}, t.commitFiles)
	sdk.AddTool(s, &sdk.Tool{Name: "merge_preview",
		Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true},
		Description: "Preview merging a source branch into a target branch without changing anything: clean or conflicted, fast-forward or merge commit, the conflicting paths and (with include_content) the conflict-marked contents."}, t.mergePreview)
	sdk.AddTool(s, &sdk.Tool{Name: "merge",
		Annotations: &sdk.ToolAnnotations{DestructiveHint: ptr(false)},
		Description: "Merge a source branch (or any ref) into a target branch. strategy: ff_prefer (fast-forward when possible, else a merge commit; the default), ff_only, or merge (always a merge commit). Conflicts fail the merge and list the paths; call merge_preview first to see them. Needs the git:write scope; ref policies of the token apply to the target."}, t.merge)
}

// ---- create_repository

type createRepoIn struct {
	DefaultBranch string `json:"default_branch,omitempty" jsonschema:"name of the default branch, default main"`
}

type createRepoOut struct {
	RepoID string `json:"repo_id"`
}

func (t *tools) createRepository(ctx context.Context, req *sdk.CallToolRequest, in createRepoIn) (*sdk.CallToolResult, createRepoOut, error) {
	var out createRepoOut
	body := map[string]any{}
	if in.DefaultBranch != "" {
		body["default_branch"] = in.DefaultBranch
	}
	if err := t.sendJSON(ctx, req, "repos", body, &out); err != nil {
		return nil, out, err
	}
	return text(fmt.Sprintf("created repository %s", out.RepoID)), out, nil
}

// ---- create_branch

type createBranchIn struct {
	Branch string `json:"branch" jsonschema:"name of the new branch, e.g. agent/fix-typo"`
	Base   string `json:"base,omitempty" jsonschema:"branch, tag or commit SHA the branch starts at; default: the default branch"`
}

type createBranchOut struct {
	Branch    string `json:"branch"`
	CommitSHA string `json:"commit_sha"`
}

func (t *tools) createBranch(ctx context.Context, req *sdk.CallToolRequest, in createBranchIn) (*sdk.CallToolResult, createBranchOut, error) {
	var out createBranchOut
	base := strings.TrimSpace(in.Base)
	if base == "" {
		var err error
		if base, err = t.defaultBranch(ctx, req); err != nil {
			return nil, out, err
		}
	}
	var resp struct {
		TargetBranch string `json:"target_branch"`
		CommitSHA    string `json:"commit_sha"`
	}
	if err := t.sendJSON(ctx, req, "repos/branches/create", map[string]any{"target_branch": in.Branch, "base_ref": base}, &resp); err != nil {
		return nil, out, err
	}
	out = createBranchOut{Branch: resp.TargetBranch, CommitSHA: resp.CommitSHA}
	return text(fmt.Sprintf("created branch %s at %s (from %s)", out.Branch, out.CommitSHA, base)), out, nil
}

// ---- commit_files

type fileChange struct {
	Path     string `json:"path" jsonschema:"repository-relative path"`
	Content  string `json:"content,omitempty" jsonschema:"the file's complete new content (omit with delete)"`
	Encoding string `json:"encoding,omitempty" jsonschema:"utf-8 (default) or base64"`
	Delete   bool   `json:"delete,omitempty" jsonschema:"delete this file or directory instead of writing it"`
	Mode     string `json:"mode,omitempty" jsonschema:"100644 (default), 100755 (executable) or 120000 (symlink; content is the target)"`
}

type commitFilesIn struct {
	Branch          string       `json:"branch" jsonschema:"branch to commit to"`
	Message         string       `json:"message" jsonschema:"commit message"`
	Files           []fileChange `json:"files" jsonschema:"the changes, applied in order"`
	BaseBranch      string       `json:"base_branch,omitempty" jsonschema:"when branch does not exist yet: the branch it starts from"`
	ExpectedHeadSHA string       `json:"expected_head_sha,omitempty" jsonschema:"fail unless branch is at this commit"`
	AuthorName      string       `json:"author_name,omitempty" jsonschema:"default: the server's agent identity"`
	AuthorEmail     string       `json:"author_email,omitempty"`
}

type commitFilesOut struct {
	Branch    string `json:"branch"`
	CommitSHA string `json:"commit_sha"`
	TreeSHA   string `json:"tree_sha"`
	OldSHA    string `json:"old_sha" jsonschema:"the branch's previous tip; all zeros when created"`
}

// chunkSize is the raw bytes per commit-pack blob chunk: below the API's
// 4 MiB chunk limit.
const chunkSize = 3 << 20

func (t *tools) commitFiles(ctx context.Context, req *sdk.CallToolRequest, in commitFilesIn) (*sdk.CallToolResult, commitFilesOut, error) {
	var out commitFilesOut
	author := t.author
	if in.AuthorName != "" || in.AuthorEmail != "" {
		author = Identity{Name: in.AuthorName, Email: in.AuthorEmail}
	}
	type entry struct {
		Path      string `json:"path"`
		ContentID string `json:"content_id"`
		Operation string `json:"operation"`
		Mode      string `json:"mode,omitempty"`
	}
	meta := map[string]any{"target_branch": in.Branch, "commit_message": in.Message, "author": author}
	if in.BaseBranch != "" {
		meta["base_branch"] = in.BaseBranch
	}
	if in.ExpectedHeadSHA != "" {
		meta["expected_head_sha"] = in.ExpectedHeadSHA
	}
	entries := make([]entry, 0, len(in.Files))
	blobs := make([][]byte, len(in.Files))
	for i, f := range in.Files {
		e := entry{Path: f.Path, ContentID: contentID(i)}
		if f.Delete {
			if f.Content != "" {
				return nil, out, fmt.Errorf("files[%d] (%s): delete with content", i, f.Path)
			}
			e.Operation = "delete"
			entries = append(entries, e)
			continue
		}
		e.Operation, e.Mode = "upsert", f.Mode
		if e.Mode == "" {
			e.Mode = "100644"
		}
		switch strings.ToLower(f.Encoding) {
		case "", "utf-8", "utf8", "text":
			blobs[i] = []byte(f.Content)
		case "base64":
			b, err := base64.StdEncoding.DecodeString(f.Content)
			if err != nil {
				return nil, out, fmt.Errorf("files[%d] (%s): invalid base64: %v", i, f.Path, err)
			}
			blobs[i] = b
		default:
			return nil, out, fmt.Errorf("files[%d] (%s): encoding must be utf-8 or base64, got %q", i, f.Path, f.Encoding)
		}
		entries = append(entries, e)
	}
	meta["files"] = entries
	// The commit-pack stream (spec §5.6): the metadata line, then each
	// blob in chunks. Tool arguments are already in memory, so the body
	// is built whole.
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	if err := enc.Encode(map[string]any{"metadata": meta}); err != nil {
		return nil, out, err
	}
	for i, blob := range blobs {
		if in.Files[i].Delete {
			continue
		}
		for off := 0; ; off += chunkSize {
			end := min(off+chunkSize, len(blob))
			chunk := map[string]any{"content_id": contentID(i), "data": base64.StdEncoding.EncodeToString(blob[off:end]), "eof": end == len(blob)}
			if err := enc.Encode(map[string]any{"blob_chunk": chunk}); err != nil {
				return nil, out, err
			}
			if end == len(blob) {
				break
			}
		}
	}
	resp, err := t.api.call(ctx, t.authorization(req), http.MethodPost, "repos/commit-pack", nil, &body, "application/x-ndjson")
	if err != nil {
		return nil, out, err
	}
	defer resp.Body.Close()
	var ack struct {
		Commit struct {
			CommitSHA string `json:"commit_sha"`
			TreeSHA   string `json:"tree_sha"`
		} `json:"commit"`
		Result struct {
			Branch  string `json:"branch"`
			OldSHA  string `json:"old_sha"`
			Success bool   `json:"success"`
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"result"`
	}
	if err := decodeLimited(resp.Body, &ack); err != nil {
		return nil, out, err
	}
	if !ack.Result.Success {
		return nil, out, fmt.Errorf("commit failed: %s %s", ack.Result.Status, ack.Result.Message)
	}
	out = commitFilesOut{Branch: ack.Result.Branch, CommitSHA: ack.Commit.CommitSHA, TreeSHA: ack.Commit.TreeSHA, OldSHA: ack.Result.OldSHA}
	return text(fmt.Sprintf("committed %s to %s (%d changes; previous tip %s)", out.CommitSHA, out.Branch, len(in.Files), out.OldSHA)), out, nil
}

// contentID links a file entry to its blob chunks; unique per request.
func contentID(i int) string { return fmt.Sprintf("f%d", i) }

// ---- merge_preview

type mergePreviewIn struct {
	Source         string `json:"source" jsonschema:"the branch to merge"`
	Target         string `json:"target,omitempty" jsonschema:"the branch to merge into; default: the default branch"`
	IncludeContent bool   `json:"include_content,omitempty" jsonschema:"include the conflict-marked content of each conflicting file"`
}

type conflictOut struct {
	Path      string `json:"path"`
	Content   string `json:"content,omitempty" jsonschema:"the file with conflict markers"`
	Truncated bool   `json:"truncated,omitempty"`
	Binary    bool   `json:"binary,omitempty"`
}

type mergePreviewOut struct {
	Status        string        `json:"status" jsonschema:"clean or conflicted"`
	Result        string        `json:"result" jsonschema:"what a merge would do: merge_commit, fast_forward or no_op"`
	SourceTipSHA  string        `json:"source_tip_sha"`
	TargetTipSHA  string        `json:"target_tip_sha"`
	MergeBaseSHA  string        `json:"merge_base_sha,omitempty"`
	ConflictPaths []string      `json:"conflict_paths"`
	Conflicts     []conflictOut `json:"conflicts,omitempty"`
}

func (t *tools) defaultBranch(ctx context.Context, req *sdk.CallToolRequest) (string, error) {
	var repo struct {
		DefaultBranch string `json:"default_branch"`
	}
	err := t.getJSON(ctx, req, "repo", nil, &repo)
	return repo.DefaultBranch, err
}

func (t *tools) mergePreview(ctx context.Context, req *sdk.CallToolRequest, in mergePreviewIn) (*sdk.CallToolResult, mergePreviewOut, error) {
	var out mergePreviewOut
	target := in.Target
	if target == "" {
		var err error
		if target, err = t.defaultBranch(ctx, req); err != nil {
			return nil, out, err
		}
	}
	include := ""
	if in.IncludeContent {
		include = "true"
	}
	type blob struct {
		Content   string `json:"content"`
		Truncated bool   `json:"truncated"`
		Binary    bool   `json:"binary"`
	}
	var resp struct {
		Status        string   `json:"status"`
		Result        string   `json:"result"`
		SourceTipSHA  string   `json:"source_tip_sha"`
		TargetTipSHA  string   `json:"target_tip_sha"`
		MergeBaseSHA  string   `json:"merge_base_sha"`
		ConflictPaths []string `json:"conflict_paths"`
		Conflicts     []struct {
			Path   string `json:"path"`
			Result blob   `json:"result"`
		} `json:"conflicts"`
	}
	if err := t.getJSON(ctx, req, "repos/merge/preview", query{"source_branch", in.Source, "target_branch", target, "include_content", include}, &resp); err != nil {
		return nil, out, err
	}
	out = mergePreviewOut{Status: resp.Status, Result: resp.Result, SourceTipSHA: resp.SourceTipSHA, TargetTipSHA: resp.TargetTipSHA,
		MergeBaseSHA: resp.MergeBaseSHA, ConflictPaths: resp.ConflictPaths}
	if out.ConflictPaths == nil {
		out.ConflictPaths = []string{}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "merging %s (%s) into %s (%s): %s, %s\n", in.Source, out.SourceTipSHA, target, out.TargetTipSHA, out.Status, out.Result)
	for _, p := range out.ConflictPaths {
		fmt.Fprintf(&b, "  conflict: %s\n", p)
	}
	budget := maxTextBytes
	for _, c := range resp.Conflicts {
		co := conflictOut{Path: c.Path, Binary: c.Result.Binary, Truncated: c.Result.Truncated}
		if in.IncludeContent && !c.Result.Binary {
			co.Content = c.Result.Content
			if len(co.Content) > budget {
				co.Content, co.Truncated = clip(co.Content, max(budget, 0)), true
			}
			budget -= len(co.Content)
			fmt.Fprintf(&b, "\n--- %s (conflict markers)\n%s", c.Path, co.Content)
			if co.Truncated {
				fmt.Fprintf(&b, "\n… [truncated: read %s on the target after resolving, or preview fewer files]\n", c.Path)
			}
		}
		out.Conflicts = append(out.Conflicts, co)
	}
	return text(b.String()), out, nil
}

// ---- merge

type mergeIn struct {
	Source            string `json:"source" jsonschema:"the branch (or any ref) to merge"`
	Target            string `json:"target,omitempty" jsonschema:"the branch to merge into; default: the default branch"`
	Strategy          string `json:"strategy,omitempty" jsonschema:"ff_prefer (default), ff_only or merge"`
	Message           string `json:"message,omitempty" jsonschema:"message of a merge commit"`
	ExpectedTargetSHA string `json:"expected_target_sha,omitempty" jsonschema:"fail unless target is at this commit"`
	Squash            bool   `json:"squash,omitempty" jsonschema:"one new commit on the target with the merged tree, instead of a merge commit"`
}

type mergeOut struct {
	Result       string `json:"result" jsonschema:"merge_commit, fast_forward, no_op or squash"`
	CommitSHA    string `json:"commit_sha" jsonschema:"the target's new tip"`
	TargetOldSHA string `json:"target_old_sha"`
	MergeBaseSHA string `json:"merge_base_sha,omitempty"`
}

func (t *tools) merge(ctx context.Context, req *sdk.CallToolRequest, in mergeIn) (*sdk.CallToolResult, mergeOut, error) {
	var out mergeOut
	if strings.TrimSpace(in.Source) == "" {
		return nil, out, errors.New("source is required")
	}
	target := in.Target
	if target == "" {
		var err error
		if target, err = t.defaultBranch(ctx, req); err != nil {
			return nil, out, err
		}
	}
	strategy := in.Strategy
	if strategy == "" {
		strategy = "ff_prefer"
	}
	body := map[string]any{"source_ref": in.Source, "target_branch": target, "strategy": strategy, "squash": in.Squash}
	if in.Message != "" {
		body["commit_message"] = in.Message
	}
	if in.ExpectedTargetSHA != "" {
		body["expected_target_sha"] = in.ExpectedTargetSHA
	}
	var resp struct {
		Result       string `json:"result"`
		CommitSHA    string `json:"commit_sha"`
		MergeBaseSHA string `json:"merge_base_sha"`
		Target       struct {
			OldSHA string `json:"old_sha"`
		} `json:"target"`
	}
	if err := t.sendJSON(ctx, req, "repos/merge", body, &resp); err != nil {
		return nil, out, err
	}
	out = mergeOut{Result: resp.Result, CommitSHA: resp.CommitSHA, TargetOldSHA: resp.Target.OldSHA, MergeBaseSHA: resp.MergeBaseSHA}
	return text(fmt.Sprintf("merged %s into %s: %s; %s is now at %s (was %s)", in.Source, target, out.Result, target, out.CommitSHA, out.TargetOldSHA)), out, nil
}
