package events_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
)

func setupLog(t *testing.T) (*events.Log, *metadata.SQLiteStore) {
	t.Helper()
	s, err := metadata.OpenSQLite(filepath.Join(t.TempDir(), "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return events.NewLog(s), s
}

func TestLog_record(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	log, store := setupLog(t)
	r, err := store.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "team/app", DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	a := git.ObjectID(strings.Repeat("a", 40))
	b := git.ObjectID(strings.Repeat("b", 40))
	at := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)

	got, err := log.Record(ctx, r.StorageKey, []refs.Update{
		{Ref: "refs/heads/main", Old: "", New: a}, // "" is "no object" too
		{Ref: "refs/namespaces/ephemeral/refs/heads/wip", Old: a, New: b},
		{Ref: "refs/tags/v1", Old: a, New: git.ZeroOID},
	}, at)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	want := []events.RefUpdate{
		{Namespace: git.NormalNamespace, Ref: "refs/heads/main", Before: git.ZeroOID, After: a},
		{Namespace: git.EphemeralNamespace, Ref: "refs/heads/wip", Before: a, After: b},
		{Namespace: git.NormalNamespace, Ref: "refs/tags/v1", Before: a, After: git.ZeroOID},
	}
	for i, w := range want {
		w.Org, w.RepoID, w.StorageKey, w.At = "acme", "team/app", r.StorageKey, at
		w.Seq = got[i].Seq
		if got[i] != w {
			t.Fatalf("event %d = %+v, want %+v", i, got[i], w)
		}
	}
	if !got[0].IsCreate() || got[1].IsCreate() || got[1].IsDelete() || !got[2].IsDelete() {
		t.Fatalf("IsCreate/IsDelete wrong for %+v", got)
	}
	if full := got[1].FullRef(); full != "refs/namespaces/ephemeral/refs/heads/wip" {
		t.Fatalf("FullRef = %s", full)
	}

	feed, err := log.Since(ctx, 0, 0)
	if err != nil || len(feed) != 3 {
		t.Fatalf("Since(0) = %+v, %v", feed, err)
	}
	for i := range feed {
		if feed[i] != got[i] {
			t.Fatalf("Since[%d] = %+v, want %+v", i, feed[i], got[i])
		}
	}
	rest, err := log.Since(ctx, got[1].Seq, 10)
	if err != nil || len(rest) != 1 || rest[0] != got[2] {
		t.Fatalf("Since(%d) = %+v, %v", got[1].Seq, rest, err)
	}
}

func TestLog_recordUnknownRepo(t *testing.T) {
	t.Parallel()
	log, _ := setupLog(t)
	_, err := log.Record(t.Context(), "0123456789abcdef0123456789abcdef",
		[]refs.Update{{Ref: "refs/heads/main", Old: git.ZeroOID, New: git.ObjectID(strings.Repeat("a", 40))}}, time.Now())
	if !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("Record for an unknown repository: %v, want ErrNotFound", err)
	}
	if got, err := log.Record(t.Context(), "whatever", nil, time.Now()); err != nil || got != nil {
		t.Fatalf("Record of no updates = %v, %v", got, err)
	}
}
