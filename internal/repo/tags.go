package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/odb"
	"github.com/strata-storage/strata/internal/git/refs"
)

// Tag is one tag.
type Tag struct {
	Name string       // without refs/tags/
	OID  git.ObjectID // what the ref holds: the tag object of an annotated tag
	// Target is what the tag finally names once every tag object is peeled
	// (normally a commit).
	Target    git.ObjectID
	Annotated bool
}

// scanRefs streams `git for-each-ref` over the refs below prefix (which
// must end in "/") in name order, calling fn for each ref name and its
// value and the value with one tag object peeled ("" for non-tags) and the
// peeled object's type; fn returns false to stop.
func (r *Repo) scanRefs(ctx context.Context, prefix string, fn func(name string, oid, peeled git.ObjectID, peeledType string) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := r.git.Start(ctx, r.path, git.Command{
		Name:  "for-each-ref",
		Flags: []string{"--format=%(objectname) %(*objectname) %(*objecttype) %(refname)", "--sort=refname"},
		Args:  []string{prefix},
	}, git.WithStdoutPipe())
	if err != nil {
		return fmt.Errorf("list refs %s: %w", prefix, err)
	}
	br := bufio.NewReaderSize(p.Stdout, 64<<10)
	stopped := false
	var perr error
	for !stopped {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			break
		}
		if err != nil && err != io.EOF {
			perr = err
			break
		}
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 4)
		if len(f) != 4 || !git.IsFullHex(f[0]) {
			perr = fmt.Errorf("unexpected for-each-ref line %q", trunc(line, 200))
			break
		}
		if !fn(f[3], git.ObjectID(f[0]), git.ObjectID(f[1]), f[2]) {
			stopped = true
		}
	}
	if stopped || perr != nil {
		cancel()
	}
	p.Stdout.Close()
	werr := p.Wait()
	if perr != nil {
		return fmt.Errorf("list refs %s: %w", prefix, perr)
	}
	if werr != nil && !stopped {
		return fmt.Errorf("list refs %s: %w", prefix, werr)
	}
	return nil
}

// ListTags returns up to limit tags whose names sort after after ("" =
// from the start), in byte order of the name, and whether more follow.
// Annotated tags are peeled to the object they finally name.
func (r *Repo) ListTags(ctx context.Context, after string, limit int) ([]Tag, bool, error) {
	var list []Tag
	var nested []int // tags of tags, peeled below through the pool
	more := false
	err := r.scanRefs(ctx, "refs/tags/", func(name string, oid, peeled git.ObjectID, peeledType string) bool {
		short := strings.TrimPrefix(name, "refs/tags/")
		if after != "" && short <= after {
			return true
		}
		if len(list) == limit {
			more = true
			return false
		}
		t := Tag{Name: short, OID: oid, Target: oid}
		if peeled != "" {
			t.Annotated, t.Target = true, peeled
			if peeledType == string(git.TagObject) {
				nested = append(nested, len(list))
			}
		}
		list = append(list, t)
		return true
	})
	if err != nil {
		return nil, false, err
	}
	if len(nested) > 0 {
		rd, release, err := r.reader(ctx)
		if err != nil {
			return nil, false, err
		}
		defer release()
		for _, i := range nested {
			info, err := rd.Info(ctx, string(list[i].OID)+"^{}")
			if err != nil {
				return nil, false, fmt.Errorf("peel tag %s: %w", list[i].Name, err)
			}
			list[i].Target = info.OID
		}
	}
	return list, more, nil
}

// TagAnnotation makes a tag annotated: a tag object with this tagger and
// message is written and the ref points at it.
type TagAnnotation struct {
	Tagger  Signature // zero When: now
	Message string
}

// CreateTag creates refs/tags/<name> pointing at target (a commit id, as
// resolved by ResolveCommit), or at a new tag object naming it when
// annotation is given. An existing tag is ErrExists.
func (r *Repo) CreateTag(ctx context.Context, name string, target git.ObjectID, annotation *TagAnnotation) (*Tag, error) {
	if err := git.ValidateTagName(name); err != nil {
		return nil, err
	}
	ref := git.NewTagReferenceName(name)
	if _, err := r.readRefLenient(ref); err == nil {
		return nil, fmt.Errorf("%w: tag %s", ErrExists, name)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	tag := &Tag{Name: name, OID: target, Target: target}
	if annotation != nil {
		tagger := annotation.Tagger
		if tagger.When.IsZero() {
			tagger.When = time.Now().UTC().Truncate(time.Second)
		}
		raw, err := odb.EncodeTag(odb.Tag{
			Object:  target,
			Type:    git.CommitObject,
			Name:    name,
			Tagger:  odb.Signature{Name: tagger.Name, Email: tagger.Email, When: tagger.When},
			Message: annotation.Message,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		tx, err := odb.NewWriter(r.path).Begin()
		if err != nil {
			return nil, fmt.Errorf("begin tag: %w", err)
		}
		oid, err := tx.WriteObject(git.TagObject, raw)
		if err != nil {
			tx.Abort()
			return nil, fmt.Errorf("write tag: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("write tag: %w", err)
		}
		tag.OID, tag.Annotated = oid, true
	}
	if err := r.UpdateRefs(ctx, refs.Update{Ref: ref, Old: git.ZeroOID, New: tag.OID}); err != nil {
		if errors.Is(err, ErrConflict) || isRefNameClash(err) {
			return nil, fmt.Errorf("%w: tag %s (or a tag it would nest with)", ErrExists, name)
		}
		return nil, err
	}
	return tag, nil
}

// DeleteTag removes refs/tags/<name> if it still holds old.
func (r *Repo) DeleteTag(ctx context.Context, name string, old git.ObjectID) error {
	if err := git.ValidateTagName(name); err != nil {
		return err
	}
	return r.UpdateRefs(ctx, refs.Update{Ref: git.NewTagReferenceName(name), Old: old, New: git.ZeroOID})
}

// isRefNameClash recognises update-ref refusing a ref because a ref of a
// parent or child name exists ("refs/tags/a" vs "refs/tags/a/b"): the
// name is taken, for the client as good as an existing ref.
func isRefNameClash(err error) bool {
	var clash *refs.NameClashError
	return errors.As(err, &clash)
}

// ReadTag returns the value of refs/tags/<name> (the tag object of an
// annotated tag), or a NotFoundError.
func (r *Repo) ReadTag(name string) (git.ObjectID, error) {
	oid, err := r.readRefLenient(git.NewTagReferenceName(name))
	if errors.Is(err, ErrNotFound) {
		return "", notFound("tag", name)
	}
	return oid, err
}

// Tag returns the tag refs/tags/<name>, peeled like ListTags's, or a
// NotFoundError.
func (r *Repo) Tag(ctx context.Context, name string) (*Tag, error) {
	oid, err := r.ReadTag(name)
	if err != nil {
		return nil, err
	}
	rd, release, err := r.reader(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	info, err := rd.Info(ctx, string(oid)+"^{}")
	if err != nil {
		return nil, fmt.Errorf("peel tag %s: %w", name, err)
	}
	return &Tag{Name: name, OID: oid, Target: info.OID, Annotated: info.OID != oid}, nil
}

// readRefLenient is ReadRef, except that a name below an existing ref
// ("refs/tags/a/b" while the file refs/tags/a exists, ENOTDIR) is simply
// absent: git never lets both exist, packed or loose.
func (r *Repo) readRefLenient(ref git.ReferenceName) (git.ObjectID, error) {
	oid, err := r.ReadRef(ref)
	if errors.Is(err, syscall.ENOTDIR) {
		return "", notFound("ref", string(ref))
	}
	return oid, err
}
