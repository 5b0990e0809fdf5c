package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// The ref-event feed: AppendRefEvents, RefEvents and LastRefStates.

var (
	zeroOID = strings.Repeat("0", 40)
	oidA    = strings.Repeat("a", 40)
	oidB    = strings.Repeat("b", 40)
	oidC    = strings.Repeat("c", 40)
)

func appendEvents(t *testing.T, s metadata.Store, evs ...metadata.RefEvent) []metadata.RefEvent {
	t.Helper()
	got, err := s.AppendRefEvents(t.Context(), evs)
	if err != nil {
		t.Fatalf("AppendRefEvents: %v", err)
	}
	if len(got) != len(evs) {
		t.Fatalf("AppendRefEvents returned %d events for %d", len(got), len(evs))
	}
	return got
}

func readEvents(t *testing.T, s metadata.Store, after int64, limit int) []metadata.RefEvent {
	t.Helper()
	evs, err := s.RefEvents(t.Context(), after, limit)
	if err != nil {
		t.Fatalf("RefEvents(%d, %d): %v", after, limit, err)
	}
	for _, e := range evs {
		checkUTC(t, fmt.Sprintf("event %d", e.Seq), e.At)
	}
	return evs
}

func fmtEvent(e metadata.RefEvent) string {
	return fmt.Sprintf("{Seq:%d Org:%q RepoID:%q StorageKey:%q Namespace:%q Ref:%q Before:%.7s After:%.7s At:%s}",
		e.Seq, e.Org, e.RepoID, e.StorageKey, e.Namespace, e.Ref, e.Before, e.After, e.At.Format(time.RFC3339Nano))
}

func equalEvent(t *testing.T, what string, got, want metadata.RefEvent) {
	t.Helper()
	if got.Seq != want.Seq || got.Org != want.Org || got.RepoID != want.RepoID ||
		got.StorageKey != want.StorageKey || got.Namespace != want.Namespace || got.Ref != want.Ref ||
		got.Before != want.Before || got.After != want.After || !got.At.Equal(want.At) {
		t.Fatalf("%s:\n got %s\nwant %s", what, fmtEvent(got), fmtEvent(want))
	}
}

