package storetest

import (
	"maps"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

func claim(t *testing.T, s metadata.Store) (metadata.SyncJob, bool) {
	t.Helper()
	job, ok, err := s.ClaimSync(t.Context())
	if err != nil {
		t.Fatalf("ClaimSync: %v", err)
	}
	return job, ok
}

func enqueue(t *testing.T, s metadata.Store, key, ref string) {
	t.Helper()
	if err := s.EnqueueSync(t.Context(), key, ref); err != nil {
		t.Fatalf("EnqueueSync(%s, %q): %v", key, ref, err)
	}
}

// testSyncQueue: jobs are claimed oldest first, one per repository at a
// time, and removed when finished.
func testSyncQueue(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	a, b := create(t, s, "acme", "a"), create(t, s, "acme", "b")
	if _, ok := claim(t, s); ok {
		t.Fatal("claimed a job from an empty queue")
	}
	wantErr(t, "EnqueueSync of an unknown key", s.EnqueueSync(ctx, "nokey", ""), metadata.ErrNotFound)
	enqueue(t, s, a.StorageKey, "main")
	time.Sleep(time.Millisecond)
	deleted := create(t, s, "acme", "gone")
	if _, err := s.DeleteRepo(ctx, "acme", "gone"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "EnqueueSync of a deleted repository", s.EnqueueSync(ctx, deleted.StorageKey, ""), metadata.ErrNotFound)
	enqueue(t, s, b.StorageKey, "")

	first, ok := claim(t, s)
	if !ok || first.StorageKey != a.StorageKey || first.Org != "acme" || first.RepoID != "a" || first.Ref != "main" || first.Claimed != first.Requested {
		t.Fatalf("first claim = %+v, %v; want a's job for main", first, ok)
	}
	if running, err := s.SyncRunning(ctx, a.StorageKey); err != nil || !running {
		t.Fatalf("SyncRunning(a) = %v, %v", running, err)
	}
	second, ok := claim(t, s)
	if !ok || second.StorageKey != b.StorageKey || second.Ref != "" {
		t.Fatalf("second claim = %+v, %v; want b's job for every ref", second, ok)
	}
	if _, ok := claim(t, s); ok {
		t.Fatal("claimed a job while both repositories' jobs run")
	}
	for _, j := range []metadata.SyncJob{first, second} {
		if err := s.FinishSync(ctx, j); err != nil {
			t.Fatalf("FinishSync: %v", err)
		}
	}
	if _, ok := claim(t, s); ok {
		t.Fatal("a finished job was claimed again")
	}
	if running, err := s.SyncRunning(ctx, a.StorageKey); err != nil || running {
		t.Fatalf("SyncRunning(a) after finish = %v, %v", running, err)
	}
}

// testSyncCoalesce: requests while a job waits merge into it; a request
// while it runs makes it run once more.
func testSyncCoalesce(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	enqueue(t, s, r.StorageKey, "main")
	enqueue(t, s, r.StorageKey, "main")
	job, ok := claim(t, s)
	if !ok || job.Ref != "main" || job.Requested != 2 {
		t.Fatalf("claim = %+v, %v; want one job for main, requested twice", job, ok)
	}
	enqueue(t, s, r.StorageKey, "dev") // while running: widens to every ref
	if err := s.FinishSync(ctx, job); err != nil {
		t.Fatal(err)
	}
	again, ok := claim(t, s)
	if !ok || again.Ref != "" || again.Requested != 3 {
		t.Fatalf("claim after a request during the run = %+v, %v; want every ref", again, ok)
	}
	if err := s.FinishSync(ctx, again); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(t, s); ok {
		t.Fatal("job still queued")
	}
}

// testSyncRelease: a job that was running when its process died runs again.
func testSyncRelease(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	enqueue(t, s, r.StorageKey, "")
	if _, ok := claim(t, s); !ok {
		t.Fatal("no job")
	}
	if err := s.ReleaseSyncs(ctx); err != nil {
		t.Fatal(err)
	}
	if job, ok := claim(t, s); !ok || job.StorageKey != r.StorageKey {
		t.Fatalf("released job not claimable: %+v, %v", job, ok)
	}
}

func testSyncState(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	st, err := s.SyncState(ctx, r.StorageKey)
	if err != nil || st.RunCount != 0 || !st.LastSuccess.IsZero() || len(st.SyncedRefs) != 0 {
		t.Fatalf("initial state = %+v, %v", st, err)
	}
	want := metadata.SyncState{StorageKey: r.StorageKey, RunCount: 3, LastSuccess: time.Unix(1700000000, 5).UTC(),
		LastError: "boom", SyncedRefs: map[string]string{"refs/heads/main": "abc", "refs/tags/v1": "def"}}
	if err := s.SaveSyncState(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.SyncState(ctx, r.StorageKey)
	if err != nil || got.RunCount != 3 || !got.LastSuccess.Equal(want.LastSuccess) || got.LastError != "boom" || !maps.Equal(got.SyncedRefs, want.SyncedRefs) {
		t.Fatalf("state = %+v, %v; want %+v", got, err, want)
	}
	want.RunCount, want.LastError, want.SyncedRefs = 4, "", nil
	if err := s.SaveSyncState(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SyncState(ctx, r.StorageKey); err != nil || got.RunCount != 4 || got.LastError != "" || len(got.SyncedRefs) != 0 {
		t.Fatalf("state after replace = %+v, %v", got, err)
	}
	wantErr(t, "SaveSyncState of an unknown key", s.SaveSyncState(ctx, metadata.SyncState{StorageKey: "nokey"}), metadata.ErrNotFound)
}
