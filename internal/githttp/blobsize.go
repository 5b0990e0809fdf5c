package githttp

import (
	"context"
	"errors"

	"github.com/strata-storage/strata/internal/repo"
)

// checkBlobSizes refuses an update whose new objects hold a blob over the
// server's maximum blob size (repo.Repo.CheckPushedBlobs): receive-pack's
// receive.maxInputSize bounds only the compressed pack, and one small pack
// can inflate to a blob that costs gigabytes on every later grep or blame.
// It returns the refusal reason, "" to go on; a failed check refuses
// (fail closed).
func (s *pushSession) checkBlobSizes(ctx context.Context, c pushCommand, out *bandWriter) string {
	if c.New.IsZero() {
		return ""
	}
	err := s.req.repo.CheckPushedBlobs(ctx, c.New)
	var tl *repo.TooLargeError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &tl):
		out.message("%s", tl)
		return tl.Error()
	case ctx.Err() != nil:
		return "push cancelled"
	}
	s.h.log.Error("push: check blob sizes", "repo", s.req.meta.ID, "ref", c.Ref, "err", err)
	return "blob sizes could not be checked"
}
