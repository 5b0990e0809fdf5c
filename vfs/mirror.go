package vfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/repo"
)

// MirrorOptions configure Backup and Restore.
type MirrorOptions struct {
	// DryRun computes the diff and changes nothing, here or there.
	DryRun bool
	// Progress, when set, receives git's progress output (with "\r"
	// line rewrites, as git writes it to a terminal).
	Progress io.Writer
}

// RefChange is one ref a mirror operation creates, updates or deletes:
// Src is its value on the side copied from ("" for a delete), Dest its
// value on the side copied to ("" for a create).
type RefChange struct{ Ref, Src, Dest string }

// MirrorDiff is what a backup or restore changes (or, dry, would change),
// each list sorted by ref.
type MirrorDiff struct{ Create, Update, Delete []RefChange }

// InSync reports whether both sides already hold the same refs.
func (d *MirrorDiff) InSync() bool { return d.Total() == 0 }

// Total is the number of refs created, updated and deleted.
func (d *MirrorDiff) Total() int {
	if d == nil {
		return 0
	}
	return len(d.Create) + len(d.Update) + len(d.Delete)
}

// Backup makes the repository at url a mirror of the store: every ref
// but HEAD (branches, tags, notes) is force-set to the store's value and
// refs only the destination has are deleted. A local destination that
// does not exist is created as a bare repository. The returned diff is
// the one computed before pushing; with opt.DryRun nothing is pushed or
// created.
func (s *Store) Backup(ctx context.Context, url string, opt MirrorOptions) (*MirrorDiff, error) {
	return backup(ctx, s.git, s.repo, url, opt)
}

// Restore makes the store a mirror of the repository at url: every ref but
// HEAD is set to the remote's value and refs only the store has are
// deleted (gitstore v0.57's semantics; later versions are additive), all
// in one ref transaction that fails, changing nothing, if a local ref
// moved after the diff was computed. HEAD is left alone. A missing remote
// is an error.
func (s *Store) Restore(ctx context.Context, url string, opt MirrorOptions) (*MirrorDiff, error) {
	log := refs.Reflog{Message: "restore: " + redact(url), Name: s.author.Name, Email: s.author.Email}
	return restore(ctx, s.git, s.repo, url, log, opt)
}

// remote is a parsed mirror destination.
type remote struct {
	url   string // what git is given
	local string // the directory, for a local path or file:// URL
}

