package metadata_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/metadata/storetest"
	"github.com/strata-storage/strata/internal/pgtest"
)

// The PostgreSQL server of these tests stops with the test binary.
func TestMain(m *testing.M) { pgtest.Main(m) }

func openPostgres(t *testing.T, dsn string) *metadata.PostgresStore {
	t.Helper()
	s, err := metadata.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	return s
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) metadata.Store {
		return openPostgres(t, pgtest.New(t))
	})
}

// Several Strata processes share one database: each test below opens two
// or more PostgresStores on one database, as two nodes would, and has
// them compete for the same work.

func twoNodes(t *testing.T) (dsn string, a, b *metadata.PostgresStore) {
	t.Helper()
	dsn = pgtest.New(t)
	a, b = openPostgres(t, dsn), openPostgres(t, dsn)
	t.Cleanup(func() {
		for _, s := range []*metadata.PostgresStore{a, b} {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return dsn, a, b
}

// claims records who works on what: an item handed to a second worker
// while the first still has it, or a key worked by two at once, is an
// error. Keys are what must be worked one at a time (a webhook, a
// repository); items are what is handed out (a delivery, a push, a job).
type claims struct {
	mu       sync.Mutex
	inFlight map[string]string // key → worker
	worked   map[string][]int64
	done     map[int64]int
	errs     []error
}

func newClaims() *claims {
	return &claims{inFlight: map[string]string{}, worked: map[string][]int64{}, done: map[int64]int{}}
}

func (c *claims) start(worker, key string, item int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, ok := c.inFlight[key]; ok {
		c.errs = append(c.errs, fmt.Errorf("%s got item %d of %s while %s works on %s", worker, item, key, other, key))
	}
	c.inFlight[key] = worker
	c.worked[key] = append(c.worked[key], item)
}

// end is called before the outcome is recorded: once it is, another
// worker may rightly take the key's next item.
func (c *claims) end(key string, item int64, finished bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inFlight, key)
	if finished {
		c.done[item]++
	}
}

func (c *claims) check(t *testing.T, items int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.errs {
		t.Error(err)
	}
	if len(c.done) != items {
		t.Errorf("%d items finished, want %d", len(c.done), items)
	}
	for item, n := range c.done {
		if n != 1 {
			t.Errorf("item %d finished %d times", item, n)
		}
	}
	// Each key's items were worked in order (a retried one twice in a row).
	for key, ids := range c.worked {
		if !slices.IsSorted(ids) {
			t.Errorf("items of %s worked in the order %v", key, ids)
		}
	}
}

// work is one node's dispatch loop over an outbox: heads returns the due
// heads (key, item); record records an attempt, finished or to be retried
// at once. Every third item fails its first attempt, so retried heads are
// handed out again. It returns when pending reports nothing left.
func work(t *testing.T, c *claims, worker string,
	heads func() (keys []string, items []int64, err error),
	record func(item int64, finished bool) error,
	pending func() (int64, error)) error {
	tried := map[int64]bool{}
	for {
		keys, items, err := heads()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			n, err := pending()
			if err != nil || n == 0 {
				return err
			}
			time.Sleep(time.Millisecond)
			continue
		}
		for i, item := range items {
			finished := item%3 != 0 || tried[item]
			tried[item] = true
			c.start(worker, keys[i], item)
			time.Sleep(200 * time.Microsecond)
			c.end(keys[i], item, finished)
			if err := record(item, finished); err != nil {
				return fmt.Errorf("%s: record %d: %w", worker, item, err)
			}
		}
		if t.Context().Err() != nil {
			return t.Context().Err()
		}
	}
}

func TestPostgresStore_twoNodesDeliveries(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	ctx := t.Context()
	const webhooks, perWebhook = 6, 12
	for w := range webhooks {
		if _, err := a.CreateWebhook(ctx, metadata.Webhook{ID: fmt.Sprint("wh_", w), Org: "acme",
			URL: "https://hooks.example/", Events: []string{"*"}, Secret: []byte("s")}); err != nil {
			t.Fatal(err)
		}
	}
	// Both nodes enqueue, interleaved, as both fan out events.
	var enq sync.WaitGroup
	for n, s := range []*metadata.PostgresStore{a, b} {
		enq.Go(func() {
			for i := range perWebhook / 2 {
				var ds []metadata.WebhookDelivery
				for w := range webhooks {
					ds = append(ds, metadata.WebhookDelivery{WebhookID: fmt.Sprint("wh_", w), Event: "push",
						Payload: fmt.Appendf(nil, `{"node":%d,"i":%d}`, n, i)})
				}
				if _, err := s.EnqueueDeliveries(ctx, metadata.CursorMove{}, ds); err != nil {
					t.Error(err)
				}
			}
		})
	}
	enq.Wait()

	c := newClaims()
	var wg sync.WaitGroup
	for n, s := range []*metadata.PostgresStore{a, b} {
		wg.Go(func() {
			err := work(t, c, fmt.Sprint("node ", n),
				func() ([]string, []int64, error) {
					hs, err := s.DeliveryHeads(ctx, 3, nil)
					var keys []string
					var ids []int64
					for _, h := range hs {
						keys, ids = append(keys, h.WebhookID), append(ids, h.ID)
					}
					return keys, ids, err
				},
				func(id int64, finished bool) error {
					a := metadata.DeliveryAttempt{At: time.Now(), Status: metadata.DeliveryDelivered, StatusCode: 204}
					if !finished {
						a.Status, a.StatusCode = metadata.DeliveryPending, 500
					}
					return s.RecordAttempt(ctx, id, a)
				},
				func() (int64, error) { return s.PendingDeliveries(ctx) })
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c.check(t, webhooks*perWebhook)
}

func TestPostgresStore_twoNodesMirror(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	ctx := t.Context()
	const repos, perRepo = 5, 12
	var keys []string
	for r := range repos {
		keys = append(keys, createRepo(t, a, "acme", fmt.Sprint("r", r)).StorageKey)
	}
	for i := range perRepo {
		var ps []metadata.MirrorPush
		for _, k := range keys {
			ps = append(ps, metadata.MirrorPush{StorageKey: k, EventSeq: int64(i), Ref: "refs/heads/main",
				Before: strings.Repeat("0", 40), After: strings.Repeat("a", 40)})
		}
		s := []*metadata.PostgresStore{a, b}[i%2]
		if _, err := s.EnqueueMirrorPushes(ctx, metadata.CursorMove{}, ps); err != nil {
			t.Fatal(err)
		}
	}

	c := newClaims()
	var wg sync.WaitGroup
	for n, s := range []*metadata.PostgresStore{a, b} {
		wg.Go(func() {
			err := work(t, c, fmt.Sprint("node ", n),
				func() ([]string, []int64, error) {
					ps, err := s.MirrorHeads(ctx, 2, nil)
					var keys []string
					var ids []int64
					for _, p := range ps {
						keys, ids = append(keys, p.StorageKey), append(ids, p.ID)
					}
					return keys, ids, err
				},
				func(id int64, finished bool) error {
					a := metadata.MirrorAttempt{At: time.Now(), Status: metadata.MirrorPushed}
					if !finished {
						a.Status, a.Error = metadata.MirrorPending, "connection refused"
					}
					return s.RecordMirrorAttempt(ctx, []int64{id}, a)
				},
				func() (int64, error) { return s.PendingMirrorPushes(ctx) })
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	c.check(t, repos*perRepo)
}

func TestPostgresStore_twoNodesSyncs(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	ctx := t.Context()
	const jobs = 30
	for i := range jobs {
		r := createRepo(t, a, "acme", fmt.Sprint("r", i))
		if err := b.EnqueueSync(ctx, r.StorageKey, ""); err != nil {
			t.Fatal(err)
		}
	}
	c := newClaims()
	var seq atomic.Int64
	var wg sync.WaitGroup
	for n, s := range []*metadata.PostgresStore{a, b} {
		for w := range 3 { // workers per node, as upstream.Syncer runs them
			wg.Go(func() {
				worker := fmt.Sprintf("node %d worker %d", n, w)
				for {
					job, ok, err := s.ClaimSync(ctx)
					if err != nil || !ok {
						if err != nil {
							t.Error(err)
						}
						return
					}
					item := seq.Add(1) // a job has no id; its run does
					c.start(worker, job.StorageKey, item)
					time.Sleep(200 * time.Microsecond)
					c.end(job.StorageKey, item, true)
					if err := s.FinishSync(ctx, job); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	c.check(t, jobs)
	for _, s := range []*metadata.PostgresStore{a, b} {
		if job, ok, err := s.ClaimSync(ctx); err != nil || ok {
			t.Fatalf("ClaimSync after all ran = %+v, %v, %v", job, ok, err)
		}
	}
}

// Of two nodes moving a feed cursor from the same place, one wins, and
// only its deliveries are stored.
func TestPostgresStore_twoNodesCursor(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	ctx := t.Context()
	if _, err := a.CreateWebhook(ctx, metadata.Webhook{ID: "wh", Org: "acme", URL: "https://hooks.example/",
		Events: []string{"*"}, Secret: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	for from := range int64(rounds) {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			s := []*metadata.PostgresStore{a, b}[i%2]
			wg.Go(func() {
				_, errs[i] = s.EnqueueDeliveries(ctx, metadata.CursorMove{Consumer: "webhooks", From: from, To: from + 1},
					[]metadata.WebhookDelivery{{WebhookID: "wh", Event: "push", Payload: []byte("{}")}})
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, metadata.ErrCursorMoved):
				t.Fatalf("round %d: %v", from, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d moves won, want 1", from, won)
		}
	}
	if n, err := b.PendingDeliveries(ctx); err != nil || n != rounds {
		t.Fatalf("PendingDeliveries = %d, %v; want %d", n, err, rounds)
	}
	if c, err := a.EventCursor(ctx, "webhooks"); err != nil || c != rounds {
		t.Fatalf("cursor = %d, %v; want %d", c, err, rounds)
	}
}

// Writers on two nodes, a consumer tailing the feed on a third: the
// consumer sees every event once, none behind its cursor.
func TestPostgresStore_twoNodesRefEvents(t *testing.T) {
	t.Parallel()
	dsn, a, b := twoNodes(t)
	reader := openPostgres(t, dsn)
	t.Cleanup(func() { reader.Close() })
	ctx := t.Context()
	key := createRepo(t, a, "acme", "r").StorageKey
	const writers, batches = 6, 25
	var wg sync.WaitGroup
	for w := range writers {
		s := []*metadata.PostgresStore{a, b}[w%2]
		wg.Go(func() {
			for i := range batches {
				batch := make([]metadata.RefEvent, 1+i%3)
				for j := range batch {
					batch[j] = metadata.RefEvent{StorageKey: key, Ref: fmt.Sprintf("refs/heads/w%d/%d/%d", w, i, j),
						Before: strings.Repeat("0", 40), After: strings.Repeat("a", 40)}
				}
				if _, err := s.AppendRefEvents(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var cursor int64
	seen := map[int64]bool{}
	tail := func() int {
		page, err := reader.RefEvents(ctx, cursor, 5)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if seen[e.Seq] || e.Seq <= cursor {
				t.Fatalf("seq %d seen again (cursor %d)", e.Seq, cursor)
			}
			seen[e.Seq] = true
			cursor = e.Seq
		}
		return len(page)
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		tail()
	}
	for tail() > 0 {
	}
	all, err := reader.RefEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(all) {
		t.Fatalf("the consumer saw %d events, the store holds %d: one became visible behind the cursor", len(seen), len(all))
	}
}

func createRepo(t *testing.T, s metadata.Store, org, id string) metadata.Repo {
	t.Helper()
	r, err := s.CreateRepo(t.Context(), metadata.Repo{Org: org, ID: id, DefaultBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func openLease(t *testing.T, dsn string, lease time.Duration) *metadata.PostgresStore {
	t.Helper()
	s, err := metadata.OpenPostgresLease(t.Context(), dsn, lease)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A claim holds while its store lives (the heartbeat renews it past its
// lease), survives another node's ReleaseSyncs, is taken over once its
// store died and the lease ran out, and is handed back at once by Close.
func TestPostgresStore_leases(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dsn := pgtest.New(t)
	const lease = 600 * time.Millisecond
	a, b := openLease(t, dsn, lease), openLease(t, dsn, lease)

	r := createRepo(t, a, "acme", "r")
	if err := a.EnqueueSync(ctx, r.StorageKey, ""); err != nil {
		t.Fatal(err)
	}
	job, ok, err := a.ClaimSync(ctx)
	if err != nil || !ok {
		t.Fatalf("ClaimSync = %v, %v", ok, err)
	}
	time.Sleep(3 * lease)
	if err := b.ReleaseSyncs(ctx); err != nil { // b starts while a works
		t.Fatal(err)
	}
	if j, ok, err := b.ClaimSync(ctx); err != nil || ok {
		t.Fatalf("b claimed %+v (%v) while a runs it", j, err)
	}
	if running, err := b.SyncRunning(ctx, r.StorageKey); err != nil || !running {
		t.Fatalf("SyncRunning = %v, %v while a runs it", running, err)
	}

	metadata.Abandon(a) // a dies mid-run
	deadline := time.Now().Add(10 * lease)
	for {
		j, ok, err := b.ClaimSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if j.StorageKey != job.StorageKey {
				t.Fatalf("b claimed %+v, want a's job", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a dead store's job was never handed out again")
		}
		time.Sleep(lease / 10)
	}

	// Outbox heads: leased to c, not handed to b however long c holds
	// them, handed to b as soon as c closes.
	c := openLease(t, dsn, lease)
	if _, err := c.CreateWebhook(ctx, metadata.Webhook{ID: "wh", Org: "acme", URL: "https://hooks.example/",
		Events: []string{"*"}, Secret: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnqueueDeliveries(ctx, metadata.CursorMove{}, []metadata.WebhookDelivery{
		{WebhookID: "wh", Event: "push", Payload: []byte("{}"), NextAttemptAt: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnqueueMirrorPushes(ctx, metadata.CursorMove{}, []metadata.MirrorPush{
		{StorageKey: r.StorageKey, Ref: "refs/heads/main", Before: strings.Repeat("0", 40), After: strings.Repeat("a", 40)}}); err != nil {
		t.Fatal(err)
	}
	heads := func(s *metadata.PostgresStore) (int, int) {
		t.Helper()
		ds, err := s.DeliveryHeads(ctx, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := s.MirrorHeads(ctx, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds), len(ps)
	}
	if d, p := heads(c); d != 1 || p != 1 {
		t.Fatalf("c got %d delivery and %d push heads, want 1 and 1 (not yet due is leased too)", d, p)
	}
	if d, p := heads(c); d != 1 || p != 1 {
		t.Fatalf("c's own heads again: %d and %d, want 1 and 1", d, p)
	}
	time.Sleep(3 * lease)
	if d, p := heads(b); d != 0 || p != 0 {
		t.Fatalf("b got %d delivery and %d push heads that c holds", d, p)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d, p := heads(b); d != 1 || p != 1 {
		t.Fatalf("after c closed, b got %d and %d heads, want 1 and 1", d, p)
	}

	// Close hands a running sync job back: queued again, not running.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if running, err := openLease(t, dsn, lease).SyncRunning(ctx, r.StorageKey); err != nil || running {
		t.Fatalf("SyncRunning after the runner closed = %v, %v", running, err)
	}
}

// Migrating twice, or from several processes at once, is harmless.
func TestOpenPostgres_migrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	files, err := os.ReadDir("migrations_pg")
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.New(t)
	var wg sync.WaitGroup
	stores := make([]*metadata.PostgresStore, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = metadata.OpenPostgres(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent OpenPostgres %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	r := createRepo(t, stores[0], "acme", "kept")
	again := openPostgres(t, dsn)
	defer again.Close()
	if v, err := again.SchemaVersion(ctx); err != nil || v != len(files) {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, len(files))
	}
	if got, err := again.Repo(ctx, "acme", "kept"); err != nil || got.StorageKey != r.StorageKey {
		t.Fatalf("Repo after reopening = %+v, %v", got, err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, distinct int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != len(files) || distinct != n {
		t.Fatalf("schema_migrations has %d rows (%d versions), want %d", n, distinct, len(files))
	}
	// A binary older than the schema refuses it.
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	if s, err := metadata.OpenPostgres(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("OpenPostgres of a newer schema: %v", err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	s, err := metadata.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*metadata.SQLiteStore); !ok {
		t.Fatalf("Open(\"\") = %T, want *SQLiteStore", s)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, metadata.SQLiteFileName)); err != nil {
		t.Fatalf("no SQLite file in the data dir: %v", err)
	}
	for _, spec := range []string{"mysql://u:secret@db/x", "u:secret@db/x", "sqlite:///x.db", "postgres:/x"} {
		_, err := metadata.Open(ctx, spec, dir)
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Fatalf("Open(%q) = %v, want an error that does not quote the password", spec, err)
		}
	}
	dsn := pgtest.New(t)
	for _, spec := range []string{dsn, strings.Replace(dsn, "postgres://", "postgresql://", 1)} {
		s, err := metadata.Open(ctx, spec, dir)
		if err != nil {
			t.Fatalf("Open(%s): %v", spec, err)
		}
		if _, ok := s.(*metadata.PostgresStore); !ok {
			t.Fatalf("Open(%s) = %T, want *PostgresStore", spec, s)
		}
		s.Close()
	}
}

// Ids PostgreSQL cannot hold as text (NUL, invalid UTF-8) can come in a
// token or a URL: looking them up finds nothing, as in SQLite, rather than
// failing.
func TestPostgresStore_unstorableIDs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openPostgres(t, pgtest.New(t))
	defer s.Close()
	createRepo(t, s, "acme", "ab")
	for _, id := range []string{"a\x00b", "a\xffb"} {
		_, err := s.Repo(ctx, "acme", id)
		wantNotFound(t, "Repo", err)
		_, err = s.DeleteRepo(ctx, "acme", id)
		wantNotFound(t, "DeleteRepo", err)
		wantNotFound(t, "SetDefaultBranch", s.SetDefaultBranch(ctx, "acme", id, "main"))
		_, err = s.Webhook(ctx, "acme", id)
		wantNotFound(t, "Webhook", err)
		wantNotFound(t, "DeleteWebhook", s.DeleteWebhook(ctx, "acme", id))
		_, err = s.GitCredential(ctx, "acme", id)
		wantNotFound(t, "GitCredential", err)
		wantNotFound(t, "DeleteGitCredential", s.DeleteGitCredential(ctx, "acme", id))
		_, err = s.Org(ctx, id)
		wantNotFound(t, "Org", err)
		if got, more, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{Query: id}); err != nil || len(got) != 0 || more {
			t.Fatalf("ListRepos(%q) = %v, %v, %v", id, got, more, err)
		}
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("%s: %v, want ErrNotFound", what, err)
	}
}
