package mcp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func (t *tools) register(s *sdk.Server) {
	readOnly := &sdk.ToolAnnotations{ReadOnlyHint: true}
	sdk.AddTool(s, &sdk.Tool{Name: "list_repositories", Annotations: readOnly,
		Description: "List the repositories of the token's organisation, oldest first. Needs a token with the org:read scope. Paginated: pass next_cursor back as cursor."}, t.listRepositories)
	sdk.AddTool(s, &sdk.Tool{Name: "list_branches", Annotations: readOnly,
		Description: "List the repository's branches with their head commit SHAs, in creation order. Paginated: pass next_cursor back as cursor."}, t.listBranches)
	sdk.AddTool(s, &sdk.Tool{Name: "list_files", Annotations: readOnly,
		Description: "List the files and directories of the repository at a ref (a tree listing), optionally below a directory and optionally not recursive. Paginated: pass next_cursor back as cursor."}, t.listFiles)
	sdk.AddTool(s, &sdk.Tool{Name: "read_file", Annotations: readOnly,
		Description: "Read a text file at a ref. Returns a window of lines (start_line, max_lines); a longer file ends with a truncation marker naming the start_line to continue from. Binary files are described, not shown."}, t.readFile)
	sdk.AddTool(s, &sdk.Tool{Name: "search", Annotations: readOnly,
		Description: "Search file contents at a ref with a regular expression (RE2 syntax, like git grep). Returns matching lines (and context lines when asked) grouped by file. Paginated by files: pass next_cursor back as cursor."}, t.search)
	sdk.AddTool(s, &sdk.Tool{Name: "list_commits", Annotations: readOnly,
		Description: "List commits reachable from a ref, newest first, optionally only those touching a path. Paginated: pass next_cursor back as cursor."}, t.listCommits)
	sdk.AddTool(s, &sdk.Tool{Name: "get_diff", Annotations: readOnly,
		Description: "Get a diff as a unified patch: of one commit against its first parent, or between two refs (from base to ref). Returns the changed files with their line counts and a window of the patch (start_line, max_lines); a longer patch ends with a truncation marker."}, t.getDiff)
	t.registerWrites(s)
}

// ---- list_repositories

