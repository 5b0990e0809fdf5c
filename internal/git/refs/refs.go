package refs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/strata-storage/strata/internal/durable"
	"github.com/strata-storage/strata/internal/git"
)

// Update is one compare-and-swap of a reference.
type Update struct {
	Ref git.ReferenceName
	// Old is the value the caller observed; git.ZeroOID means "must not exist".
	Old git.ObjectID
	// New is the value to store; git.ZeroOID deletes the ref.
	New git.ObjectID
}

// IsCreate reports whether u creates the ref.
func (u Update) IsCreate() bool { return u.Old.IsZero() && !u.New.IsZero() }

// IsDelete reports whether u deletes the ref.
func (u Update) IsDelete() bool { return u.New.IsZero() }

// MismatchError means the ref was not at the value the caller observed:
// another writer moved it first.
type MismatchError struct {
	Ref    git.ReferenceName
	Expect git.ObjectID
	Actual git.ObjectID // empty when git did not say
}

func (e *MismatchError) Error() string {
	if e.Expect.IsZero() {
		return fmt.Sprintf("reference %s already exists", e.Ref)
	}
	if e.Actual == "" {
		return fmt.Sprintf("reference %s is not at %s", e.Ref, e.Expect)
	}
	return fmt.Sprintf("reference %s is at %s but expected %s", e.Ref, e.Actual, e.Expect)
}

// LockedError means another writer held the ref's lock for longer than
// git's lock timeout.
type LockedError struct{ Ref git.ReferenceName }

func (e *LockedError) Error() string {
	return fmt.Sprintf("reference %s is locked by another writer", e.Ref)
}

// MissingObjectError means New names an object the repository lacks.
type MissingObjectError struct {
	Ref git.ReferenceName
	OID git.ObjectID
}

func (e *MissingObjectError) Error() string {
	return fmt.Sprintf("cannot point %s at missing object %s", e.Ref, e.OID)
}

// NameClashError means the ref cannot exist beside another one: git stores
// refs as paths, so refs/tags/a and refs/tags/a/b exclude each other.
type NameClashError struct {
	Ref      git.ReferenceName
	Existing git.ReferenceName // empty when git did not say
}

func (e *NameClashError) Error() string {
	if e.Existing == "" {
		return fmt.Sprintf("cannot create %s: a ref with a clashing name exists", e.Ref)
	}
	return fmt.Sprintf("cannot create %s: %s exists", e.Ref, e.Existing)
}

// ErrInvalidUpdate is a malformed update (bad ref name or object id).
var ErrInvalidUpdate = errors.New("invalid ref update")

// Updater applies ref transactions. It keeps a few idle `git update-ref
// --stdin` sessions per repository (see session.go); Close ends them.
type Updater struct {
	git     *git.Factory
	syncDir func(dir string) error // durable.SyncDir; tests watch it

	mu     sync.Mutex
	idle   map[string][]*session // by gitDir, oldest first
	nidle  int
	closed bool
}

// NewUpdater returns an Updater that runs git through f.
func NewUpdater(f *git.Factory) *Updater {
	return &Updater{git: f, idle: make(map[string][]*session), syncDir: durable.SyncDir}
}

// Apply performs all updates as one atomic transaction in the repository at
// gitDir: either every ref moves from its Old to its New value, or none
// does. Refs are durable when Apply returns nil: git syncs their values
// (core.fsync=reference) and Apply the directories naming them
// (syncRefDirs). An error wrapping ErrNotDurable means they moved but
// that last sync failed.
//
// This is the only function in Strata that changes a reference.
//
// ctx is honoured until the transaction is handed to git, not during it:
// killing git between renaming two lock files would leave half of an
// atomic transaction applied. git bounds the transaction itself by its
// lock timeouts.
func (u *Updater) Apply(ctx context.Context, gitDir string, updates ...Update) error {
	return u.ApplyWhen(ctx, gitDir, When{}, updates...)
}

// When is what ApplyWhen runs around git's commit of a transaction, so
// that the caller's own work overlaps git's instead of following it.
type When struct {
	// Prepared runs once git has locked the refs, checked the new objects
	// and written and synced the new values, while git waits; git commits
	// only after it returns nil. It is for what the refs must not be
	// committed before, such as making those objects durable. If it
	// fails, the transaction is aborted, nothing changes, and ApplyWhen
	// returns its error.
	Prepared func() error
	// Committed runs once the refs have moved, while the directories
	// naming them are synced; ApplyWhen returns when both are done. It
	// runs even if that sync then fails (the refs are visible), never if
	// the transaction failed.
	Committed func()
}

