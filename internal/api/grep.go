package api

import (
	"net/http"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// Grep limits (spec §5.12; caps are Strata's).
const (
	grepDefaultMaxLines = 2000
	grepMaxMaxLines     = 2000
	grepDefaultPerFile  = 200
	grepMaxPerFile      = 2000
	grepDefaultFiles    = 200
	grepMaxFiles        = 1000
	grepMaxContext      = 100
	grepMaxResponseText = 8 << 20 // bytes of line text per page
)

type grepBody struct {
	Query struct {
		Pattern       string `json:"pattern"`
		CaseSensitive *bool  `json:"case_sensitive"`
	} `json:"query"`
	Ref         string   `json:"ref"`
	Rev         string   `json:"rev"` // legacy synonym of ref
	Ephemeral   bool     `json:"ephemeral"`
	Paths       []string `json:"paths"`
	FileFilters *struct {
		IncludeGlobs     []string `json:"include_globs"`
		ExcludeGlobs     []string `json:"exclude_globs"`
		ExtensionFilters []string `json:"extension_filters"`
	} `json:"file_filters"`
	Context *struct {
		Before *int `json:"before"`
		After  *int `json:"after"`
	} `json:"context"`
	Limits *struct {
		MaxLines          *int `json:"max_lines"`
		MaxMatchesPerFile *int `json:"max_matches_per_file"`
	} `json:"limits"`
	Pagination *struct {
		Cursor string `json:"cursor"`
		Limit  *int   `json:"limit"`
	} `json:"pagination"`
}

type grepCursor struct {
	P string `json:"p"` // the last file of the previous page
}

type grepLineJSON struct {
	LineNumber int    `json:"line_number"`
	Text       string `json:"text"`
	Type       string `json:"type"`
}

type grepFileJSON struct {
	Path  string         `json:"path"`
	Lines []grepLineJSON `json:"lines"`
}

// intOr returns *p clamped to [1, max], or def when p is nil or <= 0
// (spec Q20: clamp rather than fail).
func intOr(p *int, def, max int) int {
	if p == nil {
		return def
	}
	return clampLimit(*p, def, max)
}

// POST /api/v1/repos/grep (spec §5.12). Patterns are RE2 syntax; see
// repo.CompileGrepPattern for how git runs them.
func (h *Handler) grep(w http.ResponseWriter, r *http.Request, req *request) error {
	var body grepBody
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	if body.Query.Pattern == "" {
		return badRequest("query.pattern is required")
	}
	caseSensitive := true
	if body.Query.CaseSensitive != nil {
		caseSensitive = *body.Query.CaseSensitive
	}
	pat, err := repo.CompileGrepPattern(body.Query.Pattern, caseSensitive)
	if err != nil {
		return err
	}

	opt := repo.GrepOptions{
		MaxFiles:          grepDefaultFiles,
		MaxLines:          grepDefaultMaxLines,
		MaxMatchesPerFile: grepDefaultPerFile,
		MaxBytes:          grepMaxResponseText,
	}
	for _, p := range body.Paths {
		clean, err := git.CleanDirPath(strings.TrimSpace(p))
		if err != nil {
			return badRequest("invalid path %q: %v", p, err)
		}
		if clean != "" {
			opt.Filter.Paths = append(opt.Filter.Paths, clean)
		}
	}
	if len(body.Paths) > 0 && len(opt.Filter.Paths) == 0 {
		opt.Filter.Paths = nil // only the root: everything
	}
	if ff := body.FileFilters; ff != nil {
		opt.Filter.IncludeGlobs = ff.IncludeGlobs
		opt.Filter.ExcludeGlobs = ff.ExcludeGlobs
		opt.Filter.Extensions = ff.ExtensionFilters
	}
	if c := body.Context; c != nil {
		for _, v := range []*int{c.Before, c.After} {
			if v != nil && *v < 0 {
				return badRequest("context.before and context.after must not be negative")
			}
		}
		if c.Before != nil {
			opt.Before = min(*c.Before, grepMaxContext)
		}
		if c.After != nil {
			opt.After = min(*c.After, grepMaxContext)
		}
	}
	if l := body.Limits; l != nil {
		opt.MaxLines = intOr(l.MaxLines, grepDefaultMaxLines, grepMaxMaxLines)
		opt.MaxMatchesPerFile = intOr(l.MaxMatchesPerFile, grepDefaultPerFile, grepMaxPerFile)
	}
	if pg := body.Pagination; pg != nil {
		opt.MaxFiles = intOr(pg.Limit, grepDefaultFiles, grepMaxFiles)
		if c := strings.TrimSpace(pg.Cursor); c != "" {
			var cur grepCursor
			if err := decodeCursor(c, &cur); err != nil {
				return err
			}
			if cur.P == "" {
				return badRequest("invalid cursor")
			}
			opt.StartAfter = cur.P
		}
	}

	ref := strings.TrimSpace(body.Ref)
	if ref == "" {
		ref = strings.TrimSpace(body.Rev)
	}
	if ref == "" {
		ref = req.meta.DefaultBranch
	}
	commit, err := req.repo.ResolveCommit(r.Context(), git.NamespaceFor(body.Ephemeral), ref)
	if err != nil {
		return err
	}
	res, err := req.repo.Grep(r.Context(), commit, pat, opt)
	if err != nil {
		return err
	}
	matches := make([]grepFileJSON, 0, len(res.Files))
	for _, f := range res.Files {
		lines := make([]grepLineJSON, 0, len(f.Lines))
		for _, l := range f.Lines {
			typ := "context"
			if l.Match {
				typ = "match"
			}
			lines = append(lines, grepLineJSON{LineNumber: l.Number, Text: l.Text, Type: typ})
		}
		matches = append(matches, grepFileJSON{Path: f.Path, Lines: lines})
	}
	resp := map[string]any{
		"query":       map[string]any{"pattern": body.Query.Pattern, "case_sensitive": caseSensitive},
		"repo":        map[string]any{"ref": ref, "commit": string(commit)},
		"matches":     matches,
		"has_more":    res.More,
		"next_cursor": nil,
	}
	if res.More && len(res.Files) > 0 {
		resp["next_cursor"] = encodeCursor(grepCursor{P: res.Files[len(res.Files)-1].Path})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
