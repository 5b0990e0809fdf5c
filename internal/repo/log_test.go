package repo

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// logHistory builds a history with a side branch merged back, distinct
// authors and committers in different time zones, multi-line and non-ASCII
// messages, and a .mailmap that must not rename anyone in the API.
func logHistory(fx *dmFixture) git.ObjectID {
	fx.t.Helper()
	files := map[string]string{".mailmap": "Mapped <mapped@example.com> <author@example.com>\n"}
	write := func(i int, parents ...git.ObjectID) git.ObjectID {
		files[fmt.Sprintf("d%d/f%d.txt", i%3, i%5)] = fmt.Sprintf("version %d\n", i)
		tree := fx.tree(files)
		flags := []string{"-m", fmt.Sprintf("change %d ✓\n\nbody line\n  indented  \n", i)}
		for _, p := range parents {
			flags = append(flags, "-p", string(p))
		}
		date := 1700000000 + int64(i)*3600
		return git.ObjectID(fx.run(git.Command{Name: "commit-tree", Flags: flags, Args: []string{string(tree)}},
			git.WithEnv("GIT_AUTHOR_NAME=Author Ä", "GIT_AUTHOR_EMAIL=author@example.com",
				fmt.Sprintf("GIT_AUTHOR_DATE=%d +0530", date),
				"GIT_COMMITTER_NAME=Committer", "GIT_COMMITTER_EMAIL=committer@example.com",
				fmt.Sprintf("GIT_COMMITTER_DATE=%d -0800", date+7))))
	}
	tip := write(0)
	for i := 1; i < 40; i++ {
		tip = write(i, tip)
	}
	side := tip
	for i := 40; i < 55; i++ {
		side = write(i, side)
	}
	for i := 55; i < 70; i++ {
		tip = write(i, tip)
	}
	tip = write(70, tip, side)
	for i := 71; i < 90; i++ {
		tip = write(i, tip)
	}
	return tip
}

// TestLog_matchesGitLog pages through whole histories (all commits, a
// directory, one file) at several page sizes and checks that the pages
// concatenate to `git log`'s order and that every commit equals the object
// parsed from cat-file.
func TestLog_matchesGitLog(t *testing.T) {
	t.Parallel()
	fx := newDMFixture(t)
	tip := logHistory(fx)
	for _, path := range []string{"", "d1", "d2/f4.txt", "nope"} {
		want := strings.Fields(fx.run(git.Command{Name: "log", Flags: []string{"--format=%H"}, Args: []string{string(tip)}, PostSep: []string{":(literal)" + path}}))
		if path == "" {
			want = strings.Fields(fx.run(git.Command{Name: "log", Flags: []string{"--format=%H"}, Args: []string{string(tip)}}))
		}
		for _, limit := range []int{1, 7, 100} {
			t.Run(fmt.Sprintf("%s/%d", path, limit), func(t *testing.T) {
				var got []string
				for skip := 0; ; skip += limit {
					page, more, err := fx.repo.Log(fx.ctx, tip, LogOptions{Path: path, Skip: skip, Limit: limit})
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > limit {
						t.Fatalf("page of %d for limit %d", len(page), limit)
					}
					for _, c := range page {
						got = append(got, string(c.OID))
						raw, err := fx.repo.readCommitOID(fx.ctx, c.OID)
						if err != nil {
							t.Fatal(err)
						}
						raw.Signature, raw.Payload = "", ""
						if !reflect.DeepEqual(c, raw) {
							t.Fatalf("commit %s from the log:\n%+v\nfrom cat-file:\n%+v", c.OID, c, raw)
						}
					}
					if !more {
						break
					}
				}
				if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Fatalf("pages give %d commits %v\ngit log gives %d %v", len(got), got, len(want), want)
				}
			})
		}
	}
	// Skipping past the end is an empty last page.
	page, more, err := fx.repo.Log(fx.ctx, tip, LogOptions{Skip: 500, Limit: 10})
	if err != nil || len(page) != 0 || more {
		t.Fatalf("past the end: %d commits, more=%v, %v", len(page), more, err)
	}
	// A page handed out cannot be used to corrupt the cached walk.
	page, _, _ = fx.repo.Log(fx.ctx, tip, LogOptions{Limit: 3})
	_ = append(page, &Commit{OID: "corrupt"})
	again, _, _ := fx.repo.Log(fx.ctx, tip, LogOptions{Limit: 4})
	if again[3].OID == "corrupt" {
		t.Fatal("appending to a page wrote into the cache")
	}
}

func TestParseLog_malformed(t *testing.T) {
	t.Parallel()
	for _, out := range []string{
		"not-a-sha\x00t\x00\x00a\x00e\x001 +0000\x00c\x00e\x001 +0000\x00msg\x00",
		strings.Repeat("a", 40) + "\x00tree\x00",
	} {
		if _, err := parseLog([]byte(out)); err == nil {
			t.Errorf("parseLog(%q) succeeded", out)
		}
	}
}
