package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/servertest"
)

// dmServer is a real server holding one repository, with helpers that build
// its history through git plumbing: the fixture of the diff, diff-commit and
// merge tests.
type dmServer struct {
	t     testing.TB
	s     *servertest.Server
	ctx   context.Context
	git   *git.Factory
	dir   string // the bare repository
	repo  string // its id
	token string // git:read + git:write
	tick  *atomic.Int64
}

func newDMServer(t *testing.T) *dmServer {
	t.Helper()
	s := servertest.Start(t)
	s.Client = validated(t, s.Client)
	f, err := git.NewFactory(git.FactoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const id = "dm/repo"
	resp := s.Do("POST", "/api/v1/repos", s.Token(id, auth.ScopeRepoWrite), strings.NewReader(`{"default_branch":"main"}`))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("create repository: %s", resp.Status)
	}
	dirs := s.RepoDirs()
	if len(dirs) != 1 {
		t.Fatalf("repositories on disk: %v", dirs)
	}
	return &dmServer{t: t, s: s, ctx: t.Context(), git: f, dir: dirs[0], repo: id,
		token: s.Token(id, auth.ScopeGitRead, auth.ScopeGitWrite), tick: new(atomic.Int64)}
}

// on is ds reporting to t: for subtests.
func (ds *dmServer) on(t testing.TB) *dmServer {
	c := *ds
	c.t = t
	return &c
}

func (ds *dmServer) run(c git.Command, opts ...git.Option) string {
	ds.t.Helper()
	out, err := ds.git.Output(ds.ctx, ds.dir, c, opts...)
	if err != nil {
		ds.t.Fatalf("git %s %v: %v", c.Name, c.Args, err)
	}
	return strings.TrimSpace(string(out))
}

// commit writes a commit whose tree is exactly files (a "link:" prefix
// makes a symlink) on parents.
func (ds *dmServer) commit(msg string, files map[string]string, parents ...string) string {
	ds.t.Helper()
	env := git.WithEnv("GIT_INDEX_FILE=" + filepath.Join(ds.t.TempDir(), "index"))
	ds.run(git.Command{Name: "read-tree", Flags: []string{"--empty"}}, env)
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		content, mode := files[p], "100644"
		if c, ok := strings.CutPrefix(content, "link:"); ok {
			content, mode = c, "120000"
		}
		oid := ds.run(git.Command{Name: "hash-object", Flags: []string{"-w", "--stdin"}}, git.WithStdin(strings.NewReader(content)))
		ds.run(git.Command{Name: "update-index", Flags: []string{"--add", "--cacheinfo", mode + "," + oid + "," + p}}, env)
	}
	tree := ds.run(git.Command{Name: "write-tree"}, env)
	flags := []string{"-m", msg}
	for _, p := range parents {
		flags = append(flags, "-p", p)
	}
	date := fmt.Sprintf("%d +0000", 1700000000+ds.tick.Add(1)*60)
	return ds.run(git.Command{Name: "commit-tree", Flags: flags, Args: []string{tree}},
		git.WithEnv("GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.com", "GIT_AUTHOR_DATE="+date,
			"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.com", "GIT_COMMITTER_DATE="+date))
}

func (ds *dmServer) branch(ephemeral bool, name, commit string) {
	ds.t.Helper()
	ds.run(git.Command{Name: "update-ref", Args: []string{string(git.NewBranchReferenceName(git.NamespaceFor(ephemeral), name)), commit}})
}

func (ds *dmServer) tip(ephemeral bool, name string) string {
	ds.t.Helper()
	return ds.run(git.Command{Name: "rev-parse", Flags: []string{"--verify"}, Args: []string{string(git.NewBranchReferenceName(git.NamespaceFor(ephemeral), name))}})
}

func (ds *dmServer) rev(expr string) string {
	ds.t.Helper()
	return ds.run(git.Command{Name: "rev-parse", Flags: []string{"--verify"}, Args: []string{expr}})
}

