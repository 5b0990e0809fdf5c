package upstream_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/outbound"
	"github.com/strata-storage/strata/internal/repo"
	"github.com/strata-storage/strata/internal/secretbox"
	"github.com/strata-storage/strata/internal/upstream"
)

// TestSyncer_resumesAfterCrash: jobs are durable. A job queued while no
// syncer ran, and one claimed by a process that died mid-run, both run
// when a syncer starts on the same store, and leave the queue.
func TestSyncer_resumesAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := newOrigin(t)
	o.create("team", "proj")
	o.commit("proj", "main", map[string]string{"a.txt": "a\n"})
	o.git("proj", "tag", "v1")
	o.push("proj")

	dir := t.TempDir()
	store, err := metadata.OpenSQLite(filepath.Join(dir, "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := catfile.NewCache(f, catfile.Options{})
	defer cache.Stop()
	repos, err := repo.NewManager(filepath.Join(dir, "repos"), f, cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer repos.Close()

	var keys []string
	for _, id := range []string{"queued", "crashed"} {
		m, err := store.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: id, DefaultBranch: "main",
			BaseRepo: &metadata.BaseRepo{Provider: "gitlab", Owner: "team", Name: "proj", UpstreamHost: o.host()}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repos.Create(ctx, m.StorageKey, "main"); err != nil {
			t.Fatal(err)
		}
		if err := store.EnqueueSync(ctx, m.StorageKey, ""); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, m.StorageKey)
	}
	// The "crashed" job was claimed by a process that then died.
	if job, ok, err := store.ClaimSync(ctx); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	} else if job.RepoID != "queued" {
		t.Fatalf("claimed %s first", job.RepoID)
	}
	if job, ok, err := store.ClaimSync(ctx); err != nil || !ok || job.RepoID != "crashed" {
		t.Fatalf("claim: %+v %v %v", job, ok, err)
	}
	if _, ok, _ := store.ClaimSync(ctx); ok {
		t.Fatal("a third job")
	}

	key := make([]byte, 32)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	client := outbound.New(outbound.Options{AllowPrivate: true})
	defer client.Close()
	bundle := filepath.Join(dir, "ca.pem")
	if err := upstream.WriteCABundle(bundle, o.caFile); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := upstream.New(store, repos, f, gitcred.New(store, box), client, nil, log, upstream.Options{CABundle: bundle})
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	want := o.refs("team", "proj")
	for _, k := range keys {
		r, err := repos.Open(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := strings.Split(runGit(t, r.Path(), "for-each-ref", "--format=%(refname) %(objectname)"), "\n")
			if slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("refs of %s: %v, want %v", k, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
		runGit(t, r.Path(), "fsck", "--full", "--strict")
	}
	// Both jobs finished and left the queue.
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range keys {
		for {
			running, err := store.SyncRunning(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := store.SyncState(ctx, k)
			if !running && st.RunCount == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job of %s: running %v, state %+v", k, running, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if _, ok, _ := store.ClaimSync(ctx); ok {
		t.Error("a job is still queued")
	}
}
