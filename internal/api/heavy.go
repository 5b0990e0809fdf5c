package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/strata-storage/strata/internal/slots"
)

// Heavy requests: grep, blame, archive and diffs run git over whole trees
// or histories, and diff-commit runs git apply, so each costs CPU and
// memory out of proportion to its request. They take a slot (one of a server-wide number, and one of their
// organisation's share, so one tenant cannot starve the others), wait for
// it at most HeavyQueueTimeout (then 503 with Retry-After), and run at most
// HeavyTimeout (then git is killed and the answer is 503 "timeout").

// defaultHeavy is the server-wide number of heavy slots: two per CPU, at
// least 4.
func defaultHeavy() int { return max(2*runtime.NumCPU(), 4) }

// heavy runs fn, the handler of operation op, in a heavy slot of the
// caller's organisation and under the heavy time limit.
func (h *Handler) heavy(op string, fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, req *request) error {
		release, err := h.heavySlots.Acquire(r.Context(), req.principal.Org, h.limits.HeavyQueueTimeout)
		if errors.Is(err, slots.ErrBusy) {
			return &httpError{status: http.StatusServiceUnavailable, label: "busy", retryAfter: retryAfter(h.limits.HeavyQueueTimeout),
				msg: fmt.Sprintf("too many heavy requests (grep, blame, archive, diff) are running; retry this %s later", op), cause: err}
		}
		if err != nil {
			return err
		}
		defer release()
		ctx, cancel := context.WithTimeout(r.Context(), h.limits.HeavyTimeout)
		defer cancel()
		err = fn(w, r.WithContext(ctx), req)
		// The deadline killed git: the request asked for more work than a
		// request may do. Not a server failure.
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil {
			return &httpError{status: http.StatusServiceUnavailable, label: "timeout",
				msg: fmt.Sprintf("%s exceeded the server's time limit of %s; narrow the request", op, h.limits.HeavyTimeout), cause: err}
		}
		return err
	}
}

// retryAfter is a Retry-After value in whole seconds, at least 1.
func retryAfter(d time.Duration) int { return max(int(d/time.Second), 1) }
