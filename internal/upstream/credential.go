package upstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
)

// ErrNoGitHubApp is a private GitHub repository on a server without a
// GitHub App.
var ErrNoGitHubApp = errors.New("GitHub App authentication is not configured on this server (--github-app-id, --github-app-key)")

// GitHubApp reports whether the Syncer can authenticate to private GitHub
// repositories.
func (s *Syncer) GitHubApp() bool { return s != nil && s.opts.GitHubApp != nil }

// credentialFor is the credential git presents to meta's upstream, for a
// fetch or a push, or nil for none:
//
//   - a GitHub repository that is public: none;
//   - any other GitHub repository: an installation token of the GitHub App
//     (user x-access-token), sent only to the configured GitHub host;
//   - a generic upstream: the repository's stored git credential, if any.
func (s *Syncer) credentialFor(ctx context.Context, meta metadata.Repo) (*gitcred.Credential, error) {
	b := meta.BaseRepo
	if b == nil || !IsProvider(b.Provider) {
		return nil, ErrNotLinked
	}
	if b.Provider == "github" {
		if b.AuthType == metadata.AuthPublic {
			return nil, nil
		}
		if s.opts.GitHubApp == nil {
			return nil, ErrNoGitHubApp
		}
		// The token opens every repository of the installation: it goes to
		// the operator's GitHub, never to a host a tenant named.
		if b.UpstreamHost != "" && !strings.EqualFold(b.UpstreamHost, s.opts.GitHubURL.Host) {
			return nil, fmt.Errorf("GitHub App repositories sync from %s only, not upstream_host %q", s.opts.GitHubURL.Host, b.UpstreamHost)
		}
		return s.opts.GitHubApp.Credential(ctx, b.Owner, strings.TrimSuffix(b.Name, ".git"))
	}
	c, err := s.creds.ForRepo(ctx, meta.StorageKey)
	switch {
	case err == nil:
		return &c, nil
	case errors.Is(err, metadata.ErrNotFound):
		return nil, nil
	}
	return nil, err
}
