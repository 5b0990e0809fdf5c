package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"
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

// heavySlots bounds concurrent heavy requests: a global limit, and a limit
// per organisation.
type heavySlots struct {
	global chan struct{}
	perOrg int
	mu     sync.Mutex
	orgs   map[string]*orgSlots // only organisations holding or awaiting a slot
}

type orgSlots struct {
	ch    chan struct{}
	users int // holders and waiters; the entry goes when it drops to 0
}

func newHeavySlots(global, perOrg int) *heavySlots {
	return &heavySlots{global: make(chan struct{}, global), perOrg: perOrg, orgs: map[string]*orgSlots{}}
}

func (s *heavySlots) org(org string) *orgSlots {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.orgs[org]
	if o == nil {
		o = &orgSlots{ch: make(chan struct{}, s.perOrg)}
		s.orgs[org] = o
	}
	o.users++
	return o
}

func (s *heavySlots) leave(org string, o *orgSlots) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.users--; o.users == 0 {
		delete(s.orgs, org)
	}
}

// errBusy: no heavy slot came free within the queue timeout.
var errBusy = errors.New("busy")

// acquire waits up to timeout for the organisation's slot, then a global
// one.
func (s *heavySlots) acquire(ctx context.Context, org string, timeout time.Duration) (release func(), err error) {
	o := s.org(org)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case o.ch <- struct{}{}:
	case <-t.C:
		s.leave(org, o)
		return nil, fmt.Errorf("%w: organisation %q has %d heavy requests running", errBusy, org, s.perOrg)
	case <-ctx.Done():
		s.leave(org, o)
		return nil, ctx.Err()
	}
	select {
	case s.global <- struct{}{}:
	case <-t.C:
		<-o.ch
		s.leave(org, o)
		return nil, fmt.Errorf("%w: %d heavy requests running", errBusy, cap(s.global))
	case <-ctx.Done():
		<-o.ch
		s.leave(org, o)
		return nil, ctx.Err()
	}
	return func() {
		<-s.global
		<-o.ch
		s.leave(org, o)
	}, nil
}

// heavy runs fn, the handler of operation op, in a heavy slot of the
// caller's organisation and under the heavy time limit.
func (h *Handler) heavy(op string, fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, req *request) error {
		release, err := h.heavySlots.acquire(r.Context(), req.principal.Org, h.limits.HeavyQueueTimeout)
		if errors.Is(err, errBusy) {
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