// parseRemote accepts http(s)://, git://, ssh:// and file:// URLs and
// local paths. scp-style "host:path" is refused: git would read it as ssh
// while a reader could take it for a relative path, so it must be spelt
// ssh://.
func parseRemote(raw string) (remote, error) {
	if raw == "" {
		return remote{}, errorf(ErrInvalid, "empty repository URL")
	}
	for _, scheme := range []string{"http://", "https://", "git://", "ssh://"} {
		if strings.HasPrefix(strings.ToLower(raw), scheme) {
			return remote{url: raw}, nil
		}
	}
	if strings.HasPrefix(strings.ToLower(raw), "file://") {
		u, err := url.Parse(raw)
		if err != nil || u.Path == "" || (u.Host != "" && u.Host != "localhost") {
			return remote{}, errorf(ErrInvalid, "invalid file URL: '%s'", raw)
		}
		return remote{url: raw, local: filepath.FromSlash(u.Path)}, nil
	}
	if strings.Contains(raw, "://") {
		return remote{}, errorf(ErrInvalid, "unsupported URL scheme: '%s'", raw)
	}
	if i := strings.IndexByte(raw, ':'); i > 1 && !strings.ContainsAny(raw[:i], `/\`) {
		// One character before the colon is a Windows drive letter.
		return remote{}, errorf(ErrInvalid, "scp-style URL not supported: '%s' — use ssh:// format instead", raw)
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return remote{}, fmt.Errorf("resolve %s: %w", raw, err)
	}
	// Absolute, so git (run in the store's directory) finds the same
	// place and the path can never read as an option.
	return remote{url: abs, local: abs}, nil
}

// transportEnv lets git's transports see what a user's own git would:
// their global and system config (credential helpers, url.insteadOf,
// proxies set there), the ssh agent and the proxy variables. The Factory
// pins all of these away for the server; a Store acts for its user.
func transportEnv() []string {
	env := []string{"GIT_CONFIG_NOSYSTEM=0"}
	if home, err := os.UserHomeDir(); err == nil {
		global := filepath.Join(home, ".gitconfig")
		if xdg := os.Getenv("XDG_CONFIG_HOME"); xdg != "" {
			if _, err := os.Stat(global); err != nil {
				global = filepath.Join(xdg, "git", "config")
			}
		} else if _, err := os.Stat(global); err != nil {
			global = filepath.Join(home, ".config", "git", "config")
		}
		env = append(env, "GIT_CONFIG_GLOBAL="+global)
	}
	for _, k := range []string{"SSH_AUTH_SOCK", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT", "GIT_ASKPASS", "SSH_ASKPASS",
		"http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
		"XDG_CONFIG_HOME", "USER", "LOGNAME"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// runTransport runs a git command that talks to a remote, copying its
// stderr (progress) to progress when set. A failure carries the end of
// stderr either way.
func runTransport(ctx context.Context, f *git.Factory, gitDir string, c git.Command, progress io.Writer, opts ...git.Option) error {
	opts = append(opts, git.WithEnv(transportEnv()...))
	if progress == nil {
		return f.Run(ctx, gitDir, c, opts...)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("git %s: %w", c.Name, err)
	}
	tail := &tailBuffer{max: 8 << 10}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(io.MultiWriter(progress, tail), pr)
		_, _ = io.Copy(io.Discard, pr) // a failing Progress must not block git
	}()
	// --quiet would silence the progress asked for.
	c.Flags = append(slices.DeleteFunc(slices.Clone(c.Flags), func(f string) bool { return f == "--quiet" }), "--progress")
	p, err := f.Start(ctx, gitDir, c, append(opts, git.WithStderr(pw))...)
	pw.Close() // the child has its own copy; EOF comes when it exits
	if err != nil {
		pr.Close()
		wg.Wait()
		return err
	}
	err = p.Wait()
	wg.Wait()
	pr.Close()
	var ce *git.CommandError
	if errors.As(err, &ce) && ce.Stderr == "" {
		ce.Stderr = tail.String()
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// remoteRefs lists the remote's refs but HEAD and peeled tags.
func remoteRefs(ctx context.Context, f *git.Factory, gitDir string, rm remote) (map[string]string, error) {
	out, err := outputTransport(ctx, f, gitDir, git.Command{Name: "ls-remote", Flags: []string{"--refs"}, Args: []string{rm.url}})
	if err != nil {
		return nil, fmt.Errorf("list refs of %s: %w", redact(rm.url), err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		oid, name, ok := strings.Cut(line, "\t")
		if !ok || !git.IsFullHex(oid) || !strings.HasPrefix(name, "refs/") || strings.HasSuffix(name, "^{}") {
			continue
		}
		m[name] = oid
	}
	return m, nil
}

func outputTransport(ctx context.Context, f *git.Factory, gitDir string, c git.Command) ([]byte, error) {
	var out bytes.Buffer
	err := runTransport(ctx, f, gitDir, c, nil, git.WithStdout(&out))
	return out.Bytes(), err
}

// localRefs lists every ref of the repository at gitDir but HEAD.
func localRefs(ctx context.Context, r *repo.Repo) (map[string]string, error) {
	list, err := r.ListRefs(ctx, "refs/")
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(list))
	for _, ref := range list {
		m[string(ref.Name)] = string(ref.OID)
	}
	return m, nil
}

// diffRefs is what makes dst equal to src.
func diffRefs(src, dst map[string]string) *MirrorDiff {
	d := &MirrorDiff{}
	for ref, s := range src {
		switch t, ok := dst[ref]; {
		case !ok:
			d.Create = append(d.Create, RefChange{Ref: ref, Src: s})
		case t != s:
			d.Update = append(d.Update, RefChange{Ref: ref, Src: s, Dest: t})
		}
	}
	for ref, t := range dst {
		if _, ok := src[ref]; !ok {
			d.Delete = append(d.Delete, RefChange{Ref: ref, Dest: t})
		}
	}
	byRef := func(a, b RefChange) int { return strings.Compare(a.Ref, b.Ref) }
	slices.SortFunc(d.Create, byRef)
	slices.SortFunc(d.Update, byRef)
	slices.SortFunc(d.Delete, byRef)
	return d
}

// pushBatch bounds the refspecs of one git push: a command line has a
// size limit, and a mirror of a large repository has many refs.
const pushBatch = 1000

func backup(ctx context.Context, f *git.Factory, r *repo.Repo, rawURL string, opt MirrorOptions) (*MirrorDiff, error) {
	rm, err := parseRemote(rawURL)
	if err != nil {
		return nil, err
	}
	local, err := localRefs(ctx, r)
	if err != nil {
		return nil, err
	}
	missing := false
	if rm.local != "" {
		if _, err := os.Stat(rm.local); errors.Is(err, fs.ErrNotExist) {
			missing = true
		} else if err != nil {
			return nil, fmt.Errorf("backup to %s: %w", rm.local, err)
		}
	}
	there := map[string]string{}
	if !missing {
		if there, err = remoteRefs(ctx, f, r.Path(), rm); err != nil {
			return nil, err
		}
	}
	diff := diffRefs(local, there)
	if opt.DryRun {
		return diff, nil
	}
	if missing {
		if err := f.Run(ctx, "", git.Command{Name: "init", Flags: []string{"--bare", "--quiet"}, Args: []string{rm.local}}); err != nil {
			return nil, fmt.Errorf("create backup repository %s: %w", rm.local, err)
		}
	}
	// Push exactly the diff, each ref leased at the value the diff saw
	// there: the returned diff is then what happened, and a ref someone
	// moved on the remote meanwhile is refused rather than overwritten.
	var specs, leases []string
	add := func(c RefChange) {
		specs = append(specs, "+"+c.Src+":"+c.Ref)
		if c.Src == "" {
			specs[len(specs)-1] = ":" + c.Ref
		}
		leases = append(leases, "--force-with-lease="+c.Ref+":"+c.Dest)
	}
	for _, list := range [][]RefChange{diff.Create, diff.Update, diff.Delete} {
		for _, c := range list {
			add(c)
		}
	}
	for len(specs) > 0 {
		n := min(len(specs), pushBatch)
		var out bytes.Buffer
		err := runTransport(ctx, f, r.Path(), git.Command{
			Name:  "push",
			Flags: append([]string{"--porcelain", "--no-verify"}, leases[:n]...),
			Args:  append([]string{rm.url}, specs[:n]...),
		}, opt.Progress, git.WithStdout(&out))
		if rejected := pushRejections(out.String()); rejected != "" {
			return nil, fmt.Errorf("backup to %s: refused: %s", redact(rm.url), rejected)
		}
		if err != nil {
			return nil, fmt.Errorf("backup to %s: %w", redact(rm.url), err)
		}
		specs, leases = specs[n:], leases[n:]
	}
	return diff, nil
}

// pushRejections lists the refs git push --porcelain reports as rejected
// ("!\t<src>:<dst>\t<reason>"), with the reasons.
func pushRejections(out string) string {
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) == 3 && parts[0] == "!" {
			_, dst, _ := strings.Cut(parts[1], ":")
			bad = append(bad, dst+" ("+parts[2]+")")
		}
	}
	return strings.Join(bad, ", ")
}

func restore(ctx context.Context, f *git.Factory, r *repo.Repo, rawURL string, log refs.Reflog, opt MirrorOptions) (*MirrorDiff, error) {
	rm, err := parseRemote(rawURL)
	if err != nil {
		return nil, err
	}
	if rm.local != "" {
		if _, err := os.Stat(rm.local); err != nil {
			return nil, fmt.Errorf("restore from %s: %w", rm.local, err)
		}
	}
	if opt.DryRun {
		there, err := remoteRefs(ctx, f, r.Path(), rm)
		if err != nil {
			return nil, err
		}
		local, err := localRefs(ctx, r)
		if err != nil {
			return nil, err
		}
		return diffRefs(there, local), nil
	}
	p, err := fetchRestore(ctx, f, r, rm, opt.Progress)
	if err != nil {
		return nil, err
	}
	defer p.close()
	if err := p.apply(ctx, log); err != nil {
		return nil, err
	}
	return p.diff, nil
}

// restorePlan is a fetched restore waiting to move the store's refs.
type restorePlan struct {
	r    *repo.Repo
	q    *repo.Quarantine
	url  string
	diff *MirrorDiff
}

// fetchRestore fetches every remote ref into a quarantine (a scratch
// repository that borrows the store's objects, so the refs git fetch
// writes are the quarantine's, never the store's) and diffs what arrived
// against the store's refs. The diff is taken after the fetch, so it names
// exactly the values fetched even if the remote moved meanwhile.
func fetchRestore(ctx context.Context, f *git.Factory, r *repo.Repo, rm remote, progress io.Writer) (*restorePlan, error) {
	q, err := r.NewQuarantine(ctx)
	if err != nil {
		return nil, err
	}
	p := &restorePlan{r: r, q: q, url: redact(rm.url)}
	err = runTransport(ctx, f, q.Path(), git.Command{
		Name:  "fetch",
		Flags: []string{"--quiet", "--no-write-fetch-head", "--no-tags", "--no-auto-gc", "--no-recurse-submodules"},
		Args:  []string{rm.url, "+refs/*:refs/*"},
	}, progress, git.WithConfig("fetch.unpackLimit=1", "transfer.unpackLimit=1", "fetch.writeCommitGraph=false"))
	if err != nil {
		p.close()
		return nil, fmt.Errorf("restore from %s: %w", p.url, err)
	}
	fetched, err := q.Refs(ctx, "refs/")
	if err != nil {
		p.close()
		return nil, err
	}
	there := make(map[string]string, len(fetched))
	for _, ref := range fetched {
		there[string(ref.Name)] = string(ref.OID)
	}
	local, err := localRefs(ctx, r)
	if err != nil {
		p.close()
		return nil, err
	}
	p.diff = diffRefs(there, local)
	return p, nil
}

func (p *restorePlan) close() { _ = p.q.Close() }

// apply moves the fetched objects into the store, then every ref in one
// transaction through the one ref-update path, each compare-and-swapped
// on the value the diff saw: a ref moved locally since makes the whole
// restore fail and change no ref.
func (p *restorePlan) apply(ctx context.Context, log refs.Reflog) error {
	if p.diff.InSync() {
		return nil
	}
	if err := p.q.Migrate(); err != nil {
		return err
	}
	var updates []refs.Update
	for _, c := range p.diff.Create {
		updates = append(updates, refs.Update{Ref: git.ReferenceName(c.Ref), Old: git.ZeroOID, New: git.ObjectID(c.Src)})
	}
	for _, c := range p.diff.Update {
		updates = append(updates, refs.Update{Ref: git.ReferenceName(c.Ref), Old: git.ObjectID(c.Dest), New: git.ObjectID(c.Src)})
	}
	for _, c := range p.diff.Delete {
		updates = append(updates, refs.Update{Ref: git.ReferenceName(c.Ref), Old: git.ObjectID(c.Dest), New: git.ZeroOID})
	}
	if err := p.r.UpdateRefsLogged(ctx, log, updates...); err != nil {
		if errors.Is(err, repo.ErrConflict) {
			return fmt.Errorf("restore from %s: a local ref changed during the restore; no ref was changed: %w", p.url, err)
		}
		return fmt.Errorf("restore from %s: %w", p.url, err)
	}
	return nil
}

// redact hides a password in a URL before it reaches an error message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