type listReposIn struct {
	Query  string `json:"query,omitempty" jsonschema:"only repositories whose id contains this text (case-insensitive)"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	Limit  int    `json:"limit,omitempty" jsonschema:"page size, default 20, at most 100"`
}

type repoOut struct {
	ID            string `json:"repo_id"`
	DefaultBranch string `json:"default_branch"`
	CreatedAt     string `json:"created_at"`
}

type listReposOut struct {
	Repos      []repoOut `json:"repos"`
	HasMore    bool      `json:"has_more"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

func (t *tools) listRepositories(ctx context.Context, req *sdk.CallToolRequest, in listReposIn) (*sdk.CallToolResult, listReposOut, error) {
	var out listReposOut
	var resp struct {
		Repos      []repoOut `json:"repos"`
		HasMore    bool      `json:"has_more"`
		NextCursor *string   `json:"next_cursor"`
	}
	if err := t.getJSON(ctx, req, "repos", query{"q", in.Query, "cursor", in.Cursor, "limit", itoa(in.Limit)}, &resp); err != nil {
		return nil, out, err
	}
	out = listReposOut{Repos: resp.Repos, HasMore: resp.HasMore, NextCursor: deref(resp.NextCursor)}
	return text(listText(out.Repos, "no repositories\n", out.HasMore, out.NextCursor, func(b *strings.Builder, r repoOut) {
		fmt.Fprintf(b, "%s (default branch %s, created %s)\n", r.ID, r.DefaultBranch, r.CreatedAt)
	})), out, nil
}

// ---- list_branches

type listBranchesIn struct {
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	Limit  int    `json:"limit,omitempty" jsonschema:"page size, default 20"`
}

type branchOut struct {
	Name      string `json:"name"`
	HeadSHA   string `json:"head_sha"`
	CreatedAt string `json:"created_at"`
}

type listBranchesOut struct {
	Branches   []branchOut `json:"branches"`
	HasMore    bool        `json:"has_more"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (t *tools) listBranches(ctx context.Context, req *sdk.CallToolRequest, in listBranchesIn) (*sdk.CallToolResult, listBranchesOut, error) {
	var out listBranchesOut
	var resp struct {
		Branches   []branchOut `json:"branches"`
		HasMore    bool        `json:"has_more"`
		NextCursor *string     `json:"next_cursor"`
	}
	if err := t.getJSON(ctx, req, "repos/branches", query{"cursor", in.Cursor, "limit", itoa(in.Limit)}, &resp); err != nil {
		return nil, out, err
	}
	out = listBranchesOut{Branches: resp.Branches, HasMore: resp.HasMore, NextCursor: deref(resp.NextCursor)}
	return text(listText(out.Branches, "no branches\n", out.HasMore, out.NextCursor, func(b *strings.Builder, br branchOut) {
		fmt.Fprintf(b, "%s %s\n", br.HeadSHA, br.Name)
	})), out, nil
}

// ---- list_files

type listFilesIn struct {
	Ref          string `json:"ref,omitempty" jsonschema:"branch, tag or commit SHA; default: the default branch"`
	Path         string `json:"path,omitempty" jsonschema:"directory to list below; default: the root"`
	NonRecursive bool   `json:"non_recursive,omitempty" jsonschema:"list only the direct children of path"`
	Cursor       string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	Limit        int    `json:"limit,omitempty" jsonschema:"page size, default 500, at most 2000"`
}

type fileEntry struct {
	Path string `json:"path"`
	Type string `json:"type" jsonschema:"blob, tree, symlink or submodule"`
	Mode string `json:"mode"`
}

type listFilesOut struct {
	Ref        string      `json:"ref"`
	Entries    []fileEntry `json:"entries"`
	HasMore    bool        `json:"has_more"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (t *tools) listFiles(ctx context.Context, req *sdk.CallToolRequest, in listFilesIn) (*sdk.CallToolResult, listFilesOut, error) {
	var out listFilesOut
	var resp struct {
		Ref        string      `json:"ref"`
		Entries    []fileEntry `json:"entries"`
		HasMore    bool        `json:"has_more"`
		NextCursor *string     `json:"next_cursor"`
	}
	recursive := ""
	if in.NonRecursive {
		recursive = "false"
	}
	// Always paginated: the API's unpaginated mode lists a whole tree.
	q := query{"ref", in.Ref, "path", in.Path, "recursive", recursive, "cursor", in.Cursor, "limit", strconv.Itoa(clamp(in.Limit, 500, 2000))}
	if err := t.getJSON(ctx, req, "repos/files", q, &resp); err != nil {
		return nil, out, err
	}
	out = listFilesOut{Ref: resp.Ref, Entries: resp.Entries, HasMore: resp.HasMore, NextCursor: deref(resp.NextCursor)}
	return text(listText(out.Entries, "no files\n", out.HasMore, out.NextCursor, func(b *strings.Builder, e fileEntry) {
		b.WriteString(e.Path)
		switch e.Type {
		case "tree":
			b.WriteString("/")
		case "symlink", "submodule":
			b.WriteString(" (" + e.Type + ")")
		}
		b.WriteByte('\n')
	})), out, nil
}

// ---- read_file

type readFileIn struct {
	Path      string `json:"path" jsonschema:"repository-relative file path, e.g. src/main.go"`
	Ref       string `json:"ref,omitempty" jsonschema:"branch, tag or commit SHA; default: the default branch"`
	StartLine int    `json:"start_line,omitempty" jsonschema:"first line to return (1-based), default 1"`
	MaxLines  int    `json:"max_lines,omitempty" jsonschema:"most lines to return, default 500, at most 5000"`
}

type readFileOut struct {
	Path          string `json:"path"`
	BlobSHA       string `json:"blob_sha,omitempty"`
	Size          int64  `json:"size" jsonschema:"the file's size in bytes"`
	Binary        bool   `json:"binary"`
	StartLine     int    `json:"start_line"`
	EndLine       int    `json:"end_line" jsonschema:"last line returned; start_line-1 when none"`
	TotalLines    int    `json:"total_lines,omitempty" jsonschema:"lines in the file, when counted"`
	Content       string `json:"content"`
	Truncated     bool   `json:"truncated"`
	NextStartLine int    `json:"next_start_line,omitempty" jsonschema:"start_line of the next window when truncated"`
}

// maxCount bounds how far past the window read_file reads only to count
// the remaining lines.
const maxCount = 32 << 20

func (t *tools) readFile(ctx context.Context, req *sdk.CallToolRequest, in readFileIn) (*sdk.CallToolResult, readFileOut, error) {
	out := readFileOut{Path: in.Path, StartLine: max(in.StartLine, 1)}
	if strings.TrimSpace(in.Path) == "" {
		return nil, out, errors.New("path is required")
	}
	maxLines := clamp(in.MaxLines, 500, 5000)
	resp, err := t.api.call(ctx, t.authorization(req), http.MethodGet, "repos/file", query{"path", in.Path, "ref", in.Ref}.values(), nil, "")
	if err != nil {
		return nil, out, err
	}
	// Closing early stops the API streaming the rest of a large blob.
	defer resp.Body.Close()
	out.BlobSHA = resp.Header.Get("X-Blob-Sha")
	out.Size, _ = strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	head, _ := br.Peek(8000)
	if bytes.IndexByte(head, 0) >= 0 {
		out.Binary = true
		out.EndLine = out.StartLine - 1
		return text(fmt.Sprintf("%s is a binary file (%d bytes, blob %s); not shown.", in.Path, out.Size, out.BlobSHA)), out, nil
	}
	var b strings.Builder
	line, scanned := 0, 0
	out.EndLine = out.StartLine - 1
	for {
		l, n, err := readLine(br, maxLineBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, out, err
		}
		if n == 0 { // the end
			out.TotalLines = line
			break
		}
		line++
		if line >= out.StartLine && !out.Truncated {
			if line-out.StartLine < maxLines && (b.Len()+len(l) < maxTextBytes || line == out.StartLine) {
				b.WriteString(l)
				b.WriteByte('\n')
				out.EndLine = line
			} else {
				out.Truncated = true
			}
		}
		if out.Truncated {
			// Read on only to count what is left, and not too far.
			if scanned += n; scanned > maxCount {
				break
			}
		}
		if err != nil { // a last line without a newline
			out.TotalLines = line
			break
		}
	}
	out.Content = b.String()
	txt := out.Content
	if out.Truncated {
		out.NextStartLine = out.EndLine + 1
		if out.TotalLines > 0 {
			txt += truncatedMarker(out.TotalLines-out.EndLine, out.NextStartLine)
		} else {
			txt += fmt.Sprintf("… [truncated: more lines follow (%d bytes in all); call again with start_line=%d]", out.Size, out.NextStartLine)
		}
	}
	switch {
	case out.TotalLines == 0 && !out.Truncated:
		txt = fmt.Sprintf("[%s is empty]", in.Path)
	case out.EndLine < out.StartLine && !out.Truncated:
		txt = fmt.Sprintf("[%s has %d lines; nothing from start_line=%d]", in.Path, out.TotalLines, out.StartLine)
	}
	return text(txt), out, nil
}

// readLine reads one line without its newline, keeping at most keep
// bytes of it (the cut is marked), so a huge single-line file costs
// memory for keep bytes only; n counts every byte consumed (0 at the
// end). A last line without a newline comes with io.EOF.
func readLine(br *bufio.Reader, keep int) (string, int, error) {
	var buf []byte
	n := 0
	for {
		frag, err := br.ReadSlice('\n')
		n += len(frag)
		if room := keep + 2 - len(buf); room > 0 {
			buf = append(buf, frag[:min(len(frag), room)]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		length := n
		if err == nil {
			length-- // the newline
		}
		if length <= keep {
			return string(buf[:length]), n, err
		}
		cut := keep
		for cut > 0 && !utf8.RuneStart(buf[cut]) {
			cut--
		}
		return string(buf[:cut]) + fmt.Sprintf("… [line truncated: %d more bytes]", length-cut), n, err
	}
}

// ---- search

type searchIn struct {
	Pattern       string   `json:"pattern" jsonschema:"regular expression (RE2 syntax)"`
	Ref           string   `json:"ref,omitempty" jsonschema:"branch, tag or commit SHA; default: the default branch"`
	Paths         []string `json:"paths,omitempty" jsonschema:"directories or files to search within; default: everything"`
	CaseSensitive *bool    `json:"case_sensitive,omitempty" jsonschema:"default true"`
	ContextLines  int      `json:"context_lines,omitempty" jsonschema:"lines of context around each match, default 0"`
	Cursor        string   `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	Limit         int      `json:"limit,omitempty" jsonschema:"most files per page, default 50"`
	MaxLines      int      `json:"max_lines,omitempty" jsonschema:"most lines (matches and context) per page, default 200"`
}

type searchLine struct {
	Line  int    `json:"line"`
	Text  string `json:"text"`
	Match bool   `json:"match" jsonschema:"false for a context line"`
}

type searchFile struct {
	Path  string       `json:"path"`
	Lines []searchLine `json:"lines"`
}

type searchOut struct {
	Ref        string       `json:"ref"`
	Commit     string       `json:"commit"`
	Files      []searchFile `json:"files"`
	HasMore    bool         `json:"has_more"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func (t *tools) search(ctx context.Context, req *sdk.CallToolRequest, in searchIn) (*sdk.CallToolResult, searchOut, error) {
	var out searchOut
	body := map[string]any{
		"query": map[string]any{"pattern": in.Pattern},
		"limits": map[string]any{
			"max_lines": clamp(in.MaxLines, 200, 2000),
		},
		"pagination": map[string]any{"cursor": in.Cursor, "limit": clamp(in.Limit, 50, 500)},
	}
	if in.CaseSensitive != nil {
		body["query"].(map[string]any)["case_sensitive"] = *in.CaseSensitive
	}
	if in.Ref != "" {
		body["ref"] = in.Ref
	}
	if len(in.Paths) > 0 {
		body["paths"] = in.Paths
	}
	if in.ContextLines > 0 {
		body["context"] = map[string]any{"before": in.ContextLines, "after": in.ContextLines}
	}
	var resp struct {
		Repo struct {
			Ref    string `json:"ref"`
			Commit string `json:"commit"`
		} `json:"repo"`
		Matches []struct {
			Path  string `json:"path"`
			Lines []struct {
				LineNumber int    `json:"line_number"`
				Text       string `json:"text"`
				Type       string `json:"type"`
			} `json:"lines"`
		} `json:"matches"`
		HasMore    bool    `json:"has_more"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := t.sendJSON(ctx, req, "repos/grep", body, &resp); err != nil {
		return nil, out, err
	}
	out = searchOut{Ref: resp.Repo.Ref, Commit: resp.Repo.Commit, HasMore: resp.HasMore, NextCursor: deref(resp.NextCursor)}
	var b strings.Builder
	for _, m := range resp.Matches {
		f := searchFile{Path: m.Path}
		for _, l := range m.Lines {
			txt := clip(l.Text, maxLineBytes)
			f.Lines = append(f.Lines, searchLine{Line: l.LineNumber, Text: txt, Match: l.Type == "match"})
			// grep's own convention: ':' after a match, '-' after context.
			sep := "-"
			if l.Type == "match" {
				sep = ":"
			}
			fmt.Fprintf(&b, "%s%s%d%s%s\n", m.Path, sep, l.LineNumber, sep, txt)
		}
		out.Files = append(out.Files, f)
	}
	if len(out.Files) == 0 {
		fmt.Fprintf(&b, "no matches at %s (%s)\n", out.Ref, out.Commit)
	}
	if out.HasMore && out.NextCursor != "" {
		b.WriteString(moreMarker(out.NextCursor))
	}
	return text(b.String()), out, nil
}

// ---- list_commits

type listCommitsIn struct {
	Ref    string `json:"ref,omitempty" jsonschema:"branch, tag or commit SHA to start from; default: the default branch"`
	Path   string `json:"path,omitempty" jsonschema:"only commits touching this file or directory"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
	Limit  int    `json:"limit,omitempty" jsonschema:"page size, default 20, at most 100"`
}

type commitOut struct {
	SHA         string   `json:"sha"`
	ParentSHAs  []string `json:"parent_shas"`
	Message     string   `json:"message"`
	AuthorName  string   `json:"author_name"`
	AuthorEmail string   `json:"author_email"`
	Date        string   `json:"date"`
}

type listCommitsOut struct {
	Commits    []commitOut `json:"commits"`
	HasMore    bool        `json:"has_more"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (t *tools) listCommits(ctx context.Context, req *sdk.CallToolRequest, in listCommitsIn) (*sdk.CallToolResult, listCommitsOut, error) {
	var out listCommitsOut
	var resp struct {
		Commits    []commitOut `json:"commits"`
		HasMore    bool        `json:"has_more"`
		NextCursor *string     `json:"next_cursor"`
	}
	if err := t.getJSON(ctx, req, "repos/commits", query{"ref", in.Ref, "path", in.Path, "cursor", in.Cursor, "limit", itoa(in.Limit)}, &resp); err != nil {
		return nil, out, err
	}
	out = listCommitsOut{HasMore: resp.HasMore, NextCursor: deref(resp.NextCursor)}
	var b strings.Builder
	if len(resp.Commits) == 0 {
		b.WriteString("no commits\n")
	}
	for _, c := range resp.Commits {
		// Whole messages can be long; the structured part keeps them
		// within the text budget too.
		c.Message = clip(c.Message, 8<<10)
		subject, _, _ := strings.Cut(c.Message, "\n")
		fmt.Fprintf(&b, "%s %s %s <%s> %s\n", c.SHA, c.Date, c.AuthorName, c.AuthorEmail, subject)
		out.Commits = append(out.Commits, c)
	}
	if out.HasMore && out.NextCursor != "" {
		b.WriteString(moreMarker(out.NextCursor))
	}
	return text(b.String()), out, nil
}

// ---- get_diff

type getDiffIn struct {
	Ref       string   `json:"ref" jsonschema:"the commit, branch or tag to diff"`
	Base      string   `json:"base,omitempty" jsonschema:"diff from this ref to ref; default: ref's first parent (the commit's own changes)"`
	Paths     []string `json:"paths,omitempty" jsonschema:"only these files or directories"`
	StartLine int      `json:"start_line,omitempty" jsonschema:"first patch line to return (1-based), default 1"`
	MaxLines  int      `json:"max_lines,omitempty" jsonschema:"most patch lines to return, default 1000, at most 5000"`
}

type diffFile struct {
	Path      string `json:"path"`
	OldPath   string `json:"old_path,omitempty"`
	State     string `json:"state" jsonschema:"git status letter: A, M, D, R, C, T"`
	Additions int    `json:"additions"`
	Deletions int    `json:"deletions"`
	Omitted   bool   `json:"omitted,omitempty" jsonschema:"binary or too large: no patch"`
}

type getDiffOut struct {
	SHA           string     `json:"sha"`
	BaseSHA       string     `json:"base_sha"`
	MergeBaseSHA  string     `json:"merge_base_sha,omitempty"`
	Files         []diffFile `json:"files"`
	Additions     int        `json:"additions"`
	Deletions     int        `json:"deletions"`
	Patch         string     `json:"patch" jsonschema:"the window of the unified patch"`
	StartLine     int        `json:"start_line"`
	EndLine       int        `json:"end_line"`
	TotalLines    int        `json:"total_lines"`
	Truncated     bool       `json:"truncated"`
	NextStartLine int        `json:"next_start_line,omitempty"`
}

func (t *tools) getDiff(ctx context.Context, req *sdk.CallToolRequest, in getDiffIn) (*sdk.CallToolResult, getDiffOut, error) {
	var out getDiffOut
	if strings.TrimSpace(in.Ref) == "" {
		return nil, out, errors.New("ref is required")
	}
	q := query{"ref", in.Ref, "base_ref", in.Base}
	for _, p := range in.Paths {
		q = append(q, "path", p)
	}
	type entry struct {
		Path      string  `json:"path"`
		OldPath   *string `json:"old_path"`
		State     string  `json:"state"`
		Raw       string  `json:"raw"`
		Additions int     `json:"additions"`
		Deletions int     `json:"deletions"`
	}
	var resp struct {
		SHA          string  `json:"sha"`
		BaseSHA      string  `json:"base_sha"`
		MergeBaseSHA string  `json:"merge_base_sha"`
		Files        []entry `json:"files"`
		Filtered     []entry `json:"filtered_files"`
		Stats        struct {
			Additions int `json:"additions"`
			Deletions int `json:"deletions"`
		} `json:"stats"`
	}
	if err := t.getJSON(ctx, req, "repos/diff", q, &resp); err != nil {
		return nil, out, err
	}
	out = getDiffOut{SHA: resp.SHA, BaseSHA: resp.BaseSHA, MergeBaseSHA: resp.MergeBaseSHA,
		Additions: resp.Stats.Additions, Deletions: resp.Stats.Deletions, StartLine: max(in.StartLine, 1)}
	var patch strings.Builder
	for _, f := range resp.Files {
		out.Files = append(out.Files, diffFile{Path: f.Path, OldPath: deref(f.OldPath), State: f.State, Additions: f.Additions, Deletions: f.Deletions})
		patch.WriteString(f.Raw)
		if !strings.HasSuffix(f.Raw, "\n") && f.Raw != "" {
			patch.WriteByte('\n')
		}
	}
	for _, f := range resp.Filtered {
		out.Files = append(out.Files, diffFile{Path: f.Path, OldPath: deref(f.OldPath), State: f.State, Omitted: true})
	}
	lines := splitLines(patch.String())
	out.TotalLines = len(lines)
	var more bool
	out.Patch, out.EndLine, more = lineWindow(lines, out.StartLine, clamp(in.MaxLines, 1000, 5000))
	var b strings.Builder
	base := out.BaseSHA
	if base == "" {
		base = "(empty tree)"
	}
	fmt.Fprintf(&b, "diff %s..%s: changed files %d, +%d -%d\n", base, out.SHA, len(out.Files), out.Additions, out.Deletions)
	for _, f := range out.Files {
		switch {
		case f.Omitted:
			fmt.Fprintf(&b, "  %s %s (binary or too large, no patch)\n", f.State, f.Path)
		case f.OldPath != "" && f.OldPath != f.Path:
			fmt.Fprintf(&b, "  %s %s -> %s +%d -%d\n", f.State, f.OldPath, f.Path, f.Additions, f.Deletions)
		default:
			fmt.Fprintf(&b, "  %s %s +%d -%d\n", f.State, f.Path, f.Additions, f.Deletions)
		}
	}
	b.WriteByte('\n')
	b.WriteString(out.Patch)
	if more {
		out.Truncated = true
		out.NextStartLine = out.EndLine + 1
		b.WriteString(truncatedMarker(out.TotalLines-out.EndLine, out.NextStartLine))
	}
	return text(b.String()), out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