// call sends a request and decodes the JSON answer.
func (ds *dmServer) call(method, path, token string, body io.Reader) (int, map[string]any) {
	ds.t.Helper()
	resp := ds.s.Do(method, path, token, body)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		ds.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		ds.t.Fatalf("%s %s: content type %q, body %s", method, path, ct, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		ds.t.Fatalf("%s %s: %s: invalid JSON: %v\n%s", method, path, resp.Status, err, data)
	}
	return resp.StatusCode, out
}

func (ds *dmServer) get(path string, q url.Values) (int, map[string]any) {
	ds.t.Helper()
	return ds.call("GET", path+"?"+q.Encode(), ds.token, nil)
}

// numstat is git's count of a diff: [files, additions, deletions].
func (ds *dmServer) numstat(base, head string, paths ...string) [3]int {
	ds.t.Helper()
	out := ds.run(git.Command{Name: "diff-tree", Flags: []string{"-r", "-M", "--numstat"}, Args: []string{base, head}, PostSep: paths})
	var n [3]int
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		a, _ := strconv.Atoi(f[0])
		d, _ := strconv.Atoi(f[1])
		n[0]++
		n[1] += a
		n[2] += d
	}
	return n
}

// diffShape checks the schema rules of spec §9 on a diff response and
// returns its entries by path.
func diffShape(t testing.TB, body map[string]any) (files, filtered map[string]map[string]any, stats [3]int) {
	t.Helper()
	files, filtered = map[string]map[string]any{}, map[string]map[string]any{}
	st, ok := body["stats"].(map[string]any)
	if !ok {
		t.Fatalf("stats missing: %v", body)
	}
	for _, k := range []string{"files", "additions", "deletions", "changes"} {
		if _, ok := st[k].(float64); !ok {
			t.Errorf("stats.%s = %v, want a number", k, st[k])
		}
	}
	if st["changes"] != st["additions"].(float64)+st["deletions"].(float64) {
		t.Errorf("stats.changes %v", st)
	}
	stats = [3]int{int(st["files"].(float64)), int(st["additions"].(float64)), int(st["deletions"].(float64))}
	for _, list := range []struct {
		key  string
		into map[string]map[string]any
	}{{"files", files}, {"filtered_files", filtered}} {
		arr, ok := body[list.key].([]any)
		if !ok {
			t.Fatalf("%s = %v, want an array", list.key, body[list.key])
		}
		for _, e := range arr {
			m := e.(map[string]any)
			path, _ := m["path"].(string)
			_, state := m["state"].(string)
			_, num := m["bytes"].(float64)
			eof, _ := m["is_eof"].(bool)
			old, hasOld := m["old_path"]
			if path == "" || !state || !num || !eof || !hasOld || (old != nil && old.(string) == "") {
				t.Errorf("%s entry %v breaks the schema", list.key, m)
			}
			if list.key == "files" {
				raw, _ := m["raw"].(string)
				if !strings.HasPrefix(raw, "diff --git ") || int(m["bytes"].(float64)) != len(raw) {
					t.Errorf("entry %s: raw %q bytes %v", path, raw, m["bytes"])
				}
			}
			list.into[path] = m
		}
	}
	return files, filtered, stats
}

// diffHistory: main and feature diverge from base.
type diffHistory struct {
	base, main, feature string
	bigSize, binSize    int
}

func newDiffHistory(ds *dmServer) diffHistory {
	var h diffHistory
	big := strings.Repeat("0123456789abcdef\n", 35000) // 595 000 bytes: over 500 KB
	h.bigSize = len(big) + len("more\n")
	bin := "\x00\x01\x02" + strings.Repeat("b", 100)
	h.binSize = len(bin) + 1
	h.base = ds.commit("base", map[string]string{
		"README.md":    "hello\n",
		"src/old.go":   "package x\n\nfunc A() {}\nfunc B() {}\nfunc C() {}\n",
		"src/keep.go":  "package x\n",
		"docs/gone.md": "bye\n",
		"big.txt":      big,
		"data.bin":     bin,
	})
	h.main = ds.commit("main moves on", map[string]string{
		"README.md":    "hello from main\n",
		"src/old.go":   "package x\n\nfunc A() {}\nfunc B() {}\nfunc C() {}\n",
		"src/keep.go":  "package x\n",
		"docs/gone.md": "bye\n",
		"big.txt":      big,
		"data.bin":     bin,
		"main-only":    "m\n",
	}, h.base)
	h.feature = ds.commit("feature", map[string]string{
		"README.md":   "hello\n",
		"src/new.go":  "package x\n\nfunc A() {}\nfunc B() {}\nfunc C() {}\nfunc D() {}\n",
		"src/keep.go": "package x\n\n// edited\n",
		"src/added":   "added\n",
		"big.txt":     big + "more\n",
		"data.bin":    bin + "!",
	}, h.base)
	ds.branch(false, "main", h.main)
	ds.branch(false, "feature", h.feature)
	return h
}

