// Package storetest is the conformance suite every metadata.Store
// implementation passes. Backends call Run from their own tests; it is
// imported only by _test.go files.
package storetest

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/metadata"
)

// Run runs the suite. open returns a fresh, empty store per call; Run
// closes every store it opens (open may register further cleanup, which
// runs after the close).
func Run(t *testing.T, open func(t *testing.T) metadata.Store) {
	tests := []struct {
		desc string
		fn   func(t *testing.T, s metadata.Store)
	}{
		{"CreateRepo_get", testCreateGet},
		{"CreateRepo_createdAtGiven", testCreatedAtGiven},
		{"CreateRepo_ignoresStoreFields", testIgnoresStoreFields},
		{"CreateRepo_empty", testCreateEmpty},
		{"CreateRepo_duplicate", testDuplicate},
		{"CreateRepo_sameIDTwoOrgs", testSameIDTwoOrgs},
		{"CreateRepo_ids", testIDs},
		{"CreateRepo_concurrent", testConcurrentCreate},
		{"DeleteRepo", testDelete},
		{"DeleteRepo_neverExisted", testNeverExisted},
		{"DeleteRepo_recreate", testRecreate},
		{"DeletedRepos", testDeletedRepos},
		{"LiveRepos", testLiveRepos},
		{"ListRepos_order", testListOrder},
		{"ListRepos_paging", testListPaging},
		{"ListRepos_query", testListQuery},
		{"SetDefaultBranch", testSetDefaultBranch},
		{"SetBaseRepo", testSetBaseRepo},
		{"OrgIsolation", testOrgIsolation},
		{"RecordBranch_keepsFirst", testRecordBranchKeepsFirst},
		{"RecordBranch_unknownStorageKey", testRecordBranchUnknown},
		{"Branches_order", testBranchesOrder},
		{"Branches_namespaces", testBranchNamespaces},
		{"ForgetBranch", testForgetBranch},
		{"Branches_recreatedRepo", testBranchesRecreated},
		{"RecordBranch_concurrent", testConcurrentRecordBranch},
		{"RefEvents_empty", testRefEventsEmpty},
		{"AppendRefEvents_fields", testAppendRefEventsFields},
		{"AppendRefEvents_order", testAppendRefEventsOrder},
		{"AppendRefEvents_unknownStorageKey", testAppendRefEventsUnknown},
		{"AppendRefEvents_deletedRepo", testAppendRefEventsDeleted},
		{"RefEvents_paging", testRefEventsPaging},
		{"RefEvents_concurrentTail", testRefEventsConcurrentTail},
		{"LastRefStates", testLastRefStates},
		{"LastRefStates_repositories", testLastRefStatesRepos},
		{"Webhook_createGet", testWebhookCreateGet},
		{"Webhook_delete", testWebhookDelete},
		{"Webhook_enqueueCursor", testWebhookEnqueueCursor},
		{"Webhook_concurrentCursor", testWebhookConcurrentCursor},
		{"Webhook_deliveryHeads", testWebhookDeliveryHeads},
		{"Sync_queue", testSyncQueue},
		{"Sync_coalesce", testSyncCoalesce},
		{"Sync_release", testSyncRelease},
		{"Sync_state", testSyncState},
		{"Mirror_enqueueCursor", testMirrorEnqueueCursor},
		{"Mirror_heads", testMirrorHeads},
		{"GitCredential_createGet", testCredentialCreateGet},
		{"GitCredential_createInvalid", testCredentialCreateInvalid},
		{"GitCredential_createNoRepo", testCredentialCreateNoRepo},
		{"GitCredential_duplicate", testCredentialDuplicate},
		{"GitCredential_concurrentCreate", testCredentialConcurrentCreate},
		{"GitCredential_update", testCredentialUpdate},
		{"GitCredential_delete", testCredentialDelete},
		{"GitCredential_orgIsolation", testCredentialOrgIsolation},
		{"GitCredential_deletedRepo", testCredentialDeletedRepo},
		{"Org_createGet", testOrgCreateGet},
		{"Org_createInvalid", testOrgCreateInvalid},
		{"Org_keys", testOrgKeys},
		{"Org_delete", testOrgDelete},
		{"Org_jwksURL", testOrgJWKSURL},
		{"Org_version", testOrgsVersion},
		{"Org_concurrentAddKey", testOrgConcurrentAddKey},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// storageKeyRE is what "filesystem-safe" means: one path element of
// portable characters.
var storageKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{7,}$`)

func create(t *testing.T, s metadata.Store, org, id string) metadata.Repo {
	t.Helper()
	r, err := s.CreateRepo(t.Context(), metadata.Repo{Org: org, ID: id, DefaultBranch: "main"})
	if err != nil {
		t.Fatalf("CreateRepo(%s, %s): %v", org, id, err)
	}
	return r
}

func get(t *testing.T, s metadata.Store, org, id string) metadata.Repo {
	t.Helper()
	r, err := s.Repo(t.Context(), org, id)
	if err != nil {
		t.Fatalf("Repo(%s, %s): %v", org, id, err)
	}
	return r
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
	// The three sentinels are exclusive.
	for _, other := range []error{metadata.ErrNotFound, metadata.ErrExists, metadata.ErrDeleted} {
		if other != want && errors.Is(err, other) {
			t.Fatalf("%s: error %v matches %v as well as %v", what, err, other, want)
		}
	}
}

func equalRepo(t *testing.T, what string, got, want metadata.Repo) {
	t.Helper()
	if got.Org != want.Org || got.ID != want.ID || got.StorageKey != want.StorageKey ||
		got.DefaultBranch != want.DefaultBranch || got.Seq != want.Seq ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.DeletedAt.Equal(want.DeletedAt) ||
		(got.BaseRepo == nil) != (want.BaseRepo == nil) ||
		(got.BaseRepo != nil && *got.BaseRepo != *want.BaseRepo) {
		t.Fatalf("%s:\n got %s\nwant %s", what, fmtRepo(got), fmtRepo(want))
	}
}

func fmtRepo(r metadata.Repo) string {
	base := "<nil>"
	if r.BaseRepo != nil {
		base = fmt.Sprintf("%+v", *r.BaseRepo)
	}
	return fmt.Sprintf("{Org:%q ID:%q StorageKey:%q DefaultBranch:%q CreatedAt:%s Seq:%d DeletedAt:%s BaseRepo:%s}",
		r.Org, r.ID, r.StorageKey, r.DefaultBranch, r.CreatedAt.Format(time.RFC3339Nano), r.Seq,
		r.DeletedAt.Format(time.RFC3339Nano), base)
}

func ids(repos []metadata.Repo) []string {
	var out []string
	for _, r := range repos {
		out = append(out, r.ID)
	}
	return out
}

func checkUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Fatalf("%s: time %s is not in UTC", what, tm)
	}
}

// sameSecond reports whether a stored time kept at least second precision.
func sameSecond(a, b time.Time) bool {
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

func testCreateGet(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	base := &metadata.BaseRepo{
		Provider: "github", Owner: "octocat", Name: "Hello-World", DefaultBranch: "trunk",
		Operation: "sync", Ref: "trunk", SHA: strings.Repeat("ab", 20), UpstreamHost: "github.example.com",
		AuthType: metadata.AuthGitHubApp,
	}
	before := time.Now()
	got, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "team/project", DefaultBranch: "trunk", BaseRepo: base})
	after := time.Now()
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	if got.Org != "acme" || got.ID != "team/project" || got.DefaultBranch != "trunk" {
		t.Fatalf("CreateRepo returned %s", fmtRepo(got))
	}
	if !storageKeyRE.MatchString(got.StorageKey) {
		t.Fatalf("StorageKey %q is not a filesystem-safe name", got.StorageKey)
	}
	if got.Seq <= 0 {
		t.Fatalf("Seq = %d, want > 0", got.Seq)
	}
	checkUTC(t, "CreatedAt", got.CreatedAt)
	if got.CreatedAt.Before(before.Add(-time.Second)) || got.CreatedAt.After(after.Add(time.Second)) {
		t.Fatalf("CreatedAt %s not between %s and %s", got.CreatedAt, before, after)
	}
	if !got.DeletedAt.IsZero() {
		t.Fatalf("DeletedAt = %s on a live repo", got.DeletedAt)
	}
	if got.BaseRepo == nil || *got.BaseRepo != *base {
		t.Fatalf("BaseRepo = %+v, want %+v", got.BaseRepo, *base)
	}
	// The result must not alias the caller's BaseRepo.
	base.Name = "changed"
	if got.BaseRepo.Name != "Hello-World" {
		t.Fatalf("CreateRepo result aliases the caller's BaseRepo")
	}

	equalRepo(t, "Repo after CreateRepo", get(t, s, "acme", "team/project"), got)
	if list, _, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{}); err != nil || len(list) != 1 {
		t.Fatalf("ListRepos = %q, %v", ids(list), err)
	} else {
		equalRepo(t, "ListRepos after CreateRepo", list[0], got)
	}

	plain := create(t, s, "acme", "plain")
	if g := get(t, s, "acme", "plain"); g.BaseRepo != nil {
		t.Fatalf("BaseRepo = %+v, want nil", *g.BaseRepo)
	}
	if plain.StorageKey == got.StorageKey {
		t.Fatalf("two repos share StorageKey %q", plain.StorageKey)
	}
	if plain.Seq <= got.Seq {
		t.Fatalf("Seq %d of a later repo not above %d", plain.Seq, got.Seq)
	}

	// A base repo with only a provider set is still present.
	fork, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "fork", BaseRepo: &metadata.BaseRepo{Provider: "code"}})
	if err != nil {
		t.Fatalf("CreateRepo(fork): %v", err)
	}
	equalRepo(t, "fork", get(t, s, "acme", "fork"), fork)
}

func testCreatedAtGiven(t *testing.T, s metadata.Store) {
	when := time.Date(2024, 1, 15, 10, 30, 0, 123456789, time.FixedZone("CET", 3600))
	got, err := s.CreateRepo(t.Context(), metadata.Repo{Org: "acme", ID: "r", DefaultBranch: "main", CreatedAt: when})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	checkUTC(t, "CreatedAt", got.CreatedAt)
	if !sameSecond(got.CreatedAt, when) {
		t.Fatalf("CreatedAt = %s, want %s", got.CreatedAt, when)
	}
	equalRepo(t, "Repo", get(t, s, "acme", "r"), got)
}

func testIgnoresStoreFields(t *testing.T, s metadata.Store) {
	got, err := s.CreateRepo(t.Context(), metadata.Repo{
		Org: "acme", ID: "r", DefaultBranch: "main",
		StorageKey: "../../etc", Seq: 1 << 40, DeletedAt: time.Now(),
	})
	if err != nil {
		t.Fatalf("CreateRepo: %v", err)
	}
	if got.StorageKey == "../../etc" || !storageKeyRE.MatchString(got.StorageKey) || got.Seq == 1<<40 || !got.DeletedAt.IsZero() {
		t.Fatalf("CreateRepo kept caller-set store fields: %s", fmtRepo(got))
	}
	equalRepo(t, "Repo", get(t, s, "acme", "r"), got)
}

func testCreateEmpty(t *testing.T, s metadata.Store) {
	for _, r := range []metadata.Repo{{Org: "", ID: "x"}, {Org: "acme", ID: ""}} {
		if _, err := s.CreateRepo(t.Context(), r); err == nil {
			t.Fatalf("CreateRepo(%q, %q) succeeded", r.Org, r.ID)
		}
	}
}

func testDuplicate(t *testing.T, s metadata.Store) {
	first := create(t, s, "acme", "dup")
	_, err := s.CreateRepo(t.Context(), metadata.Repo{Org: "acme", ID: "dup", DefaultBranch: "other"})
	wantErr(t, "second CreateRepo", err, metadata.ErrExists)
	equalRepo(t, "Repo after failed duplicate", get(t, s, "acme", "dup"), first)
}

func testSameIDTwoOrgs(t *testing.T, s metadata.Store) {
	a := create(t, s, "acme", "shared")
	b := create(t, s, "globex", "shared")
	if a.StorageKey == b.StorageKey {
		t.Fatalf("two orgs share StorageKey %q", a.StorageKey)
	}
	equalRepo(t, "acme", get(t, s, "acme", "shared"), a)
	equalRepo(t, "globex", get(t, s, "globex", "shared"), b)
	if _, err := s.DeleteRepo(t.Context(), "acme", "shared"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	equalRepo(t, "globex after acme's delete", get(t, s, "globex", "shared"), b)
}

func testIDs(t *testing.T, s metadata.Store) {
	all := []string{
		"team/project",
		"sdk-full-workflow-123/nested/deeper",
		"Case", "case", // IDs are case-sensitive
		"ünïcødé/リポジトリ",
		"../escape",
		"with space",
		"100%_like",
		"0b4f5c6e-8d1a-4b2c-9e3f-1a2b3c4d5e6f",
		"trailing/",
	}
	created := map[string]metadata.Repo{}
	for _, id := range all {
		r := create(t, s, "acme", id)
		if strings.Contains(r.StorageKey, "/") || strings.Contains(r.StorageKey, "escape") {
			t.Fatalf("StorageKey %q of %q is derived from the id", r.StorageKey, id)
		}
		created[id] = r
	}
	for _, id := range all {
		equalRepo(t, "Repo("+id+")", get(t, s, "acme", id), created[id])
	}
	_, err := s.Repo(t.Context(), "acme", "CASE")
	wantErr(t, "Repo(CASE)", err, metadata.ErrNotFound)
	_, err = s.Repo(t.Context(), "acme", "team")
	wantErr(t, "Repo(team)", err, metadata.ErrNotFound)
	got, _, err := s.ListRepos(t.Context(), "acme", metadata.ListReposOptions{})
	if err != nil {
		t.Fatalf("ListRepos: %v", err)
	}
	if !slices.Equal(ids(got), all) {
		t.Fatalf("ListRepos = %q, want %q", ids(got), all)
	}
}

func testConcurrentCreate(t *testing.T, s metadata.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.CreateRepo(t.Context(), metadata.Repo{Org: "acme", ID: "race", DefaultBranch: fmt.Sprint("b", i)})
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, metadata.ErrExists):
			t.Errorf("goroutine %d: %v, want nil or ErrExists", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent creates succeeded, want 1", ok, n)
	}
	got, _, err := s.ListRepos(t.Context(), "acme", metadata.ListReposOptions{})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListRepos = %q, %v; want one repo", ids(got), err)
	}
}

func testDelete(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "team/doomed")
	before := time.Now()
	del, err := s.DeleteRepo(ctx, "acme", "team/doomed")
	if err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	if del.DeletedAt.IsZero() || del.DeletedAt.Before(before.Add(-time.Second)) {
		t.Fatalf("DeletedAt = %s, want about %s", del.DeletedAt, before)
	}
	checkUTC(t, "DeletedAt", del.DeletedAt)
	r.DeletedAt = del.DeletedAt
	equalRepo(t, "DeleteRepo result", del, r)

	_, err = s.Repo(ctx, "acme", "team/doomed")
	wantErr(t, "Repo after delete", err, metadata.ErrDeleted)
	_, err = s.DeleteRepo(ctx, "acme", "team/doomed")
	wantErr(t, "second DeleteRepo", err, metadata.ErrDeleted)
	err = s.SetDefaultBranch(ctx, "acme", "team/doomed", "x")
	wantErr(t, "SetDefaultBranch after delete", err, metadata.ErrDeleted)
	err = s.SetBaseRepo(ctx, "acme", "team/doomed", nil)
	wantErr(t, "SetBaseRepo after delete", err, metadata.ErrDeleted)
	got, _, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("ListRepos after delete = %q, %v; want none", ids(got), err)
	}
}

func testNeverExisted(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	create(t, s, "acme", "other")
	_, err := s.Repo(ctx, "acme", "ghost")
	wantErr(t, "Repo", err, metadata.ErrNotFound)
	_, err = s.DeleteRepo(ctx, "acme", "ghost")
	wantErr(t, "DeleteRepo", err, metadata.ErrNotFound)
	err = s.SetDefaultBranch(ctx, "acme", "ghost", "main")
	wantErr(t, "SetDefaultBranch", err, metadata.ErrNotFound)
	err = s.SetBaseRepo(ctx, "acme", "ghost", nil)
	wantErr(t, "SetBaseRepo", err, metadata.ErrNotFound)
}

func testRecreate(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	old := create(t, s, "acme", "phoenix")
	if _, err := s.DeleteRepo(ctx, "acme", "phoenix"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	reborn, err := s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "phoenix", DefaultBranch: "trunk"})
	if err != nil {
		t.Fatalf("CreateRepo after delete: %v", err)
	}
	if reborn.StorageKey == old.StorageKey {
		t.Fatalf("recreated repo reuses StorageKey %q", old.StorageKey)
	}
	if reborn.Seq <= old.Seq {
		t.Fatalf("recreated Seq %d not above %d", reborn.Seq, old.Seq)
	}
	equalRepo(t, "Repo after recreate", get(t, s, "acme", "phoenix"), reborn)
	_, err = s.CreateRepo(ctx, metadata.Repo{Org: "acme", ID: "phoenix"})
	wantErr(t, "CreateRepo of the live recreated repo", err, metadata.ErrExists)

	del, err := s.DeleteRepo(ctx, "acme", "phoenix")
	if err != nil {
		t.Fatalf("DeleteRepo of recreated repo: %v", err)
	}
	if del.StorageKey != reborn.StorageKey {
		t.Fatalf("DeleteRepo deleted %q, want the live %q", del.StorageKey, reborn.StorageKey)
	}
	_, err = s.DeleteRepo(ctx, "acme", "phoenix")
	wantErr(t, "third DeleteRepo", err, metadata.ErrDeleted)
	_, err = s.Repo(ctx, "acme", "phoenix")
	wantErr(t, "Repo with two tombstones", err, metadata.ErrDeleted)
}

func testDeletedRepos(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	none, err := s.DeletedRepos(ctx)
	if err != nil || len(none) != 0 {
		t.Fatalf("DeletedRepos on empty store = %q, %v", ids(none), err)
	}
	a := create(t, s, "acme", "a")
	create(t, s, "acme", "live")
	b := create(t, s, "globex", "b")
	var want []string
	for _, r := range []metadata.Repo{b, a} {
		if _, err := s.DeleteRepo(ctx, r.Org, r.ID); err != nil {
			t.Fatalf("DeleteRepo: %v", err)
		}
		want = append(want, r.Org+":"+r.StorageKey)
	}
	got, err := s.DeletedRepos(ctx)
	if err != nil {
		t.Fatalf("DeletedRepos: %v", err)
	}
	var keys []string
	for _, r := range got {
		if r.DeletedAt.IsZero() {
			t.Fatalf("DeletedRepos returned %s without DeletedAt", fmtRepo(r))
		}
		keys = append(keys, r.Org+":"+r.StorageKey)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("DeletedRepos = %q, want %q (deletion order)", keys, want)
	}
}

func testLiveRepos(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	none, err := s.LiveRepos(ctx)
	if err != nil || len(none) != 0 {
		t.Fatalf("LiveRepos on empty store = %q, %v", ids(none), err)
	}
	var want []metadata.Repo
	for i, org := range []string{"globex", "acme", "globex", "initech"} {
		want = append(want, create(t, s, org, fmt.Sprintf("r%d", 9-i)))
	}
	gone := create(t, s, "acme", "gone")
	phoenix := create(t, s, "acme", "phoenix")
	for _, id := range []string{"gone", "phoenix"} {
		if _, err := s.DeleteRepo(ctx, "acme", id); err != nil {
			t.Fatalf("DeleteRepo: %v", err)
		}
	}
	reborn := create(t, s, "acme", "phoenix")
	want = append(want, reborn)
	got, err := s.LiveRepos(ctx)
	if err != nil {
		t.Fatalf("LiveRepos: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("LiveRepos = %q, want %q (every org, no tombstones)", ids(got), ids(want))
	}
	for i := range got {
		equalRepo(t, fmt.Sprintf("LiveRepos[%d]", i), got[i], want[i])
		if got[i].StorageKey == gone.StorageKey || got[i].StorageKey == phoenix.StorageKey {
			t.Fatalf("LiveRepos returned the tombstone %s", fmtRepo(got[i]))
		}
	}
}

func testListOrder(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	var want []string
	var prev int64
	for i := range 5 {
		id := fmt.Sprintf("r%d", 4-i) // creation order differs from name order
		r := create(t, s, "acme", id)
		if r.Seq <= prev {
			t.Fatalf("Seq %d not increasing after %d", r.Seq, prev)
		}
		prev = r.Seq
		want = append(want, id)
		create(t, s, "globex", "g"+id)
	}
	if _, err := s.DeleteRepo(ctx, "acme", "r2"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	want = slices.DeleteFunc(want, func(id string) bool { return id == "r2" })

	got, more, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{})
	if err != nil {
		t.Fatalf("ListRepos: %v", err)
	}
	if !slices.Equal(ids(got), want) || more {
		t.Fatalf("ListRepos = %q, hasMore %v; want %q, false", ids(got), more, want)
	}
	for _, r := range got {
		equalRepo(t, "listed "+r.ID, r, get(t, s, "acme", r.ID))
	}
	got, more, err = s.ListRepos(ctx, "nobody", metadata.ListReposOptions{Limit: 10})
	if err != nil || len(got) != 0 || more {
		t.Fatalf("ListRepos(empty org) = %q, %v, %v", ids(got), more, err)
	}
}

func testListPaging(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	var all []string
	for i := range 5 {
		all = append(all, create(t, s, "acme", fmt.Sprint("p", i)).ID)
	}
	if _, err := s.DeleteRepo(ctx, "acme", "p4"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	all = all[:4] // the deleted last repo must not make hasMore true

	for _, tc := range []struct {
		desc  string
		limit int
		pages [][]string
	}{
		{"exact pages", 2, [][]string{{"p0", "p1"}, {"p2", "p3"}}},
		{"short last page", 3, [][]string{{"p0", "p1", "p2"}, {"p3"}}},
		{"one page", 4, [][]string{all}},
		{"limit above count", 100, [][]string{all}},
		{"limit one", 1, [][]string{{"p0"}, {"p1"}, {"p2"}, {"p3"}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var after int64
			for i, want := range tc.pages {
				got, more, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{AfterSeq: after, Limit: tc.limit})
				if err != nil {
					t.Fatalf("page %d: %v", i, err)
				}
				wantMore := i < len(tc.pages)-1
				if !slices.Equal(ids(got), want) || more != wantMore {
					t.Fatalf("page %d = %q, hasMore %v; want %q, %v", i, ids(got), more, want, wantMore)
				}
				after = got[len(got)-1].Seq
			}
		})
	}

	// Paging resumes by Seq, so a repo deleted between pages does not shift
	// the next one.
	first, _, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{Limit: 2})
	if err != nil {
		t.Fatalf("ListRepos: %v", err)
	}
	if _, err := s.DeleteRepo(ctx, "acme", "p1"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	next, more, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{AfterSeq: first[1].Seq, Limit: 2})
	if err != nil || !slices.Equal(ids(next), []string{"p2", "p3"}) || more {
		t.Fatalf("page after deletion = %q, %v, %v; want [p2 p3], false", ids(next), more, err)
	}
}

func testListQuery(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	for _, id := range []string{"Team/Alpha", "team/beta", "other", "ÜBER/Straße", "100%_done", "1000done", "gone-team"} {
		create(t, s, "acme", id)
	}
	create(t, s, "globex", "team/globex")
	if _, err := s.DeleteRepo(ctx, "acme", "gone-team"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"team", []string{"Team/Alpha", "team/beta"}},
		{"TEAM/", []string{"Team/Alpha", "team/beta"}},
		{"über", []string{"ÜBER/Straße"}},
		{"STRAßE", []string{"ÜBER/Straße"}},
		{"%", []string{"100%_done"}}, // a literal, not a wildcard
		{"_", []string{"100%_done"}},
		{"0%_d", []string{"100%_done"}},
		{"ALPHA", []string{"Team/Alpha"}},
		{"nothing", nil},
		{"", []string{"Team/Alpha", "team/beta", "other", "ÜBER/Straße", "100%_done", "1000done"}},
	} {
		got, more, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{Query: tc.query})
		if err != nil {
			t.Fatalf("ListRepos(%q): %v", tc.query, err)
		}
		if !slices.Equal(ids(got), tc.want) || more {
			t.Fatalf("ListRepos(%q) = %q, hasMore %v; want %q, false", tc.query, ids(got), more, tc.want)
		}
	}
	// hasMore counts matches only.
	got, more, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{Query: "TEAM", Limit: 1})
	if err != nil || !slices.Equal(ids(got), []string{"Team/Alpha"}) || !more {
		t.Fatalf("page 1 = %q, %v, %v; want [Team/Alpha], true", ids(got), more, err)
	}
	got, more, err = s.ListRepos(ctx, "acme", metadata.ListReposOptions{Query: "TEAM", Limit: 1, AfterSeq: got[0].Seq})
	if err != nil || !slices.Equal(ids(got), []string{"team/beta"}) || more {
		t.Fatalf("page 2 = %q, %v, %v; want [team/beta], false", ids(got), more, err)
	}
}

func testSetDefaultBranch(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	create(t, s, "acme", "bystander")
	if err := s.SetDefaultBranch(ctx, "acme", "r", "release/2.0"); err != nil {
		t.Fatalf("SetDefaultBranch: %v", err)
	}
	r.DefaultBranch = "release/2.0"
	equalRepo(t, "Repo", get(t, s, "acme", "r"), r)
	list, _, err := s.ListRepos(ctx, "acme", metadata.ListReposOptions{Limit: 1})
	if err != nil || len(list) != 1 || list[0].DefaultBranch != "release/2.0" {
		t.Fatalf("ListRepos = %+v, %v", list, err)
	}
	if b := get(t, s, "acme", "bystander").DefaultBranch; b != "main" {
		t.Fatalf("other repo's default branch changed to %q", b)
	}
}

func testSetBaseRepo(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "r")
	create(t, s, "acme", "bystander")
	base := &metadata.BaseRepo{Provider: "gitlab", Owner: "o", Name: "n", DefaultBranch: "trunk",
		Operation: "sync", Ref: "r", SHA: strings.Repeat("a", 40), UpstreamHost: "git.example.com", AuthType: metadata.AuthPublic}
	if err := s.SetBaseRepo(ctx, "acme", "r", base); err != nil {
		t.Fatalf("SetBaseRepo: %v", err)
	}
	want := *base
	r.BaseRepo = &want
	equalRepo(t, "Repo after attach", get(t, s, "acme", "r"), r)
	if b := get(t, s, "acme", "bystander").BaseRepo; b != nil {
		t.Fatalf("other repo's base changed to %+v", b)
	}
	if err := s.SetBaseRepo(ctx, "globex", "r", nil); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("SetBaseRepo from another org = %v, want ErrNotFound", err)
	}
	for range 2 { // detaching is idempotent
		if err := s.SetBaseRepo(ctx, "acme", "r", nil); err != nil {
			t.Fatalf("SetBaseRepo(nil): %v", err)
		}
		r.BaseRepo = nil
		equalRepo(t, "Repo after detach", get(t, s, "acme", "r"), r)
	}
}

func testOrgIsolation(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	r := create(t, s, "acme", "secret")
	_, err := s.Repo(ctx, "globex", "secret")
	wantErr(t, "Repo from another org", err, metadata.ErrNotFound)
	_, err = s.DeleteRepo(ctx, "globex", "secret")
	wantErr(t, "DeleteRepo from another org", err, metadata.ErrNotFound)
	err = s.SetDefaultBranch(ctx, "globex", "secret", "evil")
	wantErr(t, "SetDefaultBranch from another org", err, metadata.ErrNotFound)
	got, _, err := s.ListRepos(ctx, "globex", metadata.ListReposOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("ListRepos(globex) = %q, %v", ids(got), err)
	}
	equalRepo(t, "owner's view", get(t, s, "acme", "secret"), r)

	// A tombstone in one org is not visible from another.
	if _, err := s.DeleteRepo(ctx, "acme", "secret"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	_, err = s.Repo(ctx, "globex", "secret")
	wantErr(t, "Repo of another org's tombstone", err, metadata.ErrNotFound)
}

func branches(t *testing.T, s metadata.Store, key, ns string) []metadata.BranchRecord {
	t.Helper()
	bs, err := s.Branches(t.Context(), key, ns)
	if err != nil {
		t.Fatalf("Branches(%s, %q): %v", key, ns, err)
	}
	for _, b := range bs {
		checkUTC(t, "branch "+b.Name, b.CreatedAt)
	}
	return bs
}

func names(bs []metadata.BranchRecord) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func record(t *testing.T, s metadata.Store, key, ns, name string, at time.Time) {
	t.Helper()
	if err := s.RecordBranch(t.Context(), key, ns, name, at); err != nil {
		t.Fatalf("RecordBranch(%s, %q, %s): %v", key, ns, name, err)
	}
}

// base is a fixed time with sub-second digits, far from second boundaries.
var base = time.Date(2024, 3, 1, 12, 0, 0, 250_000_000, time.UTC)

func testRecordBranchKeepsFirst(t *testing.T, s metadata.Store) {
	key := create(t, s, "acme", "r").StorageKey
	first := base.In(time.FixedZone("X", -7*3600))
	record(t, s, key, "", "main", first)
	record(t, s, key, "", "main", base.Add(time.Hour))
	record(t, s, key, "", "main", first)
	bs := branches(t, s, key, "")
	if len(bs) != 1 || bs[0].Name != "main" || !sameSecond(bs[0].CreatedAt, first) {
		t.Fatalf("Branches = %+v, want main at %s", bs, first)
	}

	// A zero time means now.
	before := time.Now()
	record(t, s, key, "", "now", time.Time{})
	bs = branches(t, s, key, "")
	if len(bs) != 2 || bs[1].CreatedAt.Before(before.Add(-time.Second)) || bs[1].CreatedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("Branches = %+v, want now recorded about %s", bs, before)
	}
}

func testRecordBranchUnknown(t *testing.T, s metadata.Store) {
	err := s.RecordBranch(t.Context(), "0123456789abcdef0123456789abcdef", "", "main", base)
	wantErr(t, "RecordBranch for an unknown storage key", err, metadata.ErrNotFound)
}

func testBranchesOrder(t *testing.T, s metadata.Store) {
	key := create(t, s, "acme", "r").StorageKey
	record(t, s, key, "", "b-second", base.Add(2*time.Second))
	record(t, s, key, "", "a-third", base.Add(3*time.Second))
	// Back-filled with an earlier time (a ref found on a fork): sorts first.
	record(t, s, key, "", "z-first", base.Add(time.Second))
	// Equal times keep insertion order.
	record(t, s, key, "", "y-tie-1", base.Add(4*time.Second))
	record(t, s, key, "", "x-tie-2", base.Add(4*time.Second))
	bs := branches(t, s, key, "")
	want := []string{"z-first", "b-second", "a-third", "y-tie-1", "x-tie-2"}
	if !slices.Equal(names(bs), want) {
		t.Fatalf("Branches = %q, want %q", names(bs), want)
	}
	for i, b := range bs {
		if i > 0 && b.Seq == bs[i-1].Seq {
			t.Fatalf("branches %q and %q share Seq %d", bs[i-1].Name, b.Name, b.Seq)
		}
	}
	if !sameSecond(bs[0].CreatedAt, base.Add(time.Second)) {
		t.Fatalf("z-first CreatedAt = %s", bs[0].CreatedAt)
	}
	if bs := branches(t, s, "0123456789abcdef0123456789abcdef", ""); len(bs) != 0 {
		t.Fatalf("Branches of an unknown key = %q", names(bs))
	}
}

func testBranchNamespaces(t *testing.T, s metadata.Store) {
	key := create(t, s, "acme", "r").StorageKey
	record(t, s, key, "", "main", base)
	record(t, s, key, "ephemeral", "main", base.Add(time.Hour))
	record(t, s, key, "ephemeral", "scratch", base.Add(2*time.Hour))
	if got := names(branches(t, s, key, "")); !slices.Equal(got, []string{"main"}) {
		t.Fatalf("normal Branches = %q", got)
	}
	eph := branches(t, s, key, "ephemeral")
	if !slices.Equal(names(eph), []string{"main", "scratch"}) || !sameSecond(eph[0].CreatedAt, base.Add(time.Hour)) {
		t.Fatalf("ephemeral Branches = %+v", eph)
	}
	if err := s.ForgetBranch(t.Context(), key, "ephemeral", "main"); err != nil {
		t.Fatalf("ForgetBranch: %v", err)
	}
	if got := names(branches(t, s, key, "")); !slices.Equal(got, []string{"main"}) {
		t.Fatalf("ForgetBranch in ephemeral removed the normal branch: %q", got)
	}
	// Another repository's records are separate.
	other := create(t, s, "acme", "other").StorageKey
	if got := branches(t, s, other, ""); len(got) != 0 {
		t.Fatalf("Branches of another repo = %q", names(got))
	}
}

func testForgetBranch(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	key := create(t, s, "acme", "r").StorageKey
	record(t, s, key, "", "a", base)
	record(t, s, key, "", "b", base.Add(time.Second))
	record(t, s, key, "", "c", base.Add(2*time.Second))
	if err := s.ForgetBranch(ctx, key, "", "a"); err != nil {
		t.Fatalf("ForgetBranch: %v", err)
	}
	if err := s.ForgetBranch(ctx, key, "", "a"); err != nil {
		t.Fatalf("ForgetBranch of an absent branch: %v", err)
	}
	if err := s.ForgetBranch(ctx, "0123456789abcdef0123456789abcdef", "", "a"); err != nil {
		t.Fatalf("ForgetBranch for an unknown key: %v", err)
	}
	// Recreated after deletion: a new time, and last in order.
	record(t, s, key, "", "a", base.Add(time.Hour))
	bs := branches(t, s, key, "")
	if !slices.Equal(names(bs), []string{"b", "c", "a"}) || !sameSecond(bs[2].CreatedAt, base.Add(time.Hour)) {
		t.Fatalf("Branches = %+v, want b, c, a (new time)", bs)
	}
}

func testBranchesRecreated(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	old := create(t, s, "acme", "r")
	record(t, s, old.StorageKey, "", "main", base)
	if _, err := s.DeleteRepo(ctx, "acme", "r"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	// A deleted repo's records stay reachable (and writable) by its key
	// until cleanup.
	record(t, s, old.StorageKey, "", "late", base.Add(time.Second))
	if got := names(branches(t, s, old.StorageKey, "")); !slices.Equal(got, []string{"main", "late"}) {
		t.Fatalf("Branches of deleted repo = %q", got)
	}
	reborn := create(t, s, "acme", "r")
	if got := branches(t, s, reborn.StorageKey, ""); len(got) != 0 {
		t.Fatalf("recreated repo starts with branches %q", names(got))
	}
}

func testConcurrentRecordBranch(t *testing.T, s metadata.Store) {
	ctx := t.Context()
	key := create(t, s, "acme", "busy").StorageKey
	const writers, perWriter = 32, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter*4)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				name := fmt.Sprintf("w%02d/b%02d", w, i)
				at := base.Add(time.Duration(w*perWriter+i) * time.Second)
				if err := s.RecordBranch(ctx, key, "", name, at); err != nil {
					errs <- err
				}
				// Every writer also re-records a shared branch and removes
				// one: contention on the same rows.
				if err := s.RecordBranch(ctx, key, "", "shared", at); err != nil {
					errs <- err
				}
				if err := s.ForgetBranch(ctx, key, "ephemeral", name); err != nil {
					errs <- err
				}
			}
		})
		// Readers run beside the writers.
		wg.Go(func() {
			for range perWriter {
				if _, err := s.Branches(ctx, key, ""); err != nil {
					errs <- err
				}
				if _, err := s.Repo(ctx, "acme", "busy"); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent branch op: %v", err)
	}
	bs := branches(t, s, key, "")
	if len(bs) != writers*perWriter+1 {
		t.Fatalf("got %d branch records, want %d", len(bs), writers*perWriter+1)
	}
}
