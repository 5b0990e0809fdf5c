package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type fileEntry struct {
	Path string `json:"path"`
	Type string `json:"type"`
	Mode string `json:"mode"`
}

type filesPage struct {
	Paths   []string    `json:"paths"`
	Entries []fileEntry `json:"entries"`
	Ref     string      `json:"ref"`
}

// listFiles fetches one page of GET /repos/files and checks its schema.
func (r *testRepo) listFiles(t testing.TB, query string) (filesPage, bool, string) {
	t.Helper()
	resp := r.e.do(t, "GET", "/api/v1/repos/files"+query, r.Read, nil)
	wantStatus(t, resp, http.StatusOK)
	m := object(t, resp)
	if _, ok := m["paths"].([]any); !ok {
		t.Errorf("paths = %#v, want an array", m["paths"])
	}
	if _, ok := m["entries"].([]any); !ok {
		t.Errorf("entries = %#v, want an array", m["entries"])
	}
	if _, ok := m["ref"].(string); !ok {
		t.Errorf("ref = %#v, want a string", m["ref"])
	}
	more := false
	if v, ok := m["has_more"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			t.Errorf("has_more = %#v, want a boolean or absent", v)
		}
		more = b
	}
	next, _ := m["next_cursor"].(string)
	if more && next == "" {
		t.Errorf("has_more without next_cursor: %s", resp.Body)
	}
	var p filesPage
	decode(t, resp, &p)
	for _, en := range p.Entries {
		if !slices.Contains([]string{"blob", "tree", "symlink", "submodule"}, en.Type) {
			t.Errorf("entry %+v: type outside the strict enum", en)
		}
	}
	return p, more, next
}

// apiType maps an ls-tree line to the wire type (spec §5.10.1).
func apiType(en treeEntry) string {
	switch en.Mode {
	case "040000":
		return "tree"
	case "120000":
		return "symlink"
	case "160000":
		return "submodule"
	}
	return "blob"
}

// wantEntries converts git ls-tree output into the expected listing.
func wantEntries(list []treeEntry, prefix string) ([]fileEntry, []string) {
	var entries []fileEntry
	var paths []string
	for _, en := range list {
		if prefix != "" && !strings.HasPrefix(en.Path, prefix+"/") {
			continue
		}
		typ := apiType(en)
		entries = append(entries, fileEntry{Path: en.Path, Type: typ, Mode: en.Mode})
		if typ == "blob" || typ == "symlink" {
			paths = append(paths, en.Path)
		}
	}
	return entries, paths
}

var filesFixture = []fileOp{
	upsert("README.md", "# readme\n"),
	upsert("src/main.go", "package main\n"),
	upsert("src/util/helper.go", "package util\n"),
	upsertMode("bin/run.sh", "#!/bin/sh\n", "100755"),
	upsertMode("link", "README.md", "120000"),
	upsertMode("vendor/mod", strings.Repeat("c0", 20), "160000"),
	upsert("docs/a.md", "a\n"),
	upsert("docs/b.md", "b\n"),
	upsert("z.txt", "z\n"),
}

