package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/repo"
)

// TestCommitJSON_sameBytesAsAMap: the commit object was a map; as a
// struct it must encode to the same bytes (keys in sorted order).
func TestCommitJSON_sameBytesAsAMap(t *testing.T) {
	t.Parallel()
	when := time.Unix(1700000000, 0).In(time.FixedZone("+0530", 5*3600+1800))
	for _, c := range []*repo.Commit{
		{OID: git.ObjectID(strings.Repeat("a", 40)), Message: "root <&> \"quoted\" ✓\n",
			Author: repo.Signature{Name: "A", Email: "a@example.com", When: when}, Committer: repo.Signature{Name: "C", Email: "c@example.com", When: when}},
		{OID: git.ObjectID(strings.Repeat("b", 40)), Parents: []git.ObjectID{git.ObjectID(strings.Repeat("a", 40)), git.ObjectID(strings.Repeat("c", 40))},
			Message: "merge\n\nbody\n\n", Author: repo.Signature{Name: "", Email: "", When: when},
			Signature: "-----BEGIN SSH SIGNATURE-----\nx\n-----END SSH SIGNATURE-----\n", Payload: "tree x\n\nmerge\n"},
	} {
		parents := []string{}
		for _, p := range c.Parents {
			parents = append(parents, string(p))
		}
		old := map[string]any{
			"sha": string(c.OID), "parent_shas": parents, "message": strings.TrimRight(c.Message, "\n"),
			"author_name": c.Author.Name, "author_email": c.Author.Email,
			"committer_name": c.Committer.Name, "committer_email": c.Committer.Email,
			"date": c.Author.When.Format(time.RFC3339),
		}
		obj := commitJSON(c)
		if c.Signature != "" {
			old["signature"], old["payload"] = c.Signature, c.Payload
			obj.Signature, obj.Payload = c.Signature, c.Payload
		}
		encode := func(v any) []byte {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			return b.Bytes()
		}
		if got, want := encode(obj), encode(old); !bytes.Equal(got, want) {
			t.Errorf("struct encodes as\n%s\nthe map as\n%s", got, want)
		}
	}
}
