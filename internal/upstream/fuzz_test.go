package upstream

import (
	"net/url"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/metadata"
)

// FuzzURL: whatever a tenant puts in base_repo, an accepted upstream URL
// is https, on the provider's host or the given bare host, with a path of
// the owner's and name's segments only — nothing that git could read as
// an option, a different host, credentials or a traversal.
func FuzzURL(f *testing.F) {
	for _, s := range [][4]string{
		{"gitlab", "group/sub", "proj", ""},
		{"github", "octocat", "Hello-World", ""},
		{"gitea", "o", "n.git", "git.example.com:8443"},
		{"sr.ht", "~sir", "n", ""},
		{"gitlab", "..", "n", "evil.com/x"},
		{"gitlab", "o", "n", "user@evil.com"},
		{"bitbucket", "o", "-n", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	gh := &url.URL{Scheme: "https", Host: "github.com"}
	f.Fuzz(func(t *testing.T, provider, owner, name, host string) {
		b := &metadata.BaseRepo{Provider: provider, Owner: owner, Name: name, UpstreamHost: host}
		u, err := URL(b, gh)
		if err != nil {
			return
		}
		if u.Scheme != "https" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("%+v -> %s", b, u)
		}
		wantHost := host
		if wantHost == "" {
			wantHost = publicHosts[provider]
			if provider == "github" {
				wantHost = gh.Host
			}
		}
		if u.Host != wantHost {
			t.Fatalf("%+v -> host %q, want %q", b, u.Host, wantHost)
		}
		back, err := url.Parse(u.String())
		if err != nil || back.Host != u.Host || back.Path != u.Path {
			t.Fatalf("%+v -> %s does not round-trip: %v %v", b, u, back, err)
		}
		for _, seg := range strings.Split(strings.TrimPrefix(u.Path, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, "-") {
				t.Fatalf("%+v -> path %q has segment %q", b, u.Path, seg)
			}
		}
		if !strings.HasSuffix(u.Path, ".git") {
			t.Fatalf("%+v -> path %q", b, u.Path)
		}
	})
}
