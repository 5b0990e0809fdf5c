package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// TestPathspecMagic: file names are paths, never git pathspecs. A name
// holding glob characters or starting with ':' must not match other files
// when the server asks git for a file's history.
func TestPathspecMagic(t *testing.T) {
	t.Parallel()
	e := start(t)
	r := e.newRepo(t)
	weird := []string{"star*.txt", "[ab].txt", ":colon.txt", "q?.md", ":(glob)g.txt"}
	var ops []fileOp
	for _, p := range weird {
		ops = append(ops, upsert(p, "weird "+p))
	}
	c1 := r.commit(t, newMeta("main", "commit_message", "weird names"), ops...).Commit.CommitSHA
	// c2 touches only ordinary files that the names above would match as
	// pathspecs (glob, character class, magic prefix).
	c2 := r.commit(t, newMeta("main", "commit_message", "lookalikes"),
		upsert("starfish.txt", "x"), upsert("a.txt", "x"), upsert("colon.txt", "x"), upsert("qq.md", "x"), upsert("g.txt", "x")).Commit.CommitSHA
	if c1 == c2 {
		t.Fatal("fixture")
	}

	for _, p := range weird {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			q := "/api/v1/repos/file?path=" + url.QueryEscape(p)
			resp := e.do(t, "GET", q, r.Read, nil, "Accept-Encoding", "identity")
			wantStatus(t, resp, http.StatusOK)
			if string(resp.Body) != "weird "+p {
				t.Errorf("body = %q", resp.Body)
			}
			if got := resp.Header.Get("X-Last-Commit-Sha"); got != c1 {
				t.Errorf("X-Last-Commit-Sha = %s, want %s (c2 %s only touched look-alike files)", got, c1, c2)
			}

			page, _, _ := r.listCommits(t, "?path="+url.QueryEscape(p))
			var got []string
			for _, c := range page {
				got = append(got, c.SHA)
			}
			if !slices.Equal(got, []string{c1}) {
				t.Errorf("commits?path=%s = %v, want only %s", p, got, c1)
			}
		})
	}
	t.Run("metadata", func(t *testing.T) {
		t.Parallel()
		p, _, _ := r.filesMetadata(t, "")
		for _, f := range p.Files {
			if slices.Contains(weird, f.Path) && f.LastCommitSHA != c1 {
				t.Errorf("%s last_commit_sha = %s, want %s", f.Path, f.LastCommitSHA, c1)
			}
		}
	})
}

// TestControlCharacterNames: names with control characters (other than NUL
// and newline, which are refused) are ordinary paths end to end.
func TestControlCharacterNames(t *testing.T) {
	t.Parallel()
	e := start(t)
	names := []string{"\x01lead", "mid\x01dle", "tab\tname", "cr\rname", "\x1besc"}
	r := e.newRepo(t)
	var ops []fileOp
	for _, n := range names {
		ops = append(ops, upsert(n, "x"))
	}
	ops = append(ops, upsert("zzz.txt", "z"))
	c1 := r.commit(t, newMeta("main"), ops...).Commit.CommitSHA
	c2 := r.commit(t, newMeta("main"), upsert("later.txt", "l")).Commit.CommitSHA

	want := map[string]string{"later.txt": c2, "zzz.txt": c1}
	for _, n := range names {
		want[n] = c1
	}
	if got := treePaths(t, r.Dir(t), "main"); len(got) != len(want) {
		t.Fatalf("tree = %q", got)
	}
	p, _, _ := r.filesMetadata(t, "")
	got := map[string]string{}
	for _, f := range p.Files {
		got[f.Path] = f.LastCommitSHA
	}
	for path, sha := range want {
		if got[path] != sha {
			t.Errorf("%q last_commit_sha = %q, want %s", path, got[path], sha)
		}
	}
	for _, n := range names {
		resp := e.do(t, "GET", "/api/v1/repos/file?path="+url.QueryEscape(n), r.Read, nil)
		wantStatus(t, resp, http.StatusOK)
		if resp.Header.Get("X-Last-Commit-Sha") != c1 {
			t.Errorf("%q X-Last-Commit-Sha = %s, want %s", n, resp.Header.Get("X-Last-Commit-Sha"), c1)
		}
	}
}
