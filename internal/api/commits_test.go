package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// commitJSON is the commit object of spec §5.9.1.
type commitJSON struct {
	SHA            string   `json:"sha"`
	ParentSHAs     []string `json:"parent_shas"`
	Message        string   `json:"message"`
	AuthorName     string   `json:"author_name"`
	AuthorEmail    string   `json:"author_email"`
	CommitterName  string   `json:"committer_name"`
	CommitterEmail string   `json:"committer_email"`
	Date           string   `json:"date"`
}

// wantCommitObject checks the required fields of one commit object.
func wantCommitObject(t testing.TB, m map[string]any) {
	t.Helper()
	for _, k := range []string{"sha", "message", "author_name", "author_email", "committer_name", "committer_email", "date"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("commit.%s = %#v, want a string", k, m[k])
		}
	}
	if _, ok := m["parent_shas"].([]any); !ok {
		t.Errorf("commit.parent_shas = %#v, want an array", m["parent_shas"])
	}
	if d, _ := m["date"].(string); d != "" {
		if _, err := time.Parse(time.RFC3339, d); err != nil {
			t.Errorf("date %q is not RFC 3339: %v", d, err)
		}
	}
}

// listCommits fetches one page of GET /repos/commits.
func (r *testRepo) listCommits(t testing.TB, query string) ([]commitJSON, bool, string) {
	t.Helper()
	resp := r.e.do(t, "GET", "/api/v1/repos/commits"+query, r.Read, nil)
	wantStatus(t, resp, http.StatusOK)
	more, next := wantPaging(t, resp)
	raw, ok := object(t, resp)["commits"].([]any)
	if !ok {
		t.Fatalf("commits is not an array: %s", resp.Body)
	}
	for _, c := range raw {
		wantCommitObject(t, c.(map[string]any))
	}
	var page struct {
		Commits []commitJSON `json:"commits"`
	}
	decode(t, resp, &page)
	return page.Commits, more, next
}

// revList is git's answer: the commits of rev newest first, with parents.
func revList(t testing.TB, dir string, args ...string) (shas []string, parents map[string][]string) {
	t.Helper()
	parents = map[string][]string{}
	out := gitRun(t, dir, nil, append([]string{"rev-list", "--parents"}, args...)...)
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		shas = append(shas, f[0])
		parents[f[0]] = append([]string{}, f[1:]...)
	}
	return shas, parents
}