// ApplyWhen is Apply with when's steps run around git's commit. A zero
// When is Apply.
func (u *Updater) ApplyWhen(ctx context.Context, gitDir string, when When, updates ...Update) error {
	if len(updates) == 0 {
		return nil
	}
	tx, err := prepare(ctx, updates)
	if err != nil {
		return err
	}

	for attempt := 0; ; attempt++ {
		s, reused, err := u.take(gitDir)
		if err != nil {
			return fmt.Errorf("update refs: %w", err)
		}
		started, err := s.transact(tx, when.Prepared)
		var notReady *notReadyError
		if errors.As(err, &notReady) {
			s.kill() // git aborts the prepared transaction on EOF
			return notReady.err
		}
		if err == nil {
			u.put(s)
			return u.committed(gitDir, updates, when.Committed)
		}
		stderr := s.kill()
		// An idle session that died while parked (killed, or its
		// repository removed) fails before git accepted "start": nothing
		// happened, so one fresh session may try again.
		if !started && reused && attempt == 0 {
			continue
		}
		return failure(err, stderr, updates)
	}
}

// committed finishes a transaction git committed: the directories naming
// its refs are synced while the caller's next step, if any, runs.
func (u *Updater) committed(gitDir string, updates []Update, next func()) error {
	if next == nil {
		return u.syncRefDirs(gitDir, updates)
	}
	synced := make(chan error, 1)
	go func() { synced <- u.syncRefDirs(gitDir, updates) }()
	next()
	return <-synced
}

// prepare encodes updates as git-update-ref(1) transaction text, after
// which a cancelled ctx stops the caller: nothing has reached git yet.
func prepare(ctx context.Context, updates []Update) ([]byte, error) {
	tx, err := encodeTransaction(updates)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("update refs: %w", err)
	}
	return tx, nil
}

// Reflog is the reflog entry a logged transaction writes for every ref it
// moves.
type Reflog struct {
	Message string
	// Name and Email are the entry's identity; empty means git's default.
	Name, Email string
}

// ApplyLogged is Apply with a reflog entry for every ref it moves, creating
// the reflog when the ref has none. git-update-ref(1) takes the message
// once per process (-m), so each logged transaction runs in its own
// process rather than in a parked session: the same transaction text, the
// same fsync, the same typed errors, one process start more.
func (u *Updater) ApplyLogged(ctx context.Context, gitDir string, log Reflog, updates ...Update) error {
	if len(updates) == 0 {
		return nil
	}
	tx, err := prepare(ctx, updates)
	if err != nil {
		return err
	}
	u.mu.Lock()
	closed := u.closed
	u.mu.Unlock()
	if closed {
		return fmt.Errorf("update refs: %w", errClosed)
	}
	// Detached from ctx for the reason Apply gives: once git has the
	// transaction it must be allowed to finish it.
	opts := []git.Option{git.WithStdin(io.MultiReader(bytes.NewReader(tx), strings.NewReader("commit\n")))}
	if log.Name != "" {
		opts = append(opts, git.WithEnv("GIT_COMMITTER_NAME="+log.Name, "GIT_COMMITTER_EMAIL="+log.Email))
	}
	err = u.git.Run(context.WithoutCancel(ctx), gitDir,
		git.Command{Name: "update-ref", Flags: []string{"--create-reflog", "-m", log.Message, "--stdin"}},
		opts...)
	if err == nil {
		return u.syncRefDirs(gitDir, updates)
	}
	var ce *git.CommandError
	if errors.As(err, &ce) {
		return failure(ce.Err, ce.Stderr, updates)
	}
	return fmt.Errorf("update refs: %w", err)
}

// Check validates updates as Apply does before anything reaches git (ref
// names, object ids), for a ref store other than git's own: the clustered
// mode's ledger (internal/cluster).
func Check(updates []Update) error {
	_, err := encodeTransaction(updates)
	return err
}