func TestListFiles(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, c1 := e.seededRepo(t, filesFixture...)
	dir := r.Dir(t)
	r.commit(t, newMeta("feature", "base_branch", "main"), upsert("feature.txt", "f"))
	r.commit(t, newMeta("scratch", "base_branch", "main", "ephemeral", true), upsert("scratch.txt", "s"))
	gitRun(t, dir, nil, "tag", "v1", c1)

	for _, tc := range []struct {
		desc    string
		query   string
		ls      []string // git ls-tree arguments for the oracle
		prefix  string
		wantRef string
	}{
		{desc: "legacy recursive", query: "", ls: []string{"-r", "-t", "main"}, wantRef: "main"},
		{desc: "subdirectory", query: "?path=src", ls: []string{"-r", "-t", "main"}, prefix: "src", wantRef: "main"},
		{desc: "subdirectory with trailing slash", query: "?path=src/", ls: []string{"-r", "-t", "main"}, prefix: "src", wantRef: "main"},
		{desc: "root with slash", query: "?path=/", ls: []string{"-r", "-t", "main"}, wantRef: "main"},
		{desc: "non-recursive root", query: "?recursive=false", ls: []string{"main"}, wantRef: "main"},
		{desc: "non-recursive subdirectory", query: "?recursive=false&path=src", ls: []string{"main", "src/"}, prefix: "src", wantRef: "main"},
		{desc: "explicit recursive=true", query: "?recursive=true&path=docs", ls: []string{"-r", "-t", "main"}, prefix: "docs", wantRef: "main"},
		{desc: "branch ref", query: "?ref=feature", ls: []string{"-r", "-t", "feature"}, wantRef: "feature"},
		{desc: "tag ref", query: "?ref=v1", ls: []string{"-r", "-t", "v1"}, wantRef: "v1"},
		{desc: "sha ref", query: "?ref=" + c1, ls: []string{"-r", "-t", c1}, wantRef: c1},
		{desc: "ephemeral ref", query: "?ref=scratch&ephemeral=true", ls: []string{"-r", "-t", "refs/namespaces/ephemeral/refs/heads/scratch"}, wantRef: "scratch"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			p, more, _ := r.listFiles(t, tc.query)
			wantE, wantP := wantEntries(lsTree(t, dir, tc.ls...), tc.prefix)
			if more {
				t.Error("has_more in legacy mode")
			}
			if p.Ref != tc.wantRef {
				t.Errorf("ref = %q, want %q", p.Ref, tc.wantRef)
			}
			if !slices.Equal(p.Entries, wantE) {
				t.Errorf("entries:\n got %v\nwant %v", p.Entries, wantE)
			}
			if !slices.Equal(p.Paths, wantP) {
				t.Errorf("paths:\n got %v\nwant %v", p.Paths, wantP)
			}
		})
	}

	t.Run("types and modes", func(t *testing.T) {
		t.Parallel()
		p, _, _ := r.listFiles(t, "")
		got := map[string]fileEntry{}
		for _, en := range p.Entries {
			got[en.Path] = en
		}
		for path, want := range map[string]fileEntry{
			"README.md":  {Path: "README.md", Type: "blob", Mode: "100644"},
			"bin/run.sh": {Path: "bin/run.sh", Type: "blob", Mode: "100755"},
			"link":       {Path: "link", Type: "symlink", Mode: "120000"},
			"vendor/mod": {Path: "vendor/mod", Type: "submodule", Mode: "160000"},
			"src":        {Path: "src", Type: "tree", Mode: "040000"},
			"src/util":   {Path: "src/util", Type: "tree", Mode: "040000"},
		} {
			if got[path] != want {
				t.Errorf("%s = %+v, want %+v", path, got[path], want)
			}
		}
		if slices.Contains(p.Paths, "vendor/mod") || slices.Contains(p.Paths, "src") {
			t.Errorf("paths holds a submodule or tree: %v", p.Paths)
		}
		if !slices.Contains(p.Paths, "link") {
			t.Errorf("paths lacks the symlink: %v", p.Paths)
		}
	})

	t.Run("paginated", func(t *testing.T) {
		t.Parallel()
		all, _, _ := r.listFiles(t, "")
		for _, tc := range []struct {
			desc, query string
			limit       int
		}{
			{"limit 2", "", 2},
			{"limit 1 below src", "&path=src", 1},
			{"limit 3 non-recursive", "&recursive=false", 3},
		} {
			legacy, _, _ := r.listFiles(t, "?"+strings.TrimPrefix(tc.query, "&"))
			var entries []fileEntry
			var paths []string
			seen := map[string]bool{}
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(all.Entries)+1 {
					t.Fatalf("%s: pagination does not end", tc.desc)
				}
				q := fmt.Sprintf("?limit=%d%s", tc.limit, tc.query)
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				p, more, next := r.listFiles(t, q)
				if len(p.Entries) > tc.limit {
					t.Errorf("%s: page of %d entries", tc.desc, len(p.Entries))
				}
				for _, en := range p.Entries {
					if seen[en.Path] {
						t.Errorf("%s: %s listed twice", tc.desc, en.Path)
					}
					seen[en.Path] = true
				}
				entries = append(entries, p.Entries...)
				paths = append(paths, p.Paths...)
				if !more {
					break
				}
				if len(p.Entries) == 0 {
					t.Fatalf("%s: empty page with has_more", tc.desc)
				}
				cursor = next
			}
			if !slices.Equal(entries, legacy.Entries) || !slices.Equal(paths, legacy.Paths) {
				t.Errorf("%s: pages =\n%v\n%v\nwant\n%v\n%v", tc.desc, entries, paths, legacy.Entries, legacy.Paths)
			}
		}
	})

	for _, tc := range []struct {
		desc, query string
		status      int
	}{
		{"unknown ref", "?ref=nope", http.StatusNotFound},
		{"ephemeral ref in the normal namespace", "?ref=scratch", http.StatusNotFound},
		{"unknown directory", "?path=nope", http.StatusNotFound},
		{"file as directory", "?path=README.md", http.StatusNotFound},
		{"path escaping the repository", "?path=../x", http.StatusBadRequest},
		{"path into .git", "?path=.git", http.StatusBadRequest},
		{"garbage cursor", "?cursor=%25%25", http.StatusBadRequest},
		{"bad recursive", "?recursive=maybe", http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			wantError(t, e.do(t, "GET", "/api/v1/repos/files"+tc.query, r.Read, nil), tc.status)
		})
	}
	t.Run("empty repository", func(t *testing.T) {
		t.Parallel()
		empty := e.newRepo(t)
		wantError(t, e.do(t, "GET", "/api/v1/repos/files", empty.Read, nil), http.StatusNotFound)
		wantError(t, e.do(t, "GET", "/api/v1/repos/files/metadata", empty.Read, nil), http.StatusNotFound)
	})
}