func TestBranchDiff(t *testing.T) {
	t.Parallel()
	ds := newDMServer(t)
	h := newDiffHistory(ds)

	status, body := ds.get("/api/v1/repos/branches/diff", url.Values{"branch": {"feature"}})
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, body)
	}
	if body["branch"] != "feature" || body["base"] != "main" || body["merge_base_sha"] != h.base {
		t.Errorf("header fields %v %v %v, want feature, main, %s", body["branch"], body["base"], body["merge_base_sha"], h.base)
	}
	files, filtered, stats := diffShape(t, body)
	for _, want := range []struct{ path, state, old string }{
		{"src/new.go", "R", "src/old.go"},
		{"src/keep.go", "M", ""},
		{"src/added", "A", ""},
		{"docs/gone.md", "D", ""},
	} {
		f := files[want.path]
		if f == nil {
			t.Errorf("%s missing from files", want.path)
			continue
		}
		old, _ := f["old_path"].(string)
		if !strings.HasPrefix(f["state"].(string), want.state) || old != want.old {
			t.Errorf("%s: state %v old_path %v, want %s %q", want.path, f["state"], f["old_path"], want.state, want.old)
		}
	}
	if f := files["src/keep.go"]; f != nil && (f["additions"] != 2.0 || f["deletions"] != 0.0) {
		t.Errorf("src/keep.go +%v -%v, want +2 -0", f["additions"], f["deletions"])
	}
	// Three dots: what main did since base is not part of feature's diff.
	for _, p := range []string{"README.md", "main-only"} {
		if files[p] != nil || filtered[p] != nil {
			t.Errorf("%s (changed on main) is in the branch diff", p)
		}
	}
	if len(files) != 4 || len(filtered) != 2 {
		t.Errorf("%d files, %d filtered; want 4 and 2", len(files), len(filtered))
	}
	for path, size := range map[string]int{"big.txt": h.bigSize, "data.bin": h.binSize} {
		f := filtered[path]
		if f == nil || f["bytes"] != float64(size) || f["state"] != "M" || f["raw"] != nil {
			t.Errorf("filtered %s = %v, want bytes %d and no raw", path, f, size)
		}
	}
	if want := ds.numstat(h.base, h.feature); stats != want {
		t.Errorf("stats %v, git says %v", stats, want)
	}

	t.Run("path filters", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		status, body := ds.get("/api/v1/repos/branches/diff", url.Values{"branch": {"feature"}, "base": {"main"}, "path": {"src/keep.go", "docs"}})
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, body)
		}
		files, filtered, stats := diffShape(t, body)
		if len(files) != 2 || files["src/keep.go"] == nil || files["docs/gone.md"] == nil || len(filtered) != 0 {
			t.Errorf("files %v filtered %v", files, filtered)
		}
		if want := ds.numstat(h.base, h.feature, "src/keep.go", "docs"); stats != want {
			t.Errorf("stats %v, git says %v", stats, want)
		}
	})

	t.Run("ephemeral", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		eph := ds.commit("ephemeral work", map[string]string{"README.md": "hello\n", "src/old.go": "x\n", "src/keep.go": "package x\n",
			"docs/gone.md": "bye\n", "big.txt": "small now\n", "data.bin": "text now\n"}, h.base)
		ds.branch(true, "feature", eph)
		ds.branch(true, "trunk", h.base)
		for _, q := range []url.Values{
			{"branch": {"feature"}, "ephemeral": {"true"}},
			{"branch": {"feature"}, "ephemeral": {"true"}, "base": {"trunk"}, "ephemeral_base": {"true"}},
		} {
			status, body := ds.get("/api/v1/repos/branches/diff", q)
			if status != http.StatusOK {
				t.Fatalf("%v: status %d: %v", q, status, body)
			}
			files, _, _ := diffShape(t, body)
			if body["merge_base_sha"] != h.base || files["src/old.go"] == nil || files["src/added"] != nil {
				t.Errorf("%v: diff of the wrong branch: %v", q, files)
			}
		}
		if status, body := ds.get("/api/v1/repos/branches/diff", url.Values{"branch": {"main"}, "ephemeral": {"true"}}); status != http.StatusNotFound {
			t.Errorf("normal branch through the ephemeral namespace: %d %v", status, body)
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		for _, tc := range []struct {
			desc   string
			q      url.Values
			status int
		}{
			{"missing branch param", url.Values{}, http.StatusBadRequest},
			{"unknown branch", url.Values{"branch": {"nope"}}, http.StatusNotFound},
			{"unknown base", url.Values{"branch": {"feature"}, "base": {"nope"}}, http.StatusNotFound},
			{"bad boolean", url.Values{"branch": {"feature"}, "ephemeral": {"maybe"}}, http.StatusBadRequest},
			{"escaping path filter", url.Values{"branch": {"feature"}, "path": {"../etc"}}, http.StatusBadRequest},
			{"escaping ephemeral name", url.Values{"branch": {"../../../../../refs/heads/main"}, "ephemeral": {"true"}}, http.StatusNotFound},
		} {
			status, body := ds.get("/api/v1/repos/branches/diff", tc.q)
			if msg, _ := body["error"].(string); status != tc.status || msg == "" {
				t.Errorf("%s: %d %v, want %d with an error", tc.desc, status, body, tc.status)
			}
		}
	})
}