func TestListCommits(t *testing.T) {
	t.Parallel()
	e := start(t)

	// main: 7 commits, some touching docs/; feature: 2 more on top of the
	// fourth; ephemeral scratch: 1 on top of main.
	r, _ := e.seededRepo(t, upsert("README.md", "0"))
	msgs := []string{"test commit"}
	for i, op := range []fileOp{
		upsert("docs/a.md", "a"), upsert("src/x.go", "x"), upsert("docs/b.md", "b"),
		upsert("src/y.go", "y"), upsert("docs/a.md", "a2"), del("src/x.go"),
	} {
		msg := "commit " + string(rune('1'+i)) + "\n\nwith a body line\n"
		r.commit(t, newMeta("main", "commit_message", msg), op)
		msgs = append(msgs, msg)
	}
	dir := r.Dir(t)
	fourth := r.git(t, "rev-parse", "main~3")
	r.commit(t, newMeta("feature", "base_branch", "main"), upsert("f1", "1"))
	r.commit(t, newMeta("feature"), upsert("f2", "2"))
	r.commit(t, newMeta("scratch", "base_branch", "main", "ephemeral", true), upsert("s", "s"))

	t.Run("newest first with parents", func(t *testing.T) {
		t.Parallel()
		got, more, _ := r.listCommits(t, "")
		want, parents := revList(t, dir, "main")
		if more {
			t.Error("has_more with 7 commits and the default limit 20")
		}
		var shas []string
		for _, c := range got {
			shas = append(shas, c.SHA)
			if !slices.Equal(c.ParentSHAs, parents[c.SHA]) {
				t.Errorf("%s parent_shas = %v, want %v", c.SHA, c.ParentSHAs, parents[c.SHA])
			}
			if c.AuthorName != "Test Author" || c.AuthorEmail != "author@example.com" || c.CommitterName != "Test Author" || c.CommitterEmail != "author@example.com" {
				t.Errorf("%s identity = %+v", c.SHA, c)
			}
		}
		if !slices.Equal(shas, want) {
			t.Fatalf("commits = %v\nwant %v", shas, want)
		}
		for i, c := range got {
			want := strings.TrimRight(msgs[len(msgs)-1-i], "\n")
			if strings.TrimRight(c.Message, "\n") != want {
				t.Errorf("message of %s = %q, want %q", c.SHA, c.Message, want)
			}
		}
		if got[len(got)-1].ParentSHAs == nil {
			t.Error("root commit parent_shas decoded as null, want []")
		}
	})
	t.Run("pages cover every commit once", func(t *testing.T) {
		t.Parallel()
		want, _ := revList(t, dir, "main")
		for _, limit := range []string{"1", "2", "3", "7", "100"} {
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(want)+1 {
					t.Fatalf("limit %s: pagination does not end", limit)
				}
				q := "?limit=" + limit
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				page, more, next := r.listCommits(t, q)
				for _, c := range page {
					got = append(got, c.SHA)
				}
				if !more {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %s: pages = %v\nwant %v", limit, got, want)
			}
		}
	})
	t.Run("pages stay on the first tip", func(t *testing.T) {
		t.Parallel()
		own, _ := e.seededRepo(t)
		own.commit(t, newMeta("main"), upsert("2", "2"))
		own.commit(t, newMeta("main"), upsert("3", "3"))
		want, _ := revList(t, own.Dir(t), "main")
		page, more, next := own.listCommits(t, "?limit=2")
		if !more || len(page) != 2 {
			t.Fatalf("first page: %d commits, has_more %v", len(page), more)
		}
		// The branch moves between pages; the cursor keeps walking the old tip.
		own.commit(t, newMeta("main"), upsert("4", "4"))
		rest, more, _ := own.listCommits(t, "?limit=100&cursor="+url.QueryEscape(next))
		var got []string
		for _, c := range append(page, rest...) {
			got = append(got, c.SHA)
		}
		if more || !slices.Equal(got, want) {
			t.Errorf("pages = %v (has_more %v)\nwant %v", got, more, want)
		}
	})
	for _, tc := range []struct {
		desc  string
		query string
		git   []string
	}{
		{desc: "path filter on a directory", query: "?path=docs", git: []string{"main", "--", "docs"}},
		{desc: "path filter on a file", query: "?path=docs/a.md", git: []string{"main", "--", "docs/a.md"}},
		{desc: "path filter on a deleted file", query: "?path=src/x.go", git: []string{"main", "--", "src/x.go"}},
		{desc: "branch", query: "?branch=feature", git: []string{"feature"}},
		{desc: "full ref name", query: "?branch=refs/heads/feature", git: []string{"feature"}},
		{desc: "sha as branch", query: "?branch=" + fourth, git: []string{fourth}},
		{desc: "branch and path", query: "?branch=feature&path=f1", git: []string{"feature", "--", "f1"}},
		{desc: "ephemeral", query: "?branch=scratch&ephemeral=true", git: []string{"refs/namespaces/ephemeral/refs/heads/scratch"}},
		{desc: "limit 0 means the default", query: "?limit=0", git: []string{"main"}},
		{desc: "empty cursor is absent", query: "?cursor=&branch=feature", git: []string{"feature"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			page, more, _ := r.listCommits(t, tc.query)
			want, _ := revList(t, dir, tc.git...)
			var got []string
			for _, c := range page {
				got = append(got, c.SHA)
			}
			if more || !slices.Equal(got, want) {
				t.Errorf("commits = %v (has_more %v)\nwant %v", got, more, want)
			}
		})
	}
	for _, tc := range []struct {
		desc, query string
		status      int
	}{
		{"unknown branch", "?branch=nope", http.StatusNotFound},
		{"ephemeral branch in the normal namespace", "?branch=scratch", http.StatusNotFound},
		{"normal branch in the ephemeral namespace", "?branch=feature&ephemeral=true", http.StatusNotFound},
		{"unknown sha", "?branch=" + strings.Repeat("e", 40), http.StatusNotFound},
		{"path escaping the repository", "?path=../x", http.StatusBadRequest},
		{"garbage cursor", "?cursor=%25%25garbage", http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			wantError(t, e.do(t, "GET", "/api/v1/repos/commits"+tc.query, r.Read, nil), tc.status)
		})
	}
	t.Run("empty repository", func(t *testing.T) {
		t.Parallel()
		empty := e.newRepo(t)
		resp := e.do(t, "GET", "/api/v1/repos/commits", empty.Read, nil)
		wantStatus(t, resp, http.StatusOK)
		more, _ := wantPaging(t, resp)
		if list, ok := object(t, resp)["commits"].([]any); !ok || len(list) != 0 || more {
			t.Errorf("empty repository: %s, want commits [] and has_more false", resp.Body)
		}
	})
}

