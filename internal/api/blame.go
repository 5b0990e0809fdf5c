package api

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

type blameLineJSON struct {
	LineNumber         int    `json:"line_number"`
	CommitSHA          string `json:"commit_sha"`
	OriginalLineNumber int    `json:"original_line_number"`
	OriginalPath       string `json:"original_path"`
	PreviousCommitSHA  string `json:"previous_commit_sha,omitempty"` // omitted, never null (§4.5)
	AuthorName         string `json:"author_name"`
	AuthorEmail        string `json:"author_email"`
	AuthorTime         string `json:"author_time"`
	CommitterName      string `json:"committer_name"`
	CommitterEmail     string `json:"committer_email"`
	CommitterTime      string `json:"committer_time"`
	Summary            string `json:"summary"`
}

// GET /api/v1/repos/blame (spec §5.11). The lines are streamed as git
// produces them; everything that can fail with a status (path, ref,
// ranges) is settled before the first byte.
func (h *Handler) getBlame(w http.ResponseWriter, r *http.Request, req *request) error {
	q := queryOf(r)
	rawPath := q.raw("path")
	if strings.TrimSpace(rawPath) == "" {
		return badRequest("path is required")
	}
	path, err := git.CleanPath(rawPath)
	if err != nil {
		return badRequest("invalid path: %v", err)
	}
	ranges := q.all("range")
	if len(ranges) > repo.MaxBlameRanges {
		return badRequest("at most %d ranges are allowed, got %d", repo.MaxBlameRanges, len(ranges))
	}
	for _, rg := range ranges {
		if err := repo.ValidateBlameRange(rg); err != nil {
			return err
		}
	}
	detect, err := q.boolean("detect_moves", false)
	if err != nil {
		return err
	}
	commit, ref, err := h.resolveRef(r, req)
	if err != nil {
		return err
	}
	s, err := req.repo.Blame(r.Context(), commit, path, repo.BlameOptions{Ranges: ranges, DetectMoves: detect})
	if err != nil {
		return err
	}
	defer s.Close()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	head, _ := json.Marshal(map[string]string{"ref": ref, "path": path, "commit_sha": string(commit)})
	bw.Write(head[:len(head)-1]) // reopen the object to add "lines"
	bw.WriteString(`,"lines":[`)
	n := 0
	for s.Next() {
		l := s.Line()
		if n > 0 {
			bw.WriteByte(',')
		}
		n++
		_ = enc.Encode(blameLineJSON{
			LineNumber:         l.LineNumber,
			CommitSHA:          string(l.Commit),
			OriginalLineNumber: l.OriginalLineNumber,
			OriginalPath:       l.OriginalPath,
			PreviousCommitSHA:  string(l.Previous),
			AuthorName:         l.Author.Name,
			AuthorEmail:        l.Author.Email,
			AuthorTime:         l.Author.When.Format(time.RFC3339),
			CommitterName:      l.Committer.Name,
			CommitterEmail:     l.Committer.Email,
			CommitterTime:      l.Committer.When.Format(time.RFC3339),
			Summary:            l.Summary,
		})
	}
	if err := s.Err(); err != nil {
		abortStreamedResponse(r, h, err)
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		abortStreamedResponse(r, h, err)
	}
	return nil
}

// abortStreamedResponse ends a response whose status is already sent: the
// connection is cut, so the client sees a truncated body rather than a
// well-formed lie.
func abortStreamedResponse(r *http.Request, h *Handler, err error) {
	h.log.Warn("stream aborted", "method", r.Method, "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}
