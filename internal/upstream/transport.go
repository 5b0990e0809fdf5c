package upstream

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/strata-storage/strata/internal/gitcred"
)

// credentialHelper answers git's credential "get" from the child's own
// environment, so the secret is on no command line and in no file.
const credentialHelper = `!f() { test "$1" = get || exit 0; printf 'username=%s\npassword=%s\n' "$STRATA_GIT_USERNAME" "$STRATA_GIT_PASSWORD"; }; f`

// transportEnv is the environment of a git child that talks to the
// upstream u, fetch and push alike: the one place that makes such a
// request safe. The host is resolved and checked by policy first and git
// is pinned to the checked address (http.curloptResolve), so it resolves
// nothing itself; only https is spoken (plain http too where private
// targets are allowed), every other transport is shut, redirects are not
// followed, a stalled transfer aborts, and caBundle (when set) is the set
// of roots trusted. cred, when not nil, reaches git through a credential
// helper reading the child's environment: never a command line or a URL.
// extra config pairs (the command's own) are appended.
func transportEnv(ctx context.Context, policy Policy, caBundle string, u *url.URL, cred *gitcred.Credential, extra ...[2]string) ([]string, error) {
	if u.Scheme != "https" && !(u.Scheme == "http" && policy.AllowsPrivate()) {
		return nil, fmt.Errorf("upstream %s: only https upstreams are allowed", u.Redacted())
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	addr, err := policy.Resolve(ctx, u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.Redacted(), err)
	}
	config := [][2]string{
		{"protocol.allow", "never"},
		{"protocol.https.allow", "always"},
		// Pinned to the checked address: git resolves nothing itself.
		{"http.curloptResolve", u.Hostname() + ":" + port + ":" + curlAddr(addr)},
		{"http.followRedirects", "false"},
		{"http.lowSpeedLimit", "1024"},
		{"http.lowSpeedTime", "60"},
		{"credential.helper", ""},
	}
	config = append(config, extra...)
	if policy.AllowsPrivate() {
		config = append(config, [2]string{"protocol.http.allow", "always"})
	}
	if caBundle != "" {
		config = append(config, [2]string{"http.sslCAInfo", caBundle})
	}
	var env []string
	if cred != nil {
		config = append(config, [2]string{"credential.helper", credentialHelper})
		user := cred.Username
		if user == "" {
			user = "x-access-token" // token-only credentials: any name works
		}
		env = append(env, "STRATA_GIT_USERNAME="+user, "STRATA_GIT_PASSWORD="+cred.Password.Reveal())
	}
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env, nil
}

// curlAddr spells an address as curl's resolve list wants it.
func curlAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		return "[" + a.String() + "]"
	}
	return a.Unmap().String()
}
