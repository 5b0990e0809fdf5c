package repo_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/repo"
)

// BenchmarkCommitChanges_special measures what the special-file fsck check
// (fsck.go) adds to a commit: an ordinary file costs a name test; a new
// version of a .gitattributes one `git index-pack --strict`.
func BenchmarkCommitChanges_special(b *testing.B) {
	for _, name := range []string{"notes.txt", ".gitattributes"} {
		b.Run(name, func(b *testing.B) {
			f, err := git.NewFactory(git.FactoryOptions{})
			if err != nil {
				b.Fatal(err)
			}
			cache := catfile.NewCache(f, catfile.Options{})
			b.Cleanup(cache.Stop)
			m, err := repo.NewManager(b.TempDir(), f, cache, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(m.Close)
			r, err := m.Create(context.Background(), "bench", "main")
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			author := repo.Signature{Name: "A", Email: "a@example.com"}
			b.ResetTimer()
			for i := range b.N {
				w, err := r.BeginWrite()
				if err != nil {
					b.Fatal(err)
				}
				bw := w.NewBlob()
				io.Copy(bw, strings.NewReader(fmt.Sprintf("*.bin%d binary\n", i)))
				oid, err := bw.Close()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.CommitChanges(ctx, w, repo.CommitRequest{Branch: "main", Author: author, Message: "m",
					Changes: []repo.FileChange{{Path: name, Mode: "100644", OID: oid}}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