func TestGetCommit(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, c1 := e.seededRepo(t)
	meta := newMeta("main",
		"commit_message", "Subject line\n\nBody paragraph\nsecond line\n",
		"author", map[string]any{"name": "Ada", "email": "ada@example.com"},
		"committer", map[string]any{"name": "Cy", "email": "cy@example.com"})
	c2 := r.commit(t, meta, upsert("x", "x")).Commit.CommitSHA
	dir := r.Dir(t)

	for _, tc := range []struct {
		desc, sha, want string
	}{
		{"full sha", c2, c2},
		{"short sha", c2[:8], c2},
		{"branch", "main", c2},
		{"revision expression", "main~1", c1},
		{"root commit", c1, c1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			c := r.getCommit(t, tc.sha)
			wantCommitObject(t, c)
			if c["sha"] != tc.want {
				t.Fatalf("sha = %v, want %s", c["sha"], tc.want)
			}
			for _, k := range []string{"signature", "payload"} {
				if v, ok := c[k]; ok {
					t.Errorf("unsigned commit has %s = %#v; want the key omitted", k, v)
				}
			}
			_, parents := revList(t, dir, "-1", tc.want)
			got := []string{}
			for _, p := range c["parent_shas"].([]any) {
				got = append(got, p.(string))
			}
			if !slices.Equal(got, parents[tc.want]) {
				t.Errorf("parent_shas = %v, want %v", got, parents[tc.want])
			}
			wantDate := gitRun(t, dir, nil, "show", "-s", "--format=%aI", tc.want)
			gd, err1 := time.Parse(time.RFC3339, c["date"].(string))
			wd, err2 := time.Parse(time.RFC3339, wantDate)
			if err1 != nil || err2 != nil || !gd.Equal(wd) {
				t.Errorf("date = %v, git author date %s", c["date"], wantDate)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		t.Parallel()
		c := r.getCommit(t, c2)
		if c["author_name"] != "Ada" || c["author_email"] != "ada@example.com" || c["committer_name"] != "Cy" || c["committer_email"] != "cy@example.com" {
			t.Errorf("identities = %v", c)
		}
		want := strings.TrimRight(gitRun(t, dir, nil, "show", "-s", "--format=%B", c2), "\n")
		if got, _ := c["message"].(string); strings.TrimRight(got, "\n") != want {
			t.Errorf("message = %q, want %q", got, want)
		}
	})
	for _, tc := range []struct {
		desc, query string
		status      int
	}{
		{"missing sha", "", http.StatusBadRequest},
		{"blank sha", "?sha=%20%20", http.StatusBadRequest},
		{"unknown sha", "?sha=" + strings.Repeat("d", 40), http.StatusNotFound},
		{"unknown branch", "?sha=nope", http.StatusNotFound},
		{"a tree is not a commit", "?sha=" + r.git(t, "rev-parse", "main^{tree}"), http.StatusNotFound},
		{"tree path syntax", "?sha=main:x", http.StatusNotFound},
		{"ephemeral internals", "?sha=refs/namespaces/ephemeral/refs/heads/main", http.StatusNotFound},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			wantError(t, e.do(t, "GET", "/api/v1/repos/commit"+tc.query, r.Read, nil), tc.status)
		})
	}
}

// TestGetCommit_signed signs a commit with an SSH key outside Strata and
// reads its signature and payload back (spec §5.9.3).
func TestGetCommit_signed(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	e := start(t)
	r, base := e.seededRepo(t)
	dir := r.Dir(t)

	key := filepath.Join(t.TempDir(), "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "strata-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	tree := r.git(t, "rev-parse", base+"^{tree}")
	signed := gitRun(t, dir, nil, "-c", "gpg.format=ssh", "-c", "user.signingkey="+key,
		"commit-tree", "-S", tree, "-p", base, "-m", "signed commit", "-m", "with a body")
	gitRun(t, dir, nil, "update-ref", "refs/heads/main", signed, base)

	raw := string(gitRaw(t, dir, "cat-file", "commit", signed))
	// The oracle: drop the gpgsig header and its continuation lines.
	var payload strings.Builder
	var sig []string
	header, message, _ := strings.Cut(raw, "\n\n")
	inSig := false
	for _, line := range strings.Split(header, "\n") {
		switch {
		case strings.HasPrefix(line, "gpgsig "):
			inSig = true
			sig = append(sig, strings.TrimPrefix(line, "gpgsig "))
		case inSig && strings.HasPrefix(line, " "):
			sig = append(sig, line[1:])
		default:
			inSig = false
			payload.WriteString(line + "\n")
		}
	}
	payload.WriteString("\n" + message)
	if len(sig) == 0 {
		t.Fatalf("git did not sign the commit:\n%s", raw)
	}

	c := r.getCommit(t, signed)
	wantCommitObject(t, c)
	gotSig, _ := c["signature"].(string)
	gotPayload, _ := c["payload"].(string)
	if !strings.HasPrefix(gotSig, "-----BEGIN SSH SIGNATURE-----") {
		t.Errorf("signature = %q, want an SSH signature", gotSig)
	}
	if strings.TrimRight(gotSig, "\n") != strings.Join(sig, "\n") {
		t.Errorf("signature =\n%s\nwant\n%s", gotSig, strings.Join(sig, "\n"))
	}
	if gotPayload != payload.String() {
		t.Errorf("payload =\n%q\nwant\n%q", gotPayload, payload.String())
	}
	// The payload is exactly what was signed: ssh-keygen accepts it.
	sigFile := filepath.Join(t.TempDir(), "sig")
	if err := os.WriteFile(sigFile, []byte(gotSig), 0o600); err != nil {
		t.Fatal(err)
	}
	check := exec.Command("ssh-keygen", "-Y", "check-novalidate", "-n", "git", "-s", sigFile)
	check.Stdin = strings.NewReader(gotPayload)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -Y check-novalidate rejects signature over payload: %v\n%s", err, out)
	}

	// Listings carry the signed commit like any other.
	list, _, _ := r.listCommits(t, "?limit=1")
	if len(list) != 1 || list[0].SHA != signed || !strings.HasPrefix(list[0].Message, "signed commit") {
		t.Errorf("listing = %+v, want the signed commit first", list)
	}
	// The unsigned parent still omits both keys.
	parent := r.getCommit(t, base)
	if _, ok := parent["signature"]; ok {
		t.Errorf("unsigned parent has a signature key")
	}
	if _, ok := parent["payload"]; ok {
		t.Errorf("unsigned parent has a payload key")
	}
}

