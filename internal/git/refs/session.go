package refs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/git"
)

// A session is a long-lived `git update-ref --stdin` that runs one
// transaction after another ("start", updates, "prepare", "commit"; git
// answers "<command>: ok" to each). Starting git costs more than the
// transaction: measured here, 5.6 ms p50 for a process per update against
// 1.8 ms for a transaction in a running session, ref fsync included. Any
// failure makes update-ref die, so a session that failed is never reused.
//
// Sessions stay correct across other writers because git re-reads what it
// locks: loose refs are read after taking their lock, the packed-refs
// snapshot is re-validated by stat, and a missing object triggers a
// re-scan of the pack directory.
type session struct {
	gitDir string
	proc   *git.Process
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *os.File // read end of git's stderr, read once it has died
	uses   int
	timer  *time.Timer // idle expiry, while parked
}

const (
	// maxIdlePerRepo covers that many writers of one repository at once
	// (as catfile.DefaultMaxIdlePerRepo does readers); each writer beyond
	// it starts a git and throws it away (docs/benchmarks.md, finding 5,
	// round 5).
	maxIdlePerRepo = 8
	maxIdle        = 64
	idleTimeout    = 30 * time.Second
	// maxUses retires a session: git keeps every object it parsed for
	// the life of the process.
	maxUses = 1000
)

var errClosed = errors.New("ref updater closed")

func (u *Updater) start(gitDir string) (*session, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	// Not tied to a request's context (see Apply); ended by kill.
	// core.warnAmbiguousRefs=false: the transaction names objects by full
	// id, which git would otherwise look for as ref names too (a dozen
	// stats per update) only to warn about.
	p, err := u.git.Start(context.Background(), gitDir,
		git.Command{Name: "update-ref", Flags: []string{"--stdin"}},
		git.WithConfig("core.warnAmbiguousRefs=false"),
		git.WithStdinPipe(), git.WithStdoutPipe(), git.WithStderr(w))
	w.Close() // the child has its copy; EOF on r means git exited
	if err != nil {
		r.Close()
		return nil, err
	}
	return &session{gitDir: gitDir, proc: p, stdin: p.Stdin, stdout: bufio.NewReader(p.Stdout), stderr: r}, nil
}

// transact sends one transaction (tx: from "start" to "prepare") and
// reads git's acknowledgements. Without ready, "commit" goes in the same
// write; with it, "commit" is sent once git has prepared and ready has
// returned nil, and a failed ready comes back as a *notReadyError with the
// transaction still prepared (the caller kills the session, which aborts
// it). started reports whether git got as far as accepting "start".
func (s *session) transact(tx []byte, ready func() error) (started bool, err error) {
	s.uses++
	if ready == nil {
		tx = append(tx[:len(tx):len(tx)], "commit\n"...)
	}
	if _, err := s.stdin.Write(tx); err != nil {
		return false, fmt.Errorf("git update-ref: %w", err)
	}
	if err := s.expect("start: ok"); err != nil {
		return false, err
	}
	if err := s.expect("prepare: ok"); err != nil {
		return true, err
	}
	if ready != nil {
		if err := ready(); err != nil {
			return true, &notReadyError{err}
		}
		if _, err := io.WriteString(s.stdin, "commit\n"); err != nil {
			return true, fmt.Errorf("git update-ref: %w", err)
		}
	}
	if err := s.expect("commit: ok"); err != nil {
		return true, err
	}
	s.drainStderr()
	return true, nil
}

// expect reads git's next acknowledgement, which must be want.
func (s *session) expect(want string) error {
	line, err := s.stdout.ReadString('\n')
	if err != nil {
		return fmt.Errorf("git update-ref exited before %q", want)
	}
	if strings.TrimSuffix(line, "\n") != want {
		return fmt.Errorf("git update-ref: unexpected reply %q, want %q", line, want)
	}
	return nil
}

// notReadyError is the error of ApplyWhen's ready.
type notReadyError struct{ err error }

func (e *notReadyError) Error() string { return e.err.Error() }

// drainStderr discards warnings git printed during a successful
// transaction, so that the pipe can never fill and block it.
func (s *session) drainStderr() {
	if s.stderr.SetReadDeadline(time.Now()) != nil {
		return
	}
	var buf [4096]byte
	for {
		if n, err := s.stderr.Read(buf[:]); n == 0 || err != nil {
			return
		}
	}
}

// kill ends the session and returns what git wrote to stderr (bounded).
func (s *session) kill() string {
	s.stdin.Close() // git aborts an uncommitted transaction on EOF
	_ = s.stderr.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, _ := io.ReadAll(io.LimitReader(s.stderr, 16<<10))
	s.stderr.Close()
	_ = s.proc.Wait()
	return string(msg)
}

// take returns a parked session for gitDir, or starts one.
func (u *Updater) take(gitDir string) (s *session, reused bool, err error) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, false, errClosed
	}
	if list := u.idle[gitDir]; len(list) > 0 {
		s = list[len(list)-1]
		u.removeLocked(s)
		u.mu.Unlock()
		s.timer.Stop()
		return s, true, nil
	}
	u.mu.Unlock()
	s, err = u.start(gitDir)
	return s, false, err
}

// put parks s for reuse, ending whatever that pushes over the limits.
func (u *Updater) put(s *session) {
	var evict []*session
	u.mu.Lock()
	if u.closed || s.uses >= maxUses {
		u.mu.Unlock()
		s.kill()
		return
	}
	u.idle[s.gitDir] = append(u.idle[s.gitDir], s)
	u.nidle++
	if list := u.idle[s.gitDir]; len(list) > maxIdlePerRepo {
		evict = append(evict, list[0])
		u.removeLocked(list[0])
	}
	for u.nidle > maxIdle {
		victim := u.anyIdleLocked()
		evict = append(evict, victim)
		u.removeLocked(victim)
	}
	s.timer = time.AfterFunc(idleTimeout, func() { u.expire(s) })
	u.mu.Unlock()
	for _, v := range evict {
		v.timer.Stop()
		v.kill()
	}
}

// expire ends s if it is still parked.
func (u *Updater) expire(s *session) {
	u.mu.Lock()
	parked := u.removeLocked(s)
	u.mu.Unlock()
	if parked {
		s.kill()
	}
}

// Forget ends the parked sessions of gitDir, before its repository is
// removed: a session keeps the removed repository's packs open.
func (u *Updater) Forget(gitDir string) {
	u.mu.Lock()
	list := append([]*session(nil), u.idle[gitDir]...)
	for _, s := range list {
		u.removeLocked(s)
	}
	u.mu.Unlock()
	for _, s := range list {
		s.timer.Stop()
		s.kill()
	}
}

// Close ends every parked session; Apply fails afterwards.
func (u *Updater) Close() {
	u.mu.Lock()
	u.closed = true
	var all []*session
	for _, list := range u.idle {
		all = append(all, list...)
	}
	u.idle = make(map[string][]*session)
	u.nidle = 0
	u.mu.Unlock()
	for _, s := range all {
		s.timer.Stop()
		s.kill()
	}
}

// removeLocked unparks s; false when it was not parked.
func (u *Updater) removeLocked(s *session) bool {
	list := u.idle[s.gitDir]
	for i, x := range list {
		if x == s {
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				delete(u.idle, s.gitDir)
			} else {
				u.idle[s.gitDir] = list
			}
			u.nidle--
			return true
		}
	}
	return false
}

// anyIdleLocked picks a parked session to end when too many are parked:
// the oldest of some repository.
func (u *Updater) anyIdleLocked() *session {
	for _, list := range u.idle {
		return list[0]
	}
	return nil
}
