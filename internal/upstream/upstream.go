// Package upstream keeps repositories in step with the outside
// repositories they were created from (a GitHub or generic base_repo):
// durable sync jobs, each fetching the upstream with the git binary into a
// quarantine and moving refs through the one ref-update path, so a sync
// is checked, recorded and evented like any other write.
//
// Upstream hosts are chosen by tenants, so every fetch is an outbound
// request to an untrusted address: the host is resolved and checked by the
// operator's policy before git runs, git is pinned to the checked address
// (http.curloptResolve, so a second resolution cannot differ), redirects
// are not followed, and only https (plain http where private targets are
// allowed) may be spoken. Credentials reach git through a credential
// helper reading the child's environment: never on a command line, in a
// URL or in a log.
package upstream

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/strata-storage/strata/internal/metadata"
)

// publicHosts are the providers' own hosts, used when base_repo names no
// upstream_host. Forgejo is software, not a service: its best-known public
// instance is Codeberg.
var publicHosts = map[string]string{
	"gitlab":    "gitlab.com",
	"bitbucket": "bitbucket.org",
	"gitea":     "gitea.com",
	"forgejo":   "codeberg.org",
	"codeberg":  "codeberg.org",
	"sr.ht":     "git.sr.ht",
}

// IsProvider reports whether provider names an outside host Strata can
// sync from.
func IsProvider(provider string) bool {
	_, ok := publicHosts[provider]
	return ok || provider == "github"
}

// Linked reports whether a repository has an upstream: a fork or snapshot
// of a repository on this server does not.
func Linked(m metadata.Repo) bool {
	return m.BaseRepo != nil && IsProvider(m.BaseRepo.Provider)
}

var (
	// pathPart is one segment of an owner or repository name: GitLab
	// groups nest (group/sub/name), sourcehut owners start with '~'.
	pathPart = regexp.MustCompile(`^~?[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	hostRe   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$`)
)

// Validate checks a base_repo that names an upstream: what a create
// request may record.
func Validate(b *metadata.BaseRepo) error {
	if !IsProvider(b.Provider) {
		return fmt.Errorf("unsupported upstream provider %q", b.Provider)
	}
	for _, part := range append(strings.Split(b.Owner, "/"), b.Name) {
		if !pathPart.MatchString(part) || strings.HasSuffix(part, ".") {
			return fmt.Errorf("invalid upstream owner/name %q/%q", b.Owner, b.Name)
		}
	}
	if b.Provider == "github" && (strings.Contains(b.Owner, "/") || strings.HasPrefix(b.Owner, "~")) {
		return fmt.Errorf("invalid GitHub owner %q", b.Owner)
	}
	if b.UpstreamHost != "" && (!hostRe.MatchString(b.UpstreamHost) || len(b.UpstreamHost) > 253) {
		return fmt.Errorf("upstream_host must be a bare host name, got %q", b.UpstreamHost)
	}
	return nil
}

// URL is the upstream's clone URL. github is the GitHub web root (GitHub
// Enterprise, or a test server).
func URL(b *metadata.BaseRepo, github *url.URL) (*url.URL, error) {
	if err := Validate(b); err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(b.Name, ".git") + ".git"
	if b.Provider == "github" && b.UpstreamHost == "" {
		u := *github
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + b.Owner + "/" + name
		return &u, nil
	}
	host := b.UpstreamHost
	if host == "" {
		host = publicHosts[b.Provider]
	}
	return &url.URL{Scheme: "https", Host: host, Path: "/" + b.Owner + "/" + name}, nil
}
