// Package slots bounds concurrent expensive work two ways at once: a
// server-wide number of slots, and a share per key (an organisation), so
// that one tenant holding or queueing for every slot cannot starve the
// others. Upload-packs and heavy REST requests (grep, blame, archive,
// diff) each have a Pool.
package slots

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrBusy is wrapped by Acquire's error when no slot came free in time.
var ErrBusy = errors.New("busy")

// Pool holds the global slots and the per-key shares.
type Pool struct {
	global chan struct{}
	perKey int
	mu     sync.Mutex
	keys   map[string]*share // only keys holding or awaiting a slot
}

type share struct {
	ch    chan struct{}
	users int // holders and waiters; the entry goes when it drops to 0
}

// New returns a Pool of global slots, of which one key may hold perKey.
func New(global, perKey int) *Pool {
	return &Pool{global: make(chan struct{}, global), perKey: perKey, keys: map[string]*share{}}
}

func (p *Pool) join(key string) *share {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.keys[key]
	if s == nil {
		s = &share{ch: make(chan struct{}, p.perKey)}
		p.keys[key] = s
	}
	s.users++
	return s
}

func (p *Pool) leave(key string, s *share) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(p.keys, key)
	}
}

// Acquire waits up to timeout for one of key's share, then for a global
// slot, and returns the function that gives both back. The error wraps
// ErrBusy on timeout, or is ctx's.
func (p *Pool) Acquire(ctx context.Context, key string, timeout time.Duration) (release func(), err error) {
	s := p.join(key)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
	case <-t.C:
		p.leave(key, s)
		return nil, fmt.Errorf("%w: %q holds its %d slots after %s", ErrBusy, key, p.perKey, timeout)
	case <-ctx.Done():
		p.leave(key, s)
		return nil, ctx.Err()
	}
	select {
	case p.global <- struct{}{}:
	case <-t.C:
		<-s.ch
		p.leave(key, s)
		return nil, fmt.Errorf("%w: all %d slots in use after %s", ErrBusy, cap(p.global), timeout)
	case <-ctx.Done():
		<-s.ch
		p.leave(key, s)
		return nil, ctx.Err()
	}
	return func() {
		<-p.global
		<-s.ch
		p.leave(key, s)
	}, nil
}

// InUse is the number of global slots held.
func (p *Pool) InUse() int { return len(p.global) }

// tracked is the number of keys holding or awaiting a slot.
func (p *Pool) tracked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.keys)
}