func seqs(evs []metadata.RefEvent) []int64 {
	var out []int64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func testRefEventsEmpty(t *testing.T, s metadata.Store) {
	if evs := readEvents(t, s, 0, 10); len(evs) != 0 {
		t.Fatalf("RefEvents on an empty store = %v", seqs(evs))
	}
	if got, err := s.AppendRefEvents(t.Context(), nil); err != nil || len(got) != 0 {
		t.Fatalf("AppendRefEvents(nil) = %v, %v", got, err)
	}
}

func testAppendRefEventsFields(t *testing.T, s metadata.Store) {
	acme := create(t, s, "acme", "team/project")
	globex := create(t, s, "globex", "team/project") // same id, another org
	at := base.In(time.FixedZone("X", 5*3600))
	got := appendEvents(t, s,
		// Caller-set Seq, Org and RepoID are ignored: the registry decides.
		metadata.RefEvent{Seq: 1 << 40, Org: "globex", RepoID: "forged", StorageKey: acme.StorageKey,
			Ref: "refs/heads/main", Before: zeroOID, After: oidA, At: at},
		metadata.RefEvent{StorageKey: acme.StorageKey, Namespace: "ephemeral",
			Ref: "refs/heads/scratch", Before: oidA, After: oidB, At: at.Add(time.Second)},
	)
	before := time.Now()
	got = append(got, appendEvents(t, s,
		metadata.RefEvent{StorageKey: globex.StorageKey, Ref: "refs/tags/v1", Before: oidC, After: zeroOID}, // At: now
	)...)
	after := time.Now()

	want := []metadata.RefEvent{
		{Org: "acme", RepoID: "team/project", StorageKey: acme.StorageKey, Namespace: "",
			Ref: "refs/heads/main", Before: zeroOID, After: oidA},
		{Org: "acme", RepoID: "team/project", StorageKey: acme.StorageKey, Namespace: "ephemeral",
			Ref: "refs/heads/scratch", Before: oidA, After: oidB},
		{Org: "globex", RepoID: "team/project", StorageKey: globex.StorageKey, Namespace: "",
			Ref: "refs/tags/v1", Before: oidC, After: zeroOID},
	}
	for i, e := range got {
		if e.Seq <= 0 || e.Seq == 1<<40 {
			t.Fatalf("event %d: Seq = %d", i, e.Seq)
		}
		checkUTC(t, fmt.Sprintf("event %d", i), e.At)
		want[i].Seq, want[i].At = e.Seq, e.At
		equalEvent(t, fmt.Sprintf("AppendRefEvents result %d", i), e, want[i])
	}
	if !sameSecond(got[0].At, at) || !sameSecond(got[1].At, at.Add(time.Second)) {
		t.Fatalf("At = %s, %s; want %s, %s", got[0].At, got[1].At, at, at.Add(time.Second))
	}
	if got[2].At.Before(before.Add(-time.Second)) || got[2].At.After(after.Add(time.Second)) {
		t.Fatalf("zero At stored as %s, want about %s", got[2].At, before)
	}
	read := readEvents(t, s, 0, 0)
	if len(read) != len(got) {
		t.Fatalf("RefEvents = %d events, want %d", len(read), len(got))
	}
	for i := range read {
		equalEvent(t, fmt.Sprintf("RefEvents[%d]", i), read[i], got[i])
	}
}

func testAppendRefEventsOrder(t *testing.T, s metadata.Store) {
	a := create(t, s, "acme", "a").StorageKey
	b := create(t, s, "globex", "b").StorageKey
	var want []string
	for i := range 5 {
		var batch []metadata.RefEvent
		for j := range i + 1 {
			key := a
			if (i+j)%2 == 1 {
				key = b
			}
			ref := fmt.Sprintf("refs/heads/b%d-%d", i, j)
			batch = append(batch, metadata.RefEvent{StorageKey: key, Ref: ref, Before: zeroOID, After: oidA, At: base})
			want = append(want, ref)
		}
		appendEvents(t, s, batch...)
	}
	got := readEvents(t, s, 0, 0)
	var refs []string
	for i, e := range got {
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Fatalf("Seq %d after %d: not increasing", e.Seq, got[i-1].Seq)
		}
		refs = append(refs, e.Ref)
	}
	if strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Fatalf("events in order %q, want append order %q", refs, want)
	}
}

func testAppendRefEventsUnknown(t *testing.T, s metadata.Store) {
	key := create(t, s, "acme", "r").StorageKey
	_, err := s.AppendRefEvents(t.Context(), []metadata.RefEvent{
		{StorageKey: key, Ref: "refs/heads/main", Before: zeroOID, After: oidA},
		{StorageKey: "0123456789abcdef0123456789abcdef", Ref: "refs/heads/main", Before: zeroOID, After: oidA},
	})
	wantErr(t, "AppendRefEvents with an unknown storage key", err, metadata.ErrNotFound)
	if evs := readEvents(t, s, 0, 0); len(evs) != 0 {
		t.Fatalf("a failed batch left events behind: %v", seqs(evs))
	}
}

