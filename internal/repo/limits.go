package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
)

// DefaultMaxBlobBytes caps blobs when Limits.MaxBlobBytes is zero.
const DefaultMaxBlobBytes = 100 << 20

// Limits bound what one operation may write or load. The zero value takes
// the defaults.
type Limits struct {
	// MaxBlobBytes caps the inflated size of a blob written by a push,
	// commit-pack or patch, and of a blob grep, blame or git apply loads:
	// git holds such blobs whole in memory, so a small, well-compressed
	// upload could otherwise cost gigabytes on every later read.
	MaxBlobBytes int64
	// GrepMatchLimit is PCRE2's match limit per line ((*LIMIT_MATCH=n));
	// 0 keeps PCRE2's default (10,000,000).
	GrepMatchLimit int
}

// SetLimits sets the limits of every repository m opens. Call it before
// serving.
func (m *Manager) SetLimits(l Limits) { m.limits = l }

// SetLimits sets r's limits (a Repo from OpenDir starts with the defaults).
func (r *Repo) SetLimits(l Limits) { r.limits = l }

func (r *Repo) maxBlob() int64 {
	if r.limits.MaxBlobBytes > 0 {
		return r.limits.MaxBlobBytes
	}
	return DefaultMaxBlobBytes
}

// ErrTooLarge: a blob exceeds Limits.MaxBlobBytes.
var ErrTooLarge = errors.New("too large")

// TooLargeError is a blob over the size cap: refused when written
// (Write), or not loaded for a read.
type TooLargeError struct {
	Path  string // "" when unknown (a push)
	OID   git.ObjectID
	Size  int64 // 0 when unknown
	Max   int64
	Write bool
}

func (e *TooLargeError) Error() string {
	what := "blob " + string(e.OID)
	if e.Path != "" {
		what = "file " + e.Path
	}
	size := ""
	if e.Size > 0 {
		size = fmt.Sprintf(" (%d bytes)", e.Size)
	}
	if e.Write {
		return fmt.Sprintf("%s%s exceeds the server's maximum blob size of %d bytes", what, size, e.Max)
	}
	return fmt.Sprintf("%s%s is larger than the server's maximum blob size of %d bytes and is not loaded", what, size, e.Max)
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// CheckPushedBlobs refuses tips whose new objects hold a blob over
// MaxBlobBytes. receive-pack's receive.maxInputSize bounds only the
// compressed pack; a 1 MB pack can inflate to a 1 GB blob. The objects
// new to the repository are those reachable from tips and from no ref:
//
//	git rev-list --objects --filter=blob:limit=<max+1> --filter-print-omitted --stdin --not --all
//
// with the tips on stdin (always interesting there) prints each blob of at least max+1 bytes as "~<oid>". The walk covers
// only the new commits and trees, and a blob's size comes from its object
// header (a delta's from the delta header): nothing is inflated. It runs
// once the pack is indexed, before any ref moves.
func (r *Repo) CheckPushedBlobs(ctx context.Context, tips ...git.ObjectID) error {
	var args []string
	for _, t := range tips {
		if !t.IsZero() {
			args = append(args, string(t))
		}
	}
	if len(args) == 0 {
		return nil
	}
	max := r.maxBlob()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:  "rev-list",
		Flags: []string{"--objects", "--no-object-names", "--filter=blob:limit=" + strconv.FormatInt(max+1, 10), "--filter-print-omitted", "--filter-provided-objects", "--stdin", "--not", "--all"},
	}, git.WithStdin(strings.NewReader(strings.Join(args, "\n")+"\n")), git.WithStdoutPipe())
	if err != nil {
		return fmt.Errorf("check blob sizes: %w", err)
	}
	var found git.ObjectID
	sc := bufio.NewScanner(p.Stdout)
	for sc.Scan() {
		if oid, ok := strings.CutPrefix(sc.Text(), "~"); ok && git.IsFullHex(oid) {
			found = git.ObjectID(oid)
			break
		}
	}
	if found != "" {
		cancel()
	}
	werr := p.Wait()
	if found != "" {
		size := int64(0)
		if rd, release, err := r.reader(context.WithoutCancel(ctx)); err == nil {
			if info, err := rd.Info(context.WithoutCancel(ctx), string(found)); err == nil {
				size = info.Size
			}
			release()
		}
		return &TooLargeError{OID: found, Size: size, Max: max, Write: true}
	}
	if werr != nil {
		return fmt.Errorf("check blob sizes: %w", werr)
	}
	return sc.Err()
}

// checkFileSize refuses to let git load the blob at path in commit when it
// exceeds MaxBlobBytes; a missing path is left to the caller's command.
func (r *Repo) checkFileSize(ctx context.Context, commit git.ObjectID, path string) error {
	oid, size, err := r.StatFile(ctx, commit, path)
	if err != nil {
		return err
	}
	if max := r.maxBlob(); size > max {
		return &TooLargeError{Path: path, OID: oid, Size: size, Max: max}
	}
	return nil
}

// checkPreimageSizes refuses a patch touching a blob of tree over
// MaxBlobBytes; paths missing from tree (files the patch creates) pass.
func (r *Repo) checkPreimageSizes(ctx context.Context, tree git.ObjectID, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return err
	}
	defer release()
	max := r.maxBlob()
	for _, p := range paths {
		info, err := rd.Info(ctx, string(tree)+":"+p)
		if errors.Is(err, catfile.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("size of %s: %w", p, err)
		}
		if info.Type == git.BlobObject && info.Size > max {
			return &TooLargeError{Path: p, OID: info.OID, Size: info.Size, Max: max}
		}
	}
	return nil
}

// renameFlag is "-M" for a diff of from..head, or "--no-renames" when a
// blob the diff adds or deletes exceeds MaxBlobBytes: rename detection
// loads every added and deleted blob whole (core.bigFileThreshold does not
// stop it), so such a diff shows the pair as a deletion and an addition.
// The check is a --raw pass without renames: trees only, sizes from the
// cat-file pool.
func (r *Repo) renameFlag(ctx context.Context, from, head string, paths []string) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{Name: "diff-tree", Flags: []string{"-r", "-z", "--raw", "--no-renames"}, Args: []string{from, head}, PostSep: paths},
		git.WithStdoutPipe(), git.WithEnv(diffEnv...))
	if err != nil {
		return "", fmt.Errorf("diff %s %s: %w", from, head, err)
	}
	entries, perr := readRawDiff(bufio.NewReaderSize(p.Stdout, 64<<10))
	if perr != nil {
		cancel()
	}
	if err := p.Wait(); err != nil {
		return "", fmt.Errorf("diff %s %s: %w", from, head, err)
	}
	if perr != nil {
		return "", perr
	}
	var adds, dels int
	for _, e := range entries {
		switch {
		case e.oldOID.IsZero():
			adds++
		case e.newOID.IsZero():
			dels++
		}
	}
	if adds == 0 || dels == 0 {
		return "-M", nil // nothing to pair up: no content is compared
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	max := r.maxBlob()
	for _, e := range entries {
		oid, mode := e.newOID, e.newMode
		if e.newOID.IsZero() {
			oid, mode = e.oldOID, e.oldMode
		} else if !e.oldOID.IsZero() {
			continue
		}
		if mode == "160000" {
			continue
		}
		info, err := rd.Info(ctx, string(oid))
		if err != nil {
			return "", fmt.Errorf("size of %s (%s): %w", oid, e.path, err)
		}
		if info.Size > max {
			return "--no-renames", nil
		}
	}
	return "-M", nil
}