func TestCommitDiff(t *testing.T) {
	t.Parallel()
	ds := newDMServer(t)
	h := newDiffHistory(ds)
	root := ds.commit("root", map[string]string{"a.txt": "a\n", "l": "link:a.txt"})
	edits := ds.commit("edits", map[string]string{
		"README.md": "hello\nworld\n", "src/renamed.go": "package x\n\nfunc A() {}\nfunc B() {}\nfunc C() {}\n",
		"src/keep.go": "package x\n", "docs/gone.md": "bye, changed\n", "sp ace.txt": "s\n", "ü.txt": "u\n",
	}, h.base)

	for _, tc := range []struct {
		desc          string
		q             url.Values
		base, head    string
		mergeBase     string
		files, filter int
	}{
		{desc: "first parent", q: url.Values{"sha": {"feature"}}, base: h.base, head: h.feature, mergeBase: h.base, files: 4, filter: 2},
		{desc: "explicit base", q: url.Values{"sha": {h.feature}, "baseSha": {h.main[:12]}}, base: h.main, head: h.feature, mergeBase: h.base, files: 6, filter: 2},
		{desc: "root commit", q: url.Values{"sha": {root}}, base: "", head: root, files: 2},
		{desc: "apply compatible", q: url.Values{"sha": {edits}, "gitApplyCompatible": {"true"}}, base: h.base, head: edits, mergeBase: h.base, files: 5, filter: 2},
		{desc: "path filter", q: url.Values{"sha": {edits}, "path": {"src"}}, base: h.base, head: edits, mergeBase: h.base, files: 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			ds := ds.on(t)
			status, body := ds.get("/api/v1/repos/diff", tc.q)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, body)
			}
			if body["sha"] != tc.head || body["base_sha"] != tc.base {
				t.Errorf("sha %v base_sha %v, want %s %q", body["sha"], body["base_sha"], tc.head, tc.base)
			}
			if mb, has := body["merge_base_sha"]; (tc.mergeBase == "" && has) || (tc.mergeBase != "" && mb != tc.mergeBase) {
				t.Errorf("merge_base_sha %v, want %q", mb, tc.mergeBase)
			}
			files, filtered, stats := diffShape(t, body)
			if len(files) != tc.files || len(filtered) != tc.filter {
				t.Errorf("%d files %d filtered, want %d %d", len(files), len(filtered), tc.files, tc.filter)
			}
			base := tc.base
			if base == "" {
				base = string(git.EmptyTreeOID)
			}
			if want := ds.numstat(base, tc.head, tc.q["path"]...); stats != want {
				t.Errorf("stats %v, git says %v", stats, want)
			}
		})
	}

	// Concatenated in order, the raw patches apply to the base in a clone
	// and reproduce the head's tree.
	t.Run("patches apply in a clone", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		edits2 := ds.commit("no large files", map[string]string{
			"README.md": "hello\nworld\n", "src/renamed.go": "package x\n\nfunc A() {}\nfunc B() {}\nfunc C() {}\n",
			"src/keep.go": "package x\n", "docs/gone.md": "bye, changed\n", "sp ace.txt": "s\n", "ü.txt": "u\n", "x": "link:README.md",
		}, root)
		status, body := ds.get("/api/v1/repos/diff", url.Values{"sha": {edits2}, "gitApplyCompatible": {"true"}})
		if status != http.StatusOK {
			t.Fatalf("status %d: %v", status, body)
		}
		if len(body["filtered_files"].([]any)) != 0 {
			t.Fatalf("filtered: %v", body["filtered_files"])
		}
		var patch strings.Builder
		for _, f := range body["files"].([]any) {
			patch.WriteString(f.(map[string]any)["raw"].(string))
		}
		clone := filepath.Join(t.TempDir(), "clone")
		if err := ds.git.Run(ds.ctx, "", git.Command{Name: "clone", Flags: []string{"--quiet", "--no-checkout"}, Args: []string{ds.dir, clone}}); err != nil {
			t.Fatal(err)
		}
		inClone := func(c git.Command) (string, error) {
			out, err := ds.git.Output(ds.ctx, filepath.Join(clone, ".git"), c, git.WithDir(clone))
			return strings.TrimSpace(string(out)), err
		}
		if _, err := inClone(git.Command{Name: "checkout", Flags: []string{"--quiet", "--detach"}, Args: []string{root}}); err != nil {
			t.Fatal(err)
		}
		pf := filepath.Join(t.TempDir(), "p.diff")
		if err := os.WriteFile(pf, []byte(patch.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := inClone(git.Command{Name: "apply", Flags: []string{"--check"}, Args: []string{pf}}); err != nil {
			t.Fatalf("git apply --check: %v\n%s", err, patch.String())
		}
		if _, err := inClone(git.Command{Name: "apply", Flags: []string{"--index"}, Args: []string{pf}}); err != nil {
			t.Fatal(err)
		}
		tree, err := inClone(git.Command{Name: "write-tree"})
		if err != nil || tree != ds.rev(edits2+"^{tree}") {
			t.Errorf("applied tree %s (%v), head's tree %s", tree, err, ds.rev(edits2+"^{tree}"))
		}
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		ds := ds.on(t)
		for _, tc := range []struct {
			desc   string
			q      url.Values
			status int
		}{
			{"missing sha", url.Values{}, http.StatusBadRequest},
			{"unknown sha", url.Values{"sha": {"0123456789abcdef0123456789abcdef01234567"}}, http.StatusNotFound},
			{"unknown base", url.Values{"sha": {"feature"}, "baseSha": {"nope"}}, http.StatusNotFound},
			{"bad flag", url.Values{"sha": {"feature"}, "gitApplyCompatible": {"yes please"}}, http.StatusBadRequest},
			{"bad path", url.Values{"sha": {"feature"}, "path": {".git/config"}}, http.StatusBadRequest},
		} {
			status, body := ds.get("/api/v1/repos/diff", tc.q)
			if msg, _ := body["error"].(string); status != tc.status || msg == "" {
				t.Errorf("%s: %d %v, want %d with an error", tc.desc, status, body, tc.status)
			}
		}
		// A token without git:read is refused before anything is read.
		status, _ := ds.call("GET", "/api/v1/repos/diff?sha=feature", ds.s.Token(ds.repo, auth.ScopeRepoWrite), nil)
		if status != http.StatusForbidden {
			t.Errorf("without git:read: %d", status)
		}
	})
}
