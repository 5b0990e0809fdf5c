package metadata_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/pgtest"
)

// ledgerRepo registers a repository in the store and in the ledger.
func ledgerRepo(t *testing.T, s *metadata.PostgresStore, id string) string {
	t.Helper()
	r, err := s.CreateRepo(t.Context(), metadata.Repo{Org: "acme", ID: id, DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LedgerCreate(t.Context(), r.StorageKey, "main"); err != nil {
		t.Fatal(err)
	}
	return r.StorageKey
}

func oid(n int) string { return fmt.Sprintf("%040x", n) }

const zero = "0000000000000000000000000000000000000000"

func TestLedger_publish(t *testing.T) {
	s := openPostgres(t, pgtest.New(t))
	ctx := t.Context()
	key := ledgerRepo(t, s, "r")
	if err := s.LedgerCreate(ctx, key, "main"); !errors.Is(err, metadata.ErrExists) {
		t.Fatalf("second LedgerCreate: %v, want ErrExists", err)
	}
	if _, _, err := s.LedgerVersion(ctx, "nope"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("LedgerVersion of unknown: %v", err)
	}

	pack := &metadata.PackRecord{Name: "pack-" + oid(1), Bytes: 100}
	ev := []metadata.RefEvent{{StorageKey: key, Ref: "refs/heads/main", Before: zero, After: oid(1)}}
	pub, err := s.LedgerPublish(ctx, key, []metadata.RefChange{{Ref: "refs/heads/main", Old: zero, New: oid(1)}}, pack, ev)
	if err != nil {
		t.Fatal(err)
	}
	if pub != (metadata.Published{Before: 0, After: 1, Packs: 1}) {
		t.Fatalf("published %+v", pub)
	}
	// A stale Old fails everything, including the other ref.
	_, err = s.LedgerPublish(ctx, key, []metadata.RefChange{
		{Ref: "refs/heads/other", Old: "", New: oid(2)},
		{Ref: "refs/heads/main", Old: zero, New: oid(2)},
	}, &metadata.PackRecord{Name: "pack-" + oid(2), Bytes: 1}, nil)
	var mm *metadata.LedgerMismatchError
	if !errors.As(err, &mm) || mm.Ref != "refs/heads/main" || mm.Actual != oid(1) {
		t.Fatalf("stale publish: %v", err)
	}
	// A name clash with an existing ref.
	_, err = s.LedgerPublish(ctx, key, []metadata.RefChange{{Ref: "refs/heads/main/x", Old: zero, New: oid(3)}}, nil, nil)
	var clash *metadata.LedgerNameClashError
	if !errors.As(err, &clash) || clash.Existing != "refs/heads/main" {
		t.Fatalf("clashing publish: %v", err)
	}
	// …which is fine when the same transaction deletes the other ref.
	if _, err := s.LedgerPublish(ctx, key, []metadata.RefChange{
		{Ref: "refs/heads/main", Old: oid(1), New: zero},
		{Ref: "refs/heads/main/x", Old: zero, New: oid(1)},
	}, nil, nil); err != nil {
		t.Fatal(err)
	}
	st, err := s.LedgerSnapshot(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != 2 || st.Head != "main" || len(st.Refs) != 1 || st.Refs["refs/heads/main/x"] != oid(1) || len(st.Packs) != 1 || st.Packs[0].Name != pack.Name || st.Packs[0].Bytes != pack.Bytes {
		t.Fatalf("snapshot %+v", st)
	}
	evs, err := s.RefEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Org != "acme" || evs[0].RepoID != "r" || evs[0].After != oid(1) {
		t.Fatalf("events %+v", evs)
	}
	if err := s.LedgerSetHead(ctx, key, "dev"); err != nil {
		t.Fatal(err)
	}
	if v, head, err := s.LedgerVersion(ctx, key); err != nil || v != 3 || head != "dev" {
		t.Fatalf("after SetHead: %d %q %v", v, head, err)
	}
}

// Two stores (two nodes) race compare-and-swaps on one ref: every round
// has exactly one winner, and the feed has one event per win, in order.
func TestLedger_racingNodes(t *testing.T) {
	dsn := pgtest.New(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	ctx := t.Context()
	key := ledgerRepo(t, a, "r")
	const rounds = 30
	var mu sync.Mutex
	wins := map[int]int{}
	var wg sync.WaitGroup
	for n, s := range []*metadata.PostgresStore{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				old := zero
				if i > 0 {
					old = oid(i)
				}
				ev := []metadata.RefEvent{{StorageKey: key, Ref: "refs/heads/main", Before: old, After: oid(i + 1)}}
				_, err := s.LedgerPublish(ctx, key, []metadata.RefChange{{Ref: "refs/heads/main", Old: old, New: oid(i + 1)}}, nil, ev)
				var mm *metadata.LedgerMismatchError
				switch {
				case err == nil:
					mu.Lock()
					wins[i]++
					mu.Unlock()
				case errors.As(err, &mm):
				default:
					t.Errorf("node %d round %d: %v", n, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range rounds {
		if wins[i] != 1 {
			t.Errorf("round %d: %d winners", i, wins[i])
		}
	}
	evs, err := a.RefEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != rounds {
		t.Fatalf("%d events for %d wins", len(evs), rounds)
	}
	for i, e := range evs {
		if e.After != oid(i+1) {
			t.Fatalf("event %d moved to %s, want %s", i, e.After, oid(i+1))
		}
	}
	if v, _, _ := a.LedgerVersion(ctx, key); v != rounds {
		t.Fatalf("version %d after %d wins", v, rounds)
	}
}

func TestLedger_packsAndGarbage(t *testing.T) {
	s := openPostgres(t, pgtest.New(t))
	ctx := t.Context()
	key := ledgerRepo(t, s, "r")
	var names []string
	for i := range 3 {
		p := &metadata.PackRecord{Name: "pack-" + oid(i+1), Bytes: int64(i + 1)}
		names = append(names, p.Name)
		if _, err := s.LedgerPublish(ctx, key, []metadata.RefChange{{Ref: "refs/heads/main", Old: map[bool]string{true: zero, false: oid(i)}[i == 0], New: oid(i + 1)}}, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	merged := metadata.PackRecord{Name: "pack-" + oid(99), Bytes: 6, Replaces: names[:2]}
	if err := s.LedgerReplacePacks(ctx, key, names[:2], merged); err != nil {
		t.Fatal(err)
	}
	// A second compaction of the same packs lost the race.
	if err := s.LedgerReplacePacks(ctx, key, names[:2], metadata.PackRecord{Name: "pack-" + oid(98)}); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("replacing replaced packs: %v", err)
	}
	st, err := s.LedgerSnapshot(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range st.Packs {
		got = append(got, p.Name)
	}
	if strings.Join(got, ",") != names[2]+","+merged.Name || strings.Join(st.Packs[1].Replaces, ",") != strings.Join(names[:2], ",") {
		t.Fatalf("manifest %+v", st.Packs)
	}
	if st.Version != 3 {
		t.Fatalf("compaction moved the version to %d", st.Version)
	}
	if g, err := s.LedgerGarbage(ctx, time.Now().Add(-time.Hour), 0); err != nil || len(g) != 0 {
		t.Fatalf("garbage before the grace: %v %v", g, err)
	}
	g, err := s.LedgerGarbage(ctx, time.Now().Add(time.Minute), 0)
	if err != nil || len(g) != 2 {
		t.Fatalf("garbage: %v %v", g, err)
	}
	if err := s.LedgerForgetGarbage(ctx, g); err != nil {
		t.Fatal(err)
	}
	// Removing the repository queues its remaining packs.
	if err := s.LedgerRemove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LedgerVersion(ctx, key); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("version after remove: %v", err)
	}
	if err := s.LedgerRemove(ctx, key); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	g, err = s.LedgerGarbage(ctx, time.Now().Add(time.Minute), 0)
	if err != nil || len(g) != 2 {
		t.Fatalf("garbage after remove: %+v %v", g, err)
	}
}

func TestLedger_tryLock(t *testing.T) {
	dsn := pgtest.New(t)
	a, b := openPostgres(t, dsn), openPostgres(t, dsn)
	release, ok, err := a.LedgerTryLock(t.Context(), "compact:x")
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if _, ok, err := b.LedgerTryLock(t.Context(), "compact:x"); err != nil || ok {
		t.Fatalf("second node took a held lock: %v %v", ok, err)
	}
	if rel, ok, err := b.LedgerTryLock(t.Context(), "compact:y"); err != nil || !ok {
		t.Fatalf("another name: %v %v", ok, err)
	} else {
		rel()
	}
	release()
	rel, ok, err := b.LedgerTryLock(t.Context(), "compact:x")
	if err != nil || !ok {
		t.Fatalf("after release: %v %v", ok, err)
	}
	rel()
}