// TestListCommits_longHistory pages through path histories many pages
// long (the walk's git log is kept running between pages) and checks
// them against git log, with readers on the same walk at once and with
// first requests the client gave up on.
func TestListCommits_longHistory(t *testing.T) {
	t.Parallel()
	e := start(t)
	r := e.newRepo(t)
	dir := r.Dir(t)
	var script strings.Builder
	for i := range 400 {
		fmt.Fprintf(&script, "commit refs/heads/main\ncommitter C <c@example.com> %d +0000\ndata <<EOF\nchange %d\nEOF\n", 1700000000+i, i)
		fmt.Fprintf(&script, "M 100644 inline d%d/f%d.txt\ndata <<EOF\nversion %d\nEOF\n\n", i%4, i%5, i)
	}
	gitRun(t, dir, []byte(script.String()), "fast-import", "--quiet")

	// readAll follows next_cursor from the first page to the last.
	readAll := func(ctx context.Context, path string, limit int) ([]string, error) {
		var shas []string
		cursor := ""
		for pages := 0; ; pages++ {
			q := url.Values{"path": {path}, "limit": {fmt.Sprint(limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			req, err := http.NewRequestWithContext(ctx, "GET", e.URL+"/api/v1/repos/commits?"+q.Encode(), nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+r.Read)
			resp, err := e.roundTrip(req)
			if err != nil {
				return nil, err
			}
			var page struct {
				Commits    []commitJSON `json:"commits"`
				HasMore    bool         `json:"has_more"`
				NextCursor *string      `json:"next_cursor"`
			}
			if resp.Status != http.StatusOK {
				return nil, fmt.Errorf("page %d: status %d: %s", pages, resp.Status, resp.Body)
			}
			if err := json.Unmarshal(resp.Body, &page); err != nil {
				return nil, err
			}
			if len(page.Commits) > limit || (page.HasMore && len(page.Commits) != limit) || page.HasMore != (page.NextCursor != nil) {
				return nil, fmt.Errorf("page %d: %d commits for limit %d, has_more %v, next_cursor %v", pages, len(page.Commits), limit, page.HasMore, page.NextCursor)
			}
			for _, c := range page.Commits {
				shas = append(shas, c.SHA)
			}
			if !page.HasMore {
				return shas, nil
			}
			cursor = *page.NextCursor
		}
	}
	gitLog := func(path string) []string {
		shas, _ := revList(t, dir, "main", "--", path)
		return shas
	}

	t.Run("pages", func(t *testing.T) {
		t.Parallel()
		want := gitLog("d1")
		got, err := readAll(t.Context(), "d1", 7)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("pages give %d commits (%v), git log %d", len(got), err, len(want))
		}
	})
	t.Run("readers at once", func(t *testing.T) {
		t.Parallel()
		want := gitLog("d2")
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				limit := []int{3, 10, 100}[i%3]
				got, err := readAll(t.Context(), "d2", limit)
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("limit %d: %d commits (%v), git log %d", limit, len(got), err, len(want))
				}
			})
		}
		wg.Wait()
	})
	t.Run("first request cancelled", func(t *testing.T) {
		t.Parallel()
		want := gitLog("d3")
		for _, after := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond} {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(after, cancel)
			_, _ = readAll(ctx, "d3", 10) // may or may not finish first
			cancel()
		}
		got, err := readAll(t.Context(), "d3", 10)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("after cancelled requests: %d commits (%v), git log %d", len(got), err, len(want))
		}
	})
}