// encodeTransaction validates updates and writes them as one update-ref
// --stdin transaction up to "prepare"; "commit" follows (session.go).
func encodeTransaction(updates []Update) ([]byte, error) {
	var in bytes.Buffer
	in.WriteString("start\n")
	for _, up := range updates {
		if err := git.CheckRefFormat(string(up.Ref)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidUpdate, err)
		}
		old, nw := up.Old, up.New
		if old == "" {
			old = git.ZeroOID
		}
		if nw == "" {
			nw = git.ZeroOID
		}
		if !git.IsFullHex(string(old)) || !git.IsFullHex(string(nw)) {
			return nil, fmt.Errorf("%w: %s %s -> %s", ErrInvalidUpdate, up.Ref, old, nw)
		}
		fmt.Fprintf(&in, "update %s %s %s\n", up.Ref, nw, old)
	}
	in.WriteString("prepare\n")
	return in.Bytes(), nil
}

// failure turns a failed transaction into the error Apply returns: typed
// when update-ref's stderr says what happened.
func failure(err error, stderr string, updates []Update) error {
	if typed := parseFailure(stderr, updates); typed != nil {
		return typed
	}
	if msg := strings.TrimSpace(stderr); msg != "" {
		return fmt.Errorf("update refs: %w: %s", err, msg)
	}
	return fmt.Errorf("update refs: %w", err)
}

var (
	reIsAt      = regexp.MustCompile(`cannot lock ref '([^']+)': is at ([0-9a-f]{40}) but expected ([0-9a-f]{40})`)
	reExists    = regexp.MustCompile(`cannot lock ref '([^']+)': reference already exists`)
	reLocked    = regexp.MustCompile(`cannot lock ref '([^']+)': Unable to create '[^']*\.lock': File exists`)
	reNoRef     = regexp.MustCompile(`cannot lock ref '([^']+)': unable to resolve reference`)
	reNoObject  = regexp.MustCompile(`trying to write ref '([^']+)' with nonexistent object ([0-9a-f]{40})`)
	reClash     = regexp.MustCompile(`cannot lock ref '([^']+)': '([^']+)' exists; cannot create '[^']+'`)
	reClashDir  = regexp.MustCompile(`cannot lock ref '([^']+)': there is a non-empty directory '[^']*' blocking reference`)
	reNonCommit = regexp.MustCompile(`trying to write non-commit object ([0-9a-f]{40}) to branch '([^']+)'`)
)

// parseFailure turns update-ref's stderr (stable: LANG=C is pinned) into a
// typed error, or nil when it does not recognise the failure.
func parseFailure(stderr string, updates []Update) error {
	expect := func(ref string) git.ObjectID {
		for _, u := range updates {
			if string(u.Ref) == ref {
				return u.Old
			}
		}
		return ""
	}
	if m := reIsAt.FindStringSubmatch(stderr); m != nil {
		return &MismatchError{Ref: git.ReferenceName(m[1]), Actual: git.ObjectID(m[2]), Expect: git.ObjectID(m[3])}
	}
	if m := reExists.FindStringSubmatch(stderr); m != nil {
		return &MismatchError{Ref: git.ReferenceName(m[1]), Expect: git.ZeroOID}
	}
	if m := reNoRef.FindStringSubmatch(stderr); m != nil {
		return &MismatchError{Ref: git.ReferenceName(m[1]), Expect: expect(m[1]), Actual: git.ZeroOID}
	}
	if m := reClash.FindStringSubmatch(stderr); m != nil {
		return &NameClashError{Ref: git.ReferenceName(m[1]), Existing: git.ReferenceName(m[2])}
	}
	if m := reClashDir.FindStringSubmatch(stderr); m != nil {
		return &NameClashError{Ref: git.ReferenceName(m[1])}
	}
	if m := reLocked.FindStringSubmatch(stderr); m != nil {
		return &LockedError{Ref: git.ReferenceName(m[1])}
	}
	if m := reNoObject.FindStringSubmatch(stderr); m != nil {
		return &MissingObjectError{Ref: git.ReferenceName(m[1]), OID: git.ObjectID(m[2])}
	}
	if m := reNonCommit.FindStringSubmatch(stderr); m != nil {
		return fmt.Errorf("%w: %s is not a commit (branch %s)", ErrInvalidUpdate, m[1], m[2])
	}
	return nil
}

// IsConcurrentUpdate reports whether err means another writer won the race
// (the caller may re-read and retry).
func IsConcurrentUpdate(err error) bool {
	var m *MismatchError
	var l *LockedError
	return errors.As(err, &m) || errors.As(err, &l)
}
