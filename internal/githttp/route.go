package githttp

import (
	"errors"
	"net/url"
	"strings"

	"github.com/strata-storage/strata/internal/git"
)

// The two services of smart HTTP, named as git names them on the wire.
const (
	serviceUploadPack  = "git-upload-pack"
	serviceReceivePack = "git-receive-pack"
)

// remote is one of the three remote URL forms of API spec §6.1.
type remote int

const (
	remoteNormal    remote = iota // /{repo}.git
	remoteEphemeral               // /{repo}+ephemeral.git: the ephemeral namespace
	remoteImport                  // /{repo}+import.git: push-only, normal namespace
)

func (r remote) namespace() git.Namespace {
	if r == remoteEphemeral {
		return git.EphemeralNamespace
	}
	return git.NormalNamespace
}

// route is a parsed smart-HTTP request path.
type route struct {
	repoID string
	remote remote
	// service is set for the two POST endpoints; for info/refs it comes
	// from the query string.
	service string
	// infoRefs is true for GET .../info/refs.
	infoRefs bool
}

var errNotGitPath = errors.New("not a git smart HTTP path")

// parseRoute extracts the repository id from an escaped request path as
// spec §6.1 says: strip the leading "/", the service suffix, ".git", then
// an optional literal "+ephemeral" or "+import"; what remains is the id,
// each "/"-separated segment percent-decoded on its own. Only %XX
// sequences are decoded ("+" stays a plus sign), so "a%2Bimport.git" names
// the repository "a+import" on the normal remote.
func parseRoute(escapedPath string) (route, error) {
	var rt route
	p, ok := strings.CutPrefix(escapedPath, "/")
	if !ok {
		return rt, errNotGitPath
	}
	switch {
	case strings.HasSuffix(p, "/info/refs"):
		p, rt.infoRefs = strings.TrimSuffix(p, "/info/refs"), true
	case strings.HasSuffix(p, "/"+serviceUploadPack):
		p, rt.service = strings.TrimSuffix(p, "/"+serviceUploadPack), serviceUploadPack
	case strings.HasSuffix(p, "/"+serviceReceivePack):
		p, rt.service = strings.TrimSuffix(p, "/"+serviceReceivePack), serviceReceivePack
	default:
		return rt, errNotGitPath
	}
	p, ok = strings.CutSuffix(p, ".git")
	if !ok {
		return rt, errNotGitPath
	}
	switch {
	case strings.HasSuffix(p, "+ephemeral"):
		p, rt.remote = strings.TrimSuffix(p, "+ephemeral"), remoteEphemeral
	case strings.HasSuffix(p, "+import"):
		p, rt.remote = strings.TrimSuffix(p, "+import"), remoteImport
	}
	if p == "" {
		return rt, errNotGitPath
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "" {
			return rt, errNotGitPath
		}
		d, err := url.PathUnescape(s)
		if err != nil || d == "" {
			return rt, errNotGitPath
		}
		segs[i] = d
	}
	rt.repoID = strings.Join(segs, "/")
	return rt, nil
}