type metaFile struct {
	Path          string  `json:"path"`
	Mode          string  `json:"mode"`
	Size          float64 `json:"size"`
	Type          string  `json:"type"`
	LastCommitSHA string  `json:"last_commit_sha"`
}

type metaCommit struct {
	Author  string `json:"author"`
	Date    string `json:"date"`
	Message string `json:"message"`
}

type metaPage struct {
	Files   []metaFile            `json:"files"`
	Commits map[string]metaCommit `json:"commits"`
	Ref     string                `json:"ref"`
}

func (r *testRepo) filesMetadata(t testing.TB, query string) (metaPage, bool, string) {
	t.Helper()
	resp := r.e.do(t, "GET", "/api/v1/repos/files/metadata"+query, r.Read, nil)
	wantStatus(t, resp, http.StatusOK)
	m := object(t, resp)
	if _, ok := m["commits"].(map[string]any); !ok {
		t.Errorf("commits = %#v, want an object", m["commits"])
	}
	for _, f := range m["files"].([]any) {
		fm := f.(map[string]any)
		if _, ok := fm["size"].(float64); !ok {
			t.Errorf("size of %v is not a number", fm["path"])
		}
		if v, ok := fm["type"]; ok && !slices.Contains([]any{"blob", "tree", "symlink", "submodule"}, v) {
			t.Errorf("type of %v = %#v", fm["path"], v)
		}
	}
	more, _ := m["has_more"].(bool)
	next, _ := m["next_cursor"].(string)
	if more && next == "" {
		t.Errorf("has_more without next_cursor: %s", resp.Body)
	}
	var p metaPage
	decode(t, resp, &p)
	return p, more, next
}