func testAppendRefEventsDeleted(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	old := create(t, s, "acme", "phoenix")
	if _, err := s.DeleteRepo(ctx, "acme", "phoenix"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	// A write that was in flight when the repository was deleted still
	// records its event, under the deleted incarnation.
	late := appendEvents(t, s, metadata.RefEvent{StorageKey: old.StorageKey, Ref: "refs/heads/main", Before: oidA, After: oidB})
	reborn := create(t, s, "acme", "phoenix")
	fresh := appendEvents(t, s, metadata.RefEvent{StorageKey: reborn.StorageKey, Ref: "refs/heads/main", Before: zeroOID, After: oidC})
	if late[0].Org != "acme" || late[0].RepoID != "phoenix" || late[0].StorageKey != old.StorageKey {
		t.Fatalf("event of the deleted repo = %s", fmtEvent(late[0]))
	}
	if fresh[0].RepoID != "phoenix" || fresh[0].StorageKey != reborn.StorageKey {
		t.Fatalf("event of the recreated repo = %s", fmtEvent(fresh[0]))
	}
	// Deleting the live repository keeps its events: they are history.
	if _, err := s.DeleteRepo(ctx, "acme", "phoenix"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	if evs := readEvents(t, s, 0, 0); len(evs) != 2 {
		t.Fatalf("RefEvents after deletes = %v, want 2 events", seqs(evs))
	}
}

func testRefEventsPaging(t *testing.T, s metadata.Store) {
	key := create(t, s, "acme", "r").StorageKey
	var all []metadata.RefEvent
	for i := range 7 {
		all = append(all, appendEvents(t, s, metadata.RefEvent{StorageKey: key, Ref: fmt.Sprintf("refs/heads/p%d", i), Before: zeroOID, After: oidA})...)
	}
	for _, limit := range []int{1, 2, 3, 7, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []metadata.RefEvent
			var cursor int64
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("paging does not end")
				}
				page := readEvents(t, s, cursor, limit)
				if len(page) > limit {
					t.Fatalf("page of %d events with limit %d", len(page), limit)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				cursor = page[len(page)-1].Seq
			}
			if len(got) != len(all) {
				t.Fatalf("paged %v, want %v", seqs(got), seqs(all))
			}
			for i := range got {
				equalEvent(t, fmt.Sprintf("event %d", i), got[i], all[i])
			}
		})
	}
	if evs := readEvents(t, s, 0, 0); len(evs) != len(all) {
		t.Fatalf("RefEvents with limit 0 = %d events, want all %d", len(evs), len(all))
	}
	last := all[len(all)-1].Seq
	if evs := readEvents(t, s, last, 10); len(evs) != 0 {
		t.Fatalf("RefEvents after the last event = %v", seqs(evs))
	}
	// A cursor at the end picks up exactly what is appended later.
	more := appendEvents(t, s, metadata.RefEvent{StorageKey: key, Ref: "refs/heads/later", Before: zeroOID, After: oidB})
	evs := readEvents(t, s, last, 10)
	if len(evs) != 1 {
		t.Fatalf("RefEvents after new append = %v, want [%d]", seqs(evs), more[0].Seq)
	}
	equalEvent(t, "new event", evs[0], more[0])
}

