package vfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git/refs"
)

// mrRefs is every ref of the repository at dir but HEAD, as
// "<oid> <name>" lines.
func mrRefs(t testing.TB, dir string) string {
	t.Helper()
	return nmGit(t, dir, "", "for-each-ref", "--format=%(objectname) %(refname)")
}

// mrFilled is a store with two branches, a lightweight and an annotated
// tag and notes in two namespaces.
func mrFilled(t testing.TB) *Store {
	t.Helper()
	s := nmStore(t, Options{})
	cs := nmCommits(t, s, 2)
	nmGit(t, s.Path(), "", "update-ref", "refs/heads/dev", cs[0])
	nmGit(t, s.Path(), "", "tag", "v1", cs[0])
	nmGit(t, s.Path(), "", "tag", "-a", "-m", "release", "v2", cs[1])
	if err := s.Notes().Namespace("commits").Set(cs[1], "note"); err != nil {
		t.Fatal(err)
	}
	if err := s.Notes().Namespace("reviews").Set(cs[0], "ok"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBackup_newLocalPathThenInSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mrFilled(t)
	dest := filepath.Join(t.TempDir(), "sub", "backup.git")

	dry, err := s.Backup(ctx, dest, MirrorOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Create) != 6 || len(dry.Update)+len(dry.Delete) != 0 || dry.InSync() {
		t.Fatalf("dry run to a new path = %+v", dry)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dry run created the destination: %v", err)
	}
	for i := 1; i < len(dry.Create); i++ {
		if dry.Create[i-1].Ref >= dry.Create[i].Ref {
			t.Fatalf("creates not sorted: %+v", dry.Create)
		}
	}

	var progress bytes.Buffer
	diff, err := s.Backup(ctx, dest, MirrorOptions{Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if progress.Len() == 0 {
		t.Error("no progress written")
	}
	if diff.Total() != 6 {
		t.Fatalf("backup diff = %+v", diff)
	}
	nmGit(t, dest, "", "fsck", "--full", "--strict", "--no-progress")
	if got, want := mrRefs(t, dest), mrRefs(t, s.Path()); got != want {
		t.Fatalf("backup refs:\n%s\nstore refs:\n%s", got, want)
	}
	if !strings.Contains(mrRefs(t, dest), "refs/notes/reviews") {
		t.Fatal("notes refs not backed up")
	}

	again, err := s.Backup(ctx, dest, MirrorOptions{DryRun: true})
	if err != nil || !again.InSync() {
		t.Fatalf("second dry run = %+v, %v", again, err)
	}
}

func TestBackup_updatesAndDeletesRemoteRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mrFilled(t)
	dest := filepath.Join(t.TempDir(), "backup.git")
	if _, err := s.Backup(ctx, "file://"+dest, MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	// The remote gains a ref of its own; the store moves main.
	main := strings.TrimSpace(nmGit(t, s.Path(), "", "rev-parse", "refs/heads/main"))
	nmGit(t, dest, "", "update-ref", "refs/heads/stray", main)
	nmCommits(t, s, 1)

	dry, err := s.Backup(ctx, dest, MirrorOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Update) != 1 || dry.Update[0].Ref != "refs/heads/main" || dry.Update[0].Dest != main ||
		len(dry.Delete) != 1 || dry.Delete[0].Ref != "refs/heads/stray" || len(dry.Create) != 0 {
		t.Fatalf("dry run = %+v", dry)
	}
	if _, err := s.Backup(ctx, dest, MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := mrRefs(t, dest), mrRefs(t, s.Path()); got != want {
		t.Fatalf("backup refs:\n%s\nstore refs:\n%s", got, want)
	}
}

func TestRestore_freshRepoIdenticalRefs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := mrFilled(t)
	dst := nmStore(t, Options{NoBranch: true})
	headBefore := nmGit(t, dst.Path(), "", "symbolic-ref", "HEAD")

	dry, err := dst.Restore(ctx, src.Path(), MirrorOptions{DryRun: true})
	if err != nil || len(dry.Create) != 6 || dry.Total() != 6 {
		t.Fatalf("dry restore = %+v, %v", dry, err)
	}
	if refs := mrRefs(t, dst.Path()); refs != "" {
		t.Fatalf("dry run changed refs:\n%s", refs)
	}
	diff, err := dst.Restore(ctx, src.Path(), MirrorOptions{})
	if err != nil || diff.Total() != 6 {
		t.Fatalf("restore = %+v, %v", diff, err)
	}
	if got, want := mrRefs(t, dst.Path()), mrRefs(t, src.Path()); got != want {
		t.Fatalf("restored refs:\n%s\nsource refs:\n%s", got, want)
	}
	nmGit(t, dst.Path(), "", "fsck", "--full", "--strict", "--no-progress")
	if h := nmGit(t, dst.Path(), "", "symbolic-ref", "HEAD"); h != headBefore {
		t.Fatalf("HEAD moved: %q -> %q", headBefore, h)
	}
	if entries, _ := filepath.Glob(filepath.Join(dst.Path(), "quarantine-*")); len(entries) != 0 {
		t.Fatalf("quarantine left behind: %v", entries)
	}
	c := strings.TrimSpace(nmGit(t, src.Path(), "", "rev-parse", "refs/heads/dev"))
	if got, err := dst.Notes().Namespace("reviews").Get(c); err != nil || got != "ok" {
		t.Fatalf("restored note = %q, %v", got, err)
	}

	// Local-only refs are deleted (gitstore v0.57), shown in the dry run.
	nmGit(t, dst.Path(), "", "update-ref", "refs/heads/local-only", c)
	dry, err = dst.Restore(ctx, src.Path(), MirrorOptions{DryRun: true})
	if err != nil || len(dry.Delete) != 1 || dry.Delete[0].Ref != "refs/heads/local-only" || dry.Delete[0].Dest != c {
		t.Fatalf("dry restore with a local-only ref = %+v, %v", dry, err)
	}
	if _, err := dst.Restore(ctx, src.Path(), MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := mrRefs(t, dst.Path()), mrRefs(t, src.Path()); got != want {
		t.Fatalf("restored refs:\n%s\nsource refs:\n%s", got, want)
	}
	again, err := dst.Restore(ctx, src.Path(), MirrorOptions{DryRun: true})
	if err != nil || !again.InSync() {
		t.Fatalf("after restore = %+v, %v", again, err)
	}
}

// TestRestore_casRefusesRacingUpdate moves a local ref between the fetch
// and the ref transaction: the restore fails and no ref changes.
func TestRestore_casRefusesRacingUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := mrFilled(t)
	dst := nmStore(t, Options{})
	nmCommits(t, src, 1)
	rm, err := parseRemote(src.Path())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := fetchRestore(ctx, dst.git, dst.repo, rm, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.close()
	if len(plan.diff.Update) != 1 || plan.diff.Update[0].Ref != "refs/heads/main" {
		t.Fatalf("plan = %+v", plan.diff)
	}
	racer := nmCommits(t, dst, 1)[0] // another writer moves main
	before := mrRefs(t, dst.Path())
	err = plan.apply(ctx, refs.Reflog{Message: "restore"})
	if err == nil || !strings.Contains(err.Error(), "changed during the restore") {
		t.Fatalf("apply after a racing update: %v", err)
	}
	if after := mrRefs(t, dst.Path()); after != before || !strings.Contains(after, racer+" refs/heads/main") {
		t.Fatalf("refs changed by a failed restore:\n%s\nwas:\n%s", after, before)
	}
}

func TestRestore_missingRemote(t *testing.T) {
	t.Parallel()
	s := nmStore(t, Options{})
	if _, err := s.Restore(context.Background(), filepath.Join(t.TempDir(), "nope"), MirrorOptions{}); err == nil {
		t.Fatal("restore from a missing path succeeded")
	}
}

func TestMirror_parseRemote(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		local bool
		bad   string // error substring
	}{
		{in: "https://example.com/r.git"},
		{in: "http://example.com/r.git"},
		{in: "git://example.com/r.git"},
		{in: "ssh://git@example.com/r.git"},
		{in: "file:///srv/r.git", local: true},
		{in: "/srv/r.git", local: true},
		{in: "rel/r.git", local: true},
		{in: `C:\backups\r.git`, local: true},
		{in: "C:/backups/r.git", local: true},
		{in: "git@github.com:me/r.git", bad: "scp-style URL not supported: 'git@github.com:me/r.git' — use ssh:// format instead"},
		{in: "host:path", bad: "scp-style"},
		{in: "ftp://example.com/r", bad: "unsupported URL scheme"},
		{in: "", bad: "empty"},
	} {
		rm, err := parseRemote(tc.in)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) || !errors.Is(err, ErrInvalid) {
				t.Errorf("parseRemote(%q) = %+v, %v; want %q", tc.in, rm, err, tc.bad)
			}
			continue
		}
		if err != nil || (rm.local != "") != tc.local || (tc.local && !filepath.IsAbs(rm.local) && !strings.Contains(tc.in, ":")) {
			t.Errorf("parseRemote(%q) = %+v, %v", tc.in, rm, err)
		}
	}
	s := nmStore(t, Options{})
	if _, err := s.Backup(context.Background(), "me@host:r.git", MirrorOptions{DryRun: true}); err == nil || !strings.Contains(err.Error(), "scp-style") {
		t.Fatalf("Backup to scp-style: %v", err)
	}
}