func TestListFilesMetadata(t *testing.T) {
	t.Parallel()
	e := start(t)

	// c1 adds a, b, dir/c, link; c2 changes b; c3 adds d; c4 changes dir/c;
	// c5 (other author) changes only a's mode.
	r := e.newRepo(t)
	c1 := r.commit(t, newMeta("main", "commit_message", "one\n\nbody"),
		upsert("a.txt", "aaaa"), upsert("b.txt", "b"), upsert("dir/c.txt", "cc"), upsertMode("link", "a.txt", "120000")).Commit.CommitSHA
	c2 := r.commit(t, newMeta("main", "commit_message", "two"), upsert("b.txt", "bbbbbbbb")).Commit.CommitSHA
	c3 := r.commit(t, newMeta("main", "commit_message", "three"), upsert("d.txt", "")).Commit.CommitSHA
	c4 := r.commit(t, newMeta("main", "commit_message", "four"), upsert("dir/c.txt", "ccc")).Commit.CommitSHA
	c5 := r.commit(t, newMeta("main", "commit_message", "five", "author", map[string]any{"name": "Other", "email": "o@example.com"}),
		upsertMode("a.txt", "aaaa", "100755")).Commit.CommitSHA
	dir := r.Dir(t)

	want := []metaFile{
		{Path: "a.txt", Mode: "100755", Size: 4, Type: "blob", LastCommitSHA: c5},
		{Path: "b.txt", Mode: "100644", Size: 8, Type: "blob", LastCommitSHA: c2},
		{Path: "d.txt", Mode: "100644", Size: 0, Type: "blob", LastCommitSHA: c3},
		{Path: "dir/c.txt", Mode: "100644", Size: 3, Type: "blob", LastCommitSHA: c4},
		{Path: "link", Mode: "120000", Size: 5, Type: "symlink", LastCommitSHA: c1},
	}
	// The oracle agrees with the hand-written table.
	for _, f := range want {
		if got := gitRun(t, dir, nil, "log", "-1", "--format=%H", "main", "--", f.Path); got != f.LastCommitSHA {
			t.Fatalf("fixture: git says %s was last touched by %s, not %s", f.Path, got, f.LastCommitSHA)
		}
	}

	t.Run("all", func(t *testing.T) {
		t.Parallel()
		p, more, _ := r.filesMetadata(t, "")
		if more {
			t.Error("has_more in legacy mode")
		}
		if p.Ref != "main" {
			t.Errorf("ref = %q", p.Ref)
		}
		if !slices.Equal(p.Files, want) {
			t.Errorf("files:\n got %+v\nwant %+v", p.Files, want)
		}
		wantCommits := map[string]bool{c1: true, c2: true, c3: true, c4: true, c5: true}
		if len(p.Commits) != len(wantCommits) {
			t.Errorf("commits has %d entries, want %d: %v", len(p.Commits), len(wantCommits), p.Commits)
		}
		for sha := range wantCommits {
			c, ok := p.Commits[sha]
			if !ok {
				t.Errorf("commits lacks %s", sha)
				continue
			}
			wantAuthor := gitRun(t, dir, nil, "show", "-s", "--format=%an", sha)
			wantSubject := gitRun(t, dir, nil, "show", "-s", "--format=%s", sha)
			if c.Author != wantAuthor || !strings.HasPrefix(c.Message, wantSubject) {
				t.Errorf("commits[%s] = %+v, want author %q and message %q", sha, c, wantAuthor, wantSubject)
			}
			d, err := time.Parse(time.RFC3339, c.Date)
			wantDate, _ := time.Parse(time.RFC3339, gitRun(t, dir, nil, "show", "-s", "--format=%aI", sha))
			if err != nil || !d.Equal(wantDate) {
				t.Errorf("commits[%s].date = %q, want %s", sha, c.Date, wantDate)
			}
		}
		if msg := p.Commits[c1].Message; strings.TrimRight(msg, "\n") != "one\n\nbody" {
			t.Errorf("message of c1 = %q, want the full message", msg)
		}
	})
	t.Run("subdirectory", func(t *testing.T) {
		t.Parallel()
		p, _, _ := r.filesMetadata(t, "?path=dir")
		if len(p.Files) != 1 || p.Files[0] != want[3] {
			t.Errorf("files = %+v, want only %+v", p.Files, want[3])
		}
		if _, ok := p.Commits[c4]; !ok || len(p.Commits) != 1 {
			t.Errorf("commits = %v, want only %s", p.Commits, c4)
		}
	})
	t.Run("older ref", func(t *testing.T) {
		t.Parallel()
		p, _, _ := r.filesMetadata(t, "?ref="+c2)
		got := map[string]string{}
		for _, f := range p.Files {
			got[f.Path] = f.LastCommitSHA
		}
		if w := map[string]string{"a.txt": c1, "b.txt": c2, "dir/c.txt": c1, "link": c1}; fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("at c2: %v, want %v", got, w)
		}
	})
	t.Run("paginated", func(t *testing.T) {
		t.Parallel()
		var files []metaFile
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatal("pagination does not end")
			}
			q := "?limit=2"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p, more, next := r.filesMetadata(t, q)
			if len(p.Files) > 2 {
				t.Errorf("page of %d files", len(p.Files))
			}
			for _, f := range p.Files {
				if _, ok := p.Commits[f.LastCommitSHA]; !ok {
					t.Errorf("page lacks commits[%s] for %s", f.LastCommitSHA, f.Path)
				}
			}
			files = append(files, p.Files...)
			if !more {
				break
			}
			cursor = next
		}
		if !slices.Equal(files, want) {
			t.Errorf("pages:\n got %+v\nwant %+v", files, want)
		}
	})
	for _, tc := range []struct {
		desc, query string
		status      int
	}{
		{"unknown ref", "?ref=nope", http.StatusNotFound},
		{"unknown directory", "?path=nope", http.StatusNotFound},
		{"path escaping the repository", "?path=a/../..", http.StatusBadRequest},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			wantError(t, e.do(t, "GET", "/api/v1/repos/files/metadata"+tc.query, r.Read, nil), tc.status)
		})
	}
}