// A consumer tailing the feed with a cursor while many writers append must
// end up with every event exactly once: no seq may become visible after a
// higher one was already read.
func testRefEventsConcurrentTail(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	keys := []string{create(t, s, "acme", "a").StorageKey, create(t, s, "globex", "b").StorageKey}
	const writers, batches = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			for i := range batches {
				batch := make([]metadata.RefEvent, 1+i%3)
				for j := range batch {
					batch[j] = metadata.RefEvent{StorageKey: keys[w%2], Ref: fmt.Sprintf("refs/heads/w%d/%d/%d", w, i, j), Before: zeroOID, After: oidA}
				}
				if _, err := s.AppendRefEvents(ctx, batch); err != nil {
					errs <- err
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var tailed []metadata.RefEvent
	var cursor int64
	tail := func() error {
		page, err := s.RefEvents(ctx, cursor, 7)
		if err != nil {
			return err
		}
		tailed = append(tailed, page...)
		if len(page) > 0 {
			cursor = page[len(page)-1].Seq
		}
		return nil
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		if err := tail(); err != nil {
			t.Fatalf("tail: %v", err)
		}
	}
	for { // drain what the last writes added
		n := len(tailed)
		if err := tail(); err != nil {
			t.Fatalf("tail: %v", err)
		}
		if len(tailed) == n {
			break
		}
	}
	close(errs)
	for err := range errs {
		t.Errorf("concurrent append: %v", err)
	}
	all := readEvents(t, s, 0, 0)
	want := 0
	for i := range batches {
		want += writers * (1 + i%3)
	}
	if len(all) != want {
		t.Fatalf("%d events stored, want %d", len(all), want)
	}
	if len(tailed) != len(all) {
		t.Fatalf("tailing consumer saw %d events, the store holds %d: an event became visible behind the cursor", len(tailed), len(all))
	}
	seen := map[int64]bool{}
	for i := range all {
		if seen[tailed[i].Seq] {
			t.Fatalf("consumer saw seq %d twice", tailed[i].Seq)
		}
		seen[tailed[i].Seq] = true
		equalEvent(t, fmt.Sprintf("tailed event %d", i), tailed[i], all[i])
	}
}

func lastStates(t *testing.T, s metadata.Store, key string) []metadata.RefEvent {
	t.Helper()
	evs, err := s.LastRefStates(t.Context(), key)
	if err != nil {
		t.Fatalf("LastRefStates(%s): %v", key, err)
	}
	for _, e := range evs {
		checkUTC(t, fmt.Sprintf("event %d", e.Seq), e.At)
	}
	return evs
}

func testLastRefStates(t *testing.T, s metadata.Store) {
	key := create(t, s, "acme", "r").StorageKey
	if evs := lastStates(t, s, key); len(evs) != 0 {
		t.Fatalf("LastRefStates without events = %v", seqs(evs))
	}
	ev := func(ns, ref, before, after string) metadata.RefEvent {
		return metadata.RefEvent{StorageKey: key, Namespace: ns, Ref: ref, Before: before, After: after, At: base}
	}
	// Appended out of name order, several per transaction, and the same
	// ref name in both namespaces: each (namespace, ref) is its own ref.
	appendEvents(t, s, ev("", "refs/tags/v1", zeroOID, oidA), ev("", "refs/heads/main", zeroOID, oidA))
	appendEvents(t, s, ev("ephemeral", "refs/heads/main", zeroOID, oidB))
	appendEvents(t, s, ev("", "refs/heads/main", oidA, oidB), ev("", "refs/heads/gone", zeroOID, oidC))
	appendEvents(t, s, ev("", "refs/heads/gone", oidC, zeroOID))
	appendEvents(t, s, ev("", "refs/heads/main", oidB, oidC))
	newest := appendEvents(t, s, ev("ephemeral", "refs/heads/main", oidB, oidA))

	all := readEvents(t, s, 0, 0)
	bySeq := map[int64]metadata.RefEvent{}
	for _, e := range all {
		bySeq[e.Seq] = e
	}
	want := []struct{ ns, ref, after string }{
		{"", "refs/heads/gone", zeroOID}, // deleted last: still a state
		{"", "refs/heads/main", oidC},
		{"", "refs/tags/v1", oidA},
		{"ephemeral", "refs/heads/main", oidA},
	}
	got := lastStates(t, s, key)
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("%s", fmtEvent(e))
		}
		t.Fatalf("LastRefStates = %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.Namespace != w.ns || e.Ref != w.ref || e.After != w.after {
			t.Fatalf("LastRefStates[%d] = %s, want namespace %q ref %s after %.7s", i, fmtEvent(e), w.ns, w.ref, w.after)
		}
		// The whole stored event, as the feed has it, and the newest of its ref.
		equalEvent(t, fmt.Sprintf("LastRefStates[%d]", i), e, bySeq[e.Seq])
		for _, other := range all {
			if other.Namespace == e.Namespace && other.Ref == e.Ref && other.Seq > e.Seq {
				t.Fatalf("LastRefStates[%d] = seq %d, but seq %d is newer", i, e.Seq, other.Seq)
			}
		}
	}
	equalEvent(t, "ephemeral main", got[3], newest[0])
}

// States are per repository incarnation: another repository's events, or
// those of a deleted repository under the same id, never mix in.
func testLastRefStatesRepos(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	old := create(t, s, "acme", "phoenix").StorageKey
	other := create(t, s, "globex", "phoenix").StorageKey
	appendEvents(t, s,
		metadata.RefEvent{StorageKey: old, Ref: "refs/heads/main", Before: zeroOID, After: oidA},
		metadata.RefEvent{StorageKey: other, Ref: "refs/heads/main", Before: zeroOID, After: oidB},
	)
	if _, err := s.DeleteRepo(ctx, "acme", "phoenix"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	reborn := create(t, s, "acme", "phoenix").StorageKey
	if evs := lastStates(t, s, reborn); len(evs) != 0 {
		t.Fatalf("LastRefStates of a recreated repository = %v, want none", seqs(evs))
	}
	appendEvents(t, s, metadata.RefEvent{StorageKey: reborn, Ref: "refs/heads/main", Before: zeroOID, After: oidC})
	for key, after := range map[string]string{old: oidA, other: oidB, reborn: oidC} {
		evs := lastStates(t, s, key)
		if len(evs) != 1 || evs[0].StorageKey != key || evs[0].After != after {
			t.Fatalf("LastRefStates(%s) = %v, want main at %.7s", key, evs, after)
		}
	}
	if evs := lastStates(t, s, "0123456789abcdef0123456789abcdef"); len(evs) != 0 {
		t.Fatalf("LastRefStates of an unknown key = %v", seqs(evs))
	}
}
