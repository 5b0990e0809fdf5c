package upstream

import (
	"net/url"
	"testing"

	"github.com/strata-storage/strata/internal/metadata"
)

func TestURL(t *testing.T) {
	t.Parallel()
	gh := &url.URL{Scheme: "https", Host: "github.example.com", Path: "/root/"}
	for _, tc := range []struct {
		base metadata.BaseRepo
		want string
	}{
		{metadata.BaseRepo{Provider: "github", Owner: "octocat", Name: "Hello-World"}, "https://github.example.com/root/octocat/Hello-World.git"},
		{metadata.BaseRepo{Provider: "gitlab", Owner: "group/sub", Name: "proj.git"}, "https://gitlab.com/group/sub/proj.git"},
		{metadata.BaseRepo{Provider: "gitlab", Owner: "g", Name: "p", UpstreamHost: "git.example.com:8443"}, "https://git.example.com:8443/g/p.git"},
		{metadata.BaseRepo{Provider: "bitbucket", Owner: "o", Name: "n"}, "https://bitbucket.org/o/n.git"},
		{metadata.BaseRepo{Provider: "gitea", Owner: "o", Name: "n"}, "https://gitea.com/o/n.git"},
		{metadata.BaseRepo{Provider: "forgejo", Owner: "o", Name: "n"}, "https://codeberg.org/o/n.git"},
		{metadata.BaseRepo{Provider: "codeberg", Owner: "o", Name: "n"}, "https://codeberg.org/o/n.git"},
		{metadata.BaseRepo{Provider: "sr.ht", Owner: "~sir", Name: "n"}, "https://git.sr.ht/~sir/n.git"},
	} {
		u, err := URL(&tc.base, gh)
		if err != nil || u.String() != tc.want {
			t.Errorf("URL(%+v) = %v, %v; want %s", tc.base, u, err, tc.want)
		}
	}
	for _, b := range []metadata.BaseRepo{
		{Provider: "code", Owner: "o", Name: "n"},
		{Provider: "gitlab", Owner: "..", Name: "n"},
		{Provider: "gitlab", Owner: "o", Name: "-n"},
		{Provider: "gitlab", Owner: "o/", Name: "n"},
		{Provider: "gitlab", Owner: "o", Name: "n?x=1"},
		{Provider: "gitlab", Owner: "o", Name: "n#f"},
		{Provider: "gitlab", Owner: "o", Name: "n", UpstreamHost: "user@evil.com"},
		{Provider: "gitlab", Owner: "o", Name: "n", UpstreamHost: "evil.com/path"},
		{Provider: "gitlab", Owner: "o", Name: "n", UpstreamHost: "-oProxyCommand=x"},
		{Provider: "github", Owner: "a/b", Name: "n"},
	} {
		if u, err := URL(&b, gh); err == nil {
			t.Errorf("URL(%+v) = %v, want an error", b, u)
		}
	}
}

func TestFullRef(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "", "main": "refs/heads/main", "refs/heads/a/b": "refs/heads/a/b", "refs/tags/v1": "refs/tags/v1"} {
		if got, err := fullRef(in); err != nil || got != want {
			t.Errorf("fullRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"refs/notes/x", "a..b", "-x", "refs/heads/", "a b", "refs/pull/1/head"} {
		if got, err := fullRef(in); err == nil {
			t.Errorf("fullRef(%q) = %q, want an error", in, got)
		}
	}
}