// TestListFiles_ordering pages through names whose git order differs from
// plain string order ('-' < '.' < '/' < '0', trees sort as "name/").
func TestListFiles_ordering(t *testing.T) {
	t.Parallel()
	e := start(t)
	r, _ := e.seededRepo(t,
		upsert("a-c", "1"), upsert("a.txt", "2"), upsert("a/b.txt", "3"), upsert("a/b/x", "4"),
		upsert("a/b-/y", "5"), upsert("a0", "6"), upsert("A", "7"), upsert("a/ space", "8"),
		upsertMode("a/sub", strings.Repeat("1", 40), "160000"), upsert("a/sub.txt", "9"))
	dir := r.Dir(t)
	wantE, wantP := wantEntries(lsTree(t, dir, "-r", "-t", "main"), "")
	for _, limit := range []int{1, 2, 3} {
		var entries []fileEntry
		var paths []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > len(wantE)+1 {
				t.Fatalf("limit %d: pagination does not end", limit)
			}
			q := fmt.Sprintf("?limit=%d", limit)
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p, more, next := r.listFiles(t, q)
			entries = append(entries, p.Entries...)
			paths = append(paths, p.Paths...)
			if !more {
				break
			}
			cursor = next
		}
		if !slices.Equal(entries, wantE) || !slices.Equal(paths, wantP) {
			t.Errorf("limit %d:\n got %v\nwant %v", limit, entries, wantE)
		}
	}
	// Metadata pages walk the same order, without trees.
	var metaPaths []string
	cursor := ""
	for pages := 0; pages < 50; pages++ {
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p, more, next := r.filesMetadata(t, q)
		for _, f := range p.Files {
			metaPaths = append(metaPaths, f.Path)
		}
		if !more {
			break
		}
		cursor = next
	}
	var wantMeta []string
	for _, en := range wantE {
		if en.Type != "tree" {
			wantMeta = append(wantMeta, en.Path)
		}
	}
	if !slices.Equal(metaPaths, wantMeta) {
		t.Errorf("metadata pages:\n got %q\nwant %q", metaPaths, wantMeta)
	}
}

// TestListFilesMetadata_manyFiles covers more paths than fit in one git
// pathspec list, with last changes spread over the history.
func TestListFilesMetadata_manyFiles(t *testing.T) {
	t.Parallel()
	e := start(t)
	r := e.newRepo(t)
	var ops []fileOp
	for i := range 90 {
		ops = append(ops, upsert(fmt.Sprintf("f/%02d.txt", i), "v1"))
	}
	c1 := r.commit(t, newMeta("main"), ops...).Commit.CommitSHA
	c2 := r.commit(t, newMeta("main"), upsert("f/07.txt", "v2"), upsert("f/42.txt", "v2")).Commit.CommitSHA
	c3 := r.commit(t, newMeta("main"), upsert("f/89.txt", "v3"), del("f/00.txt")).Commit.CommitSHA
	want := map[string]string{}
	for i := 1; i < 90; i++ {
		want[fmt.Sprintf("f/%02d.txt", i)] = c1
	}
	want["f/07.txt"], want["f/42.txt"], want["f/89.txt"] = c2, c2, c3

	check := func(t *testing.T, files []metaFile, commits map[string]metaCommit) {
		t.Helper()
		for _, f := range files {
			if f.LastCommitSHA != want[f.Path] {
				t.Errorf("%s last_commit_sha = %s, want %s", f.Path, f.LastCommitSHA, want[f.Path])
			}
			if _, ok := commits[f.LastCommitSHA]; !ok {
				t.Errorf("commits lacks %s", f.LastCommitSHA)
			}
		}
	}
	p, _, _ := r.filesMetadata(t, "")
	if len(p.Files) != len(want) {
		t.Errorf("%d files, want %d", len(p.Files), len(want))
	}
	check(t, p.Files, p.Commits)
	if len(p.Commits) != 3 {
		t.Errorf("commits = %d entries, want 3", len(p.Commits))
	}
	seen := 0
	cursor := ""
	for pages := 0; pages < 20; pages++ {
		q := "?limit=30"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		p, more, next := r.filesMetadata(t, q)
		check(t, p.Files, p.Commits)
		seen += len(p.Files)
		if !more {
			break
		}
		cursor = next
	}
	if seen != len(want) {
		t.Errorf("pages listed %d files, want %d", seen, len(want))
	}
}
