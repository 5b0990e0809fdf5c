package api_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/gitcred"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/secretbox"
	"github.com/strata-storage/strata/internal/server"
	"github.com/strata-storage/strata/internal/servertest"
)

const credV1 = "/api/v1/repos/git-credentials"

var credIDRE = regexp.MustCompile(`^cred_[0-9a-f]{32}$`)

// credNext is the path-scoped credentials path of repository id, plus
// "/<escaped credID>" when credID is given.
func credNext(id string, credID ...string) string {
	p := "/api/repos/" + url.PathEscape(id) + "/git-credentials"
	for _, c := range credID {
		p += "/" + url.PathEscape(c)
	}
	return p
}

// wantCreated checks a 201 {id, created_at} and returns the id.
func wantCreated(t testing.TB, r *response) string {
	t.Helper()
	wantStatus(t, r, http.StatusCreated)
	return wantCredential(t, r)
}

// wantCredential checks a {id, created_at} body and returns the id.
func wantCredential(t testing.TB, r *response) string {
	t.Helper()
	m := object(t, r)
	id, _ := m["id"].(string)
	if !credIDRE.MatchString(id) {
		t.Fatalf("id %q is not cred_ and 128 bits of hex: %s", id, r.Body)
	}
	created, _ := m["created_at"].(string)
	if ts, err := time.Parse(time.RFC3339, created); err != nil || time.Since(ts) > time.Hour || time.Until(ts) > time.Minute {
		t.Fatalf("created_at = %q: not a current RFC 3339 time (%v)", created, err)
	}
	if len(m) != 2 {
		t.Fatalf("credential body has more than id and created_at: %s", r.Body)
	}
	return id
}

// wantNoContent checks a 204 with an empty body.
func wantNoContent(t testing.TB, r *response) {
	t.Helper()
	wantStatus(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Fatalf("204 with a body: %q", r.Body)
	}
}

// vaultOf opens the server's credentials as the upstream sync will: its
// database and its generated key.
func vaultOf(t testing.TB, dataDir string) *gitcred.Vault {
	t.Helper()
	key, err := secretbox.LoadKeyFile(filepath.Join(dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	return vaultWithKey(t, dataDir, key)
}

func vaultWithKey(t testing.TB, dataDir string, key []byte) *gitcred.Vault {
	t.Helper()
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := metadata.OpenSQLite(filepath.Join(dataDir, "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return gitcred.New(st, box)
}

// storageKey reads a live repository's storage key from the server's
// database.
func storageKey(t testing.TB, dataDir, org, id string) string {
	t.Helper()
	st, err := metadata.OpenSQLite(filepath.Join(dataDir, "strata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := st.Repo(t.Context(), org, id)
	if err != nil {
		t.Fatal(err)
	}
	return m.StorageKey
}

// wantSecret checks what the sync would get for repository id.
func wantSecret(t testing.TB, v *gitcred.Vault, dataDir, id, username, password string) {
	t.Helper()
	c, err := v.ForRepo(t.Context(), storageKey(t, dataDir, "acme", id))
	if err != nil {
		t.Fatalf("ForRepo(%s): %v", id, err)
	}
	if c.Username != username || c.Password.Reveal() != password {
		t.Fatalf("credential of %s: username %q, password matches: %v; want %q", id, c.Username, c.Password.Reveal() == password, username)
	}
}

// TestGitCredentials_v1 drives every status of the /api/v1 routes.
func TestGitCredentials_v1(t *testing.T) {
	t.Parallel()
	e := start(t)
	orgToken := e.Token("org", auth.ScopeRepoWrite)
	vault := vaultOf(t, e.DataDir)

	t.Run("create, update, delete", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		resp := e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "pw-one", "username": "alice"}))
		id := wantCreated(t, resp)
		created := object(t, resp)["created_at"]
		wantSecret(t, vault, e.DataDir, r.ID, "alice", "pw-one")

		resp = e.do(t, "PUT", credV1, orgToken, jsonBody(t, map[string]any{"id": id, "password": "pw-two"}))
		wantStatus(t, resp, http.StatusOK)
		if wantCredential(t, resp) != id || object(t, resp)["created_at"] != created {
			t.Fatalf("PUT answered %s; want id %s, created_at %v", resp.Body, id, created)
		}
		wantSecret(t, vault, e.DataDir, r.ID, "alice", "pw-two") // username kept when absent
		resp = e.do(t, "PUT", credV1, orgToken, jsonBody(t, map[string]any{"id": id, "password": "pw-three", "username": ""}))
		wantStatus(t, resp, http.StatusOK)
		wantSecret(t, vault, e.DataDir, r.ID, "", "pw-three")

		wantNoContent(t, e.do(t, "DELETE", credV1, orgToken, jsonBody(t, map[string]any{"id": id})))
		wantError(t, e.do(t, "DELETE", credV1, orgToken, jsonBody(t, map[string]any{"id": id})), http.StatusNotFound)
		wantError(t, e.do(t, "PUT", credV1, orgToken, jsonBody(t, map[string]any{"id": id, "password": "x"})), http.StatusNotFound)
		// The repository may have a credential again.
		wantCreated(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "pw-four"})))
		wantSecret(t, vault, e.DataDir, r.ID, "", "pw-four")
	})

	t.Run("create errors", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		for _, tc := range []struct {
			desc   string
			token  string
			body   string
			status int
		}{
			{"no token", "", `{"repo_id":"` + r.ID + `","password":"p"}`, http.StatusUnauthorized},
			{"git:write only", r.Write, `{"repo_id":"` + r.ID + `","password":"p"}`, http.StatusForbidden},
			{"missing password", r.Admin, `{"repo_id":"` + r.ID + `"}`, http.StatusBadRequest},
			{"empty password", r.Admin, `{"repo_id":"` + r.ID + `","password":""}`, http.StatusBadRequest},
			{"password with a newline", r.Admin, `{"repo_id":"` + r.ID + `","password":"a\nb"}`, http.StatusBadRequest},
			{"username with a newline", r.Admin, `{"repo_id":"` + r.ID + `","password":"p","username":"a\nb"}`, http.StatusBadRequest},
			{"missing repo_id", r.Admin, `{"password":"p"}`, http.StatusBadRequest},
			{"no body", r.Admin, ``, http.StatusBadRequest},
			{"invalid JSON", r.Admin, `{"repo_id":`, http.StatusBadRequest},
			{"password not a string", r.Admin, `{"repo_id":"` + r.ID + `","password":12}`, http.StatusBadRequest},
			{"another repository's id", r.Admin, `{"repo_id":"someone/else","password":"p"}`, http.StatusForbidden},
			{"repo_name of another repository", r.Admin, `{"repo_id":"` + r.ID + `","repo_name":"else","password":"p"}`, http.StatusForbidden},
		} {
			resp := e.do(t, "POST", credV1, tc.token, strings.NewReader(tc.body))
			if resp.Status != tc.status {
				t.Errorf("%s: %s, want %d", tc.desc, resp, tc.status)
				continue
			}
			wantError(t, resp, tc.status)
		}
		// Nothing was stored by any of them.
		if _, err := vault.ForRepo(t.Context(), storageKey(t, e.DataDir, "acme", r.ID)); !errors.Is(err, metadata.ErrNotFound) {
			t.Fatalf("refused creates left a credential: %v", err)
		}
		// repo_name is accepted in place of repo_id.
		wantCreated(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_name": r.ID, "password": "p"})))
	})

	t.Run("second credential", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		wantCreated(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "first"})))
		wantError(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "second"})), http.StatusConflict)
		wantSecret(t, vault, e.DataDir, r.ID, "", "first")
	})

	t.Run("no such repository", func(t *testing.T) {
		t.Parallel()
		r := e.repoFor(uniqueID("never"))
		wantError(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "p"})), http.StatusNotFound)
		d := e.newRepo(t)
		wantStatus(t, e.do(t, "DELETE", "/api/v1/repos/delete", d.Admin, nil), http.StatusOK)
		wantError(t, e.do(t, "POST", credV1, d.Admin, jsonBody(t, map[string]any{"repo_id": d.ID, "password": "p"})), http.StatusNotFound)
	})

	t.Run("deleting the repository deletes its credential", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		id := wantCreated(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "p"})))
		wantStatus(t, e.do(t, "DELETE", "/api/v1/repos/delete", r.Admin, nil), http.StatusOK)
		wantError(t, e.do(t, "PUT", credV1, orgToken, jsonBody(t, map[string]any{"id": id, "password": "q"})), http.StatusNotFound)
		wantError(t, e.do(t, "DELETE", credV1, orgToken, jsonBody(t, map[string]any{"id": id})), http.StatusNotFound)
		// The recreated repository starts without one.
		wantStatus(t, e.do(t, "POST", "/api/v1/repos", r.Admin, nil), http.StatusCreated)
		wantCreated(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "again"})))
	})

	t.Run("update and delete errors", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		other := e.newRepo(t)
		id := wantCreated(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "keep", "username": "u"})))
		for _, tc := range []struct {
			desc, method, token, body string
			status                    int
		}{
			{"PUT no token", "PUT", "", `{"id":"` + id + `","password":"x"}`, http.StatusUnauthorized},
			{"PUT git:write only", "PUT", e.Token("org", auth.ScopeGitWrite), `{"id":"` + id + `","password":"x"}`, http.StatusForbidden},
			{"PUT missing id", "PUT", orgToken, `{"password":"x"}`, http.StatusBadRequest},
			{"PUT missing password", "PUT", orgToken, `{"id":"` + id + `"}`, http.StatusBadRequest},
			{"PUT invalid JSON", "PUT", orgToken, `[`, http.StatusBadRequest},
			{"PUT unknown id", "PUT", orgToken, `{"id":"cred_00000000000000000000000000000000","password":"x"}`, http.StatusNotFound},
			{"PUT by another repository's token", "PUT", other.Admin, `{"id":"` + id + `","password":"x"}`, http.StatusNotFound},
			{"DELETE no token", "DELETE", "", `{"id":"` + id + `"}`, http.StatusUnauthorized},
			{"DELETE org:read", "DELETE", e.Token("org", auth.ScopeOrgRead), `{"id":"` + id + `"}`, http.StatusForbidden},
			{"DELETE missing id", "DELETE", orgToken, `{}`, http.StatusBadRequest},
			{"DELETE no body", "DELETE", orgToken, ``, http.StatusBadRequest},
			{"DELETE unknown id", "DELETE", orgToken, `{"id":"nope"}`, http.StatusNotFound},
			{"DELETE by another repository's token", "DELETE", other.Admin, `{"id":"` + id + `"}`, http.StatusNotFound},
		} {
			resp := e.do(t, tc.method, credV1, tc.token, strings.NewReader(tc.body))
			if resp.Status != tc.status {
				t.Errorf("%s: %s, want %d", tc.desc, resp, tc.status)
				continue
			}
			wantError(t, resp, tc.status)
		}
		wantSecret(t, vault, e.DataDir, r.ID, "u", "keep")
		// The credential's own repository token may manage it too.
		wantStatus(t, e.do(t, "PUT", credV1, r.Admin, jsonBody(t, map[string]any{"id": id, "password": "mine"})), http.StatusOK)
		wantSecret(t, vault, e.DataDir, r.ID, "u", "mine")
		wantNoContent(t, e.do(t, "DELETE", credV1, r.Admin, jsonBody(t, map[string]any{"id": id})))
	})
}

// TestGitCredentials_pathScoped drives every status of the
// /api/repos/{name}/git-credentials routes.
func TestGitCredentials_pathScoped(t *testing.T) {
	t.Parallel()
	e := start(t)
	vault := vaultOf(t, e.DataDir)

	t.Run("create, update, delete", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		id := wantCreated(t, e.do(t, "POST", credNext(r.ID), r.Admin, jsonBody(t, map[string]any{"password": "pw-one", "username": "bob"})))
		wantSecret(t, vault, e.DataDir, r.ID, "bob", "pw-one")
		resp := e.do(t, "PUT", credNext(r.ID, id), r.Admin, jsonBody(t, map[string]any{"password": "pw-two", "username": "carol"}))
		wantStatus(t, resp, http.StatusOK)
		if wantCredential(t, resp) != id {
			t.Fatalf("PUT answered %s, want id %s", resp.Body, id)
		}
		wantSecret(t, vault, e.DataDir, r.ID, "carol", "pw-two")
		// A body may repeat the id.
		wantStatus(t, e.do(t, "PUT", credNext(r.ID, id), r.Admin, jsonBody(t, map[string]any{"id": id, "password": "pw-three"})), http.StatusOK)
		wantSecret(t, vault, e.DataDir, r.ID, "carol", "pw-three")
		wantNoContent(t, e.do(t, "DELETE", credNext(r.ID, id), r.Admin, nil))
		wantError(t, e.do(t, "DELETE", credNext(r.ID, id), r.Admin, nil), http.StatusNotFound)
		wantError(t, e.do(t, "PUT", credNext(r.ID, id), r.Admin, jsonBody(t, map[string]any{"password": "x"})), http.StatusNotFound)
	})

	t.Run("create with the repository in the body", func(t *testing.T) {
		t.Parallel()
		for _, field := range []string{"repo_id", "repo_name"} {
			r := e.newRepo(t)
			wantCreated(t, e.do(t, "POST", credNext(r.ID), r.Admin, jsonBody(t, map[string]any{field: r.ID, "password": "p"})))
		}
	})

	t.Run("create errors", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		other := e.newRepo(t)
		for _, tc := range []struct {
			desc, path, token, body string
			status                  int
		}{
			{"no token", credNext(r.ID), "", `{"password":"p"}`, http.StatusUnauthorized},
			{"git:write only", credNext(r.ID), r.Write, `{"password":"p"}`, http.StatusForbidden},
			{"another repository's token", credNext(r.ID), other.Admin, `{"password":"p"}`, http.StatusForbidden},
			{"missing password", credNext(r.ID), r.Admin, `{"username":"u"}`, http.StatusBadRequest},
			{"no body", credNext(r.ID), r.Admin, ``, http.StatusBadRequest},
			{"invalid JSON", credNext(r.ID), r.Admin, `{"password":`, http.StatusBadRequest},
			{"repo_id of another repository", credNext(r.ID), r.Admin, `{"repo_id":"` + other.ID + `","password":"p"}`, http.StatusForbidden},
			{"repo_name of another repository", credNext(r.ID), r.Admin, `{"repo_name":"` + other.ID + `","password":"p"}`, http.StatusForbidden},
		} {
			resp := e.do(t, "POST", tc.path, tc.token, strings.NewReader(tc.body))
			if resp.Status != tc.status {
				t.Errorf("%s: %s, want %d", tc.desc, resp, tc.status)
				continue
			}
			wantError(t, resp, tc.status)
		}
		if _, err := vault.ForRepo(t.Context(), storageKey(t, e.DataDir, "acme", r.ID)); !errors.Is(err, metadata.ErrNotFound) {
			t.Fatalf("refused creates left a credential: %v", err)
		}
		wantCreated(t, e.do(t, "POST", credNext(r.ID), r.Admin, jsonBody(t, map[string]any{"password": "first"})))
		wantError(t, e.do(t, "POST", credNext(r.ID), r.Admin, jsonBody(t, map[string]any{"password": "second"})), http.StatusConflict)
		wantSecret(t, vault, e.DataDir, r.ID, "", "first")

		never := e.repoFor(uniqueID("never"))
		wantError(t, e.do(t, "POST", credNext(never.ID), never.Admin, jsonBody(t, map[string]any{"password": "p"})), http.StatusNotFound)
	})

	t.Run("update and delete errors", func(t *testing.T) {
		t.Parallel()
		r := e.newRepo(t)
		other := e.newRepo(t)
		id := wantCreated(t, e.do(t, "POST", credNext(r.ID), r.Admin, jsonBody(t, map[string]any{"password": "keep", "username": "u"})))
		otherID := wantCreated(t, e.do(t, "POST", credNext(other.ID), other.Admin, jsonBody(t, map[string]any{"password": "other"})))
		for _, tc := range []struct {
			desc, method, path, token, body string
			status                          int
		}{
			{"PUT no token", "PUT", credNext(r.ID, id), "", `{"password":"x"}`, http.StatusUnauthorized},
			{"PUT git:write only", "PUT", credNext(r.ID, id), r.Write, `{"password":"x"}`, http.StatusForbidden},
			{"PUT with another repository's token", "PUT", credNext(r.ID, id), other.Admin, `{"password":"x"}`, http.StatusForbidden},
			{"PUT missing password", "PUT", credNext(r.ID, id), r.Admin, `{"username":"x"}`, http.StatusBadRequest},
			{"PUT invalid JSON", "PUT", credNext(r.ID, id), r.Admin, `{`, http.StatusBadRequest},
			{"PUT body id differs", "PUT", credNext(r.ID, id), r.Admin, `{"id":"` + otherID + `","password":"x"}`, http.StatusBadRequest},
			{"PUT unknown id", "PUT", credNext(r.ID, "cred_00000000000000000000000000000000"), r.Admin, `{"password":"x"}`, http.StatusNotFound},
			{"PUT escaped id", "PUT", credNext(r.ID, "credential/"+id), r.Admin, `{"password":"x"}`, http.StatusNotFound},
			{"PUT another repository's credential", "PUT", credNext(r.ID, otherID), r.Admin, `{"password":"x"}`, http.StatusNotFound},
			{"DELETE no token", "DELETE", credNext(r.ID, id), "", ``, http.StatusUnauthorized},
			{"DELETE git:read only", "DELETE", credNext(r.ID, id), r.Read, ``, http.StatusForbidden},
			{"DELETE with another repository's token", "DELETE", credNext(r.ID, id), other.Admin, ``, http.StatusForbidden},
			{"DELETE unknown id", "DELETE", credNext(r.ID, "nope"), r.Admin, ``, http.StatusNotFound},
			{"DELETE another repository's credential", "DELETE", credNext(r.ID, otherID), r.Admin, ``, http.StatusNotFound},
			{"DELETE body id differs", "DELETE", credNext(r.ID, id), r.Admin, `{"id":"` + otherID + `"}`, http.StatusBadRequest},
		} {
			resp := e.do(t, tc.method, tc.path, tc.token, strings.NewReader(tc.body))
			if resp.Status != tc.status {
				t.Errorf("%s: %s, want %d", tc.desc, resp, tc.status)
				continue
			}
			wantError(t, resp, tc.status)
		}
		wantSecret(t, vault, e.DataDir, r.ID, "u", "keep")
		wantSecret(t, vault, e.DataDir, other.ID, "", "other")
		// The /api/v1 spelling reaches the same credential.
		wantNoContent(t, e.do(t, "DELETE", credV1, e.Token("org", auth.ScopeRepoWrite), jsonBody(t, map[string]any{"id": id})))
		wantError(t, e.do(t, "DELETE", credNext(r.ID, id), r.Admin, nil), http.StatusNotFound)
	})
}

// TestGitCredentials_orgIsolation: a second organisation can neither see,
// update nor delete the first's credential, even with the same ids.
func TestGitCredentials_orgIsolation(t *testing.T) {
	t.Parallel()
	globex, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := auth.WriteKeyPair(t.TempDir(), "globex", globex)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, servertest.WithConfig(func(c *config.Config) {
		c.Orgs = append(c.Orgs, config.OrgKey{Org: "globex", Path: pub})
	}))
	gtoken := func(repo string, scopes ...auth.Scope) string {
		tok, err := auth.Mint(globex, auth.Claims{Issuer: "globex", Repo: repo, Scopes: scopes, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	vault := vaultOf(t, e.DataDir)

	r := e.newRepo(t)
	id := wantCreated(t, e.do(t, "POST", credV1, r.Admin, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "acme-secret", "username": "a"})))

	gOrg := gtoken("org", auth.ScopeRepoWrite)
	wantError(t, e.do(t, "PUT", credV1, gOrg, jsonBody(t, map[string]any{"id": id, "password": "evil"})), http.StatusNotFound)
	wantError(t, e.do(t, "DELETE", credV1, gOrg, jsonBody(t, map[string]any{"id": id})), http.StatusNotFound)
	// globex's token for the same repository id: that repository does not
	// exist in globex.
	gRepo := gtoken(r.ID, auth.ScopeRepoWrite)
	wantError(t, e.do(t, "POST", credV1, gRepo, jsonBody(t, map[string]any{"repo_id": r.ID, "password": "evil"})), http.StatusNotFound)
	wantError(t, e.do(t, "POST", credNext(r.ID), gRepo, jsonBody(t, map[string]any{"password": "evil"})), http.StatusNotFound)
	wantError(t, e.do(t, "PUT", credNext(r.ID, id), gRepo, jsonBody(t, map[string]any{"password": "evil"})), http.StatusNotFound)
	wantError(t, e.do(t, "DELETE", credNext(r.ID, id), gRepo, nil), http.StatusNotFound)

	// Once globex has a repository of that id, it gets its own credential
	// and still cannot reach acme's.
	wantStatus(t, e.do(t, "POST", "/api/v1/repos", gRepo, nil), http.StatusCreated)
	gid := wantCreated(t, e.do(t, "POST", credNext(r.ID), gRepo, jsonBody(t, map[string]any{"password": "globex-secret"})))
	if gid == id {
		t.Fatal("two organisations got the same credential id")
	}
	wantError(t, e.do(t, "PUT", credNext(r.ID, id), gRepo, jsonBody(t, map[string]any{"password": "evil"})), http.StatusNotFound)
	wantError(t, e.do(t, "DELETE", credNext(r.ID, id), gRepo, nil), http.StatusNotFound)
	// And acme cannot reach globex's.
	wantError(t, e.do(t, "DELETE", credV1, e.Token("org", auth.ScopeRepoWrite), jsonBody(t, map[string]any{"id": gid})), http.StatusNotFound)
	wantSecret(t, vault, e.DataDir, r.ID, "a", "acme-secret")
}

// ---------------------------------------------------------------------------
// A server of our own: its log captured, restartable on one data dir.

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ownServer is a server started from a fixed data dir and org key.
type ownServer struct {
	url    string
	client *http.Client
	stop   func()
}

type ownEnv struct {
	dir    string // data dir
	signer crypto.Signer
	pub    string
	logs   syncBuffer
}

func newOwnEnv(t *testing.T) *ownEnv {
	t.Helper()
	dir := t.TempDir()
	signer, err := auth.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := auth.WriteKeyPair(filepath.Join(dir, "keys"), "acme", signer)
	if err != nil {
		t.Fatal(err)
	}
	return &ownEnv{dir: filepath.Join(dir, "data"), signer: signer, pub: pub}
}

func (o *ownEnv) config(edit ...func(*config.Config)) config.Config {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = o.dir
	cfg.Orgs = []config.OrgKey{{Org: "acme", Path: o.pub}}
	for _, fn := range edit {
		fn(&cfg)
	}
	return cfg
}

// start runs a server logging everything, debug included, into o.logs.
func (o *ownEnv) start(t *testing.T, edit ...func(*config.Config)) *ownServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(&o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(o.config(edit...), log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	tr := &http.Transport{}
	s := &ownServer{url: "http://" + srv.Addr().String(), client: validated(t, &http.Client{Transport: tr, Timeout: time.Minute})}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
			tr.CloseIdleConnections()
		})
	}
	t.Cleanup(s.stop)
	return s
}

func (o *ownEnv) token(t *testing.T, repo string, scopes ...auth.Scope) string {
	t.Helper()
	tok, err := auth.Mint(o.signer, auth.Claims{Issuer: "acme", Repo: repo, Scopes: scopes, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *ownServer) do(t *testing.T, method, path, token, body string) *response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// dbBytes is everything SQLite has on disk: the database, its WAL and
// shared memory.
func dbBytes(t *testing.T, dir string) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "strata.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// The password is stored sealed, never logged, never answered; the
// generated key file is 0600 and survives restarts, so a credential
// created before a restart still opens after it.
func TestGitCredentials_atRestAndRestart(t *testing.T) {
	t.Parallel()
	const (
		pw1  = "Sup3r-Secret-Upstream-Token-1f6c"
		pw2  = "Sup3r-Secret-Upstream-Token-9b2e"
		pwNo = "Sup3r-Secret-Refused-Token-77aa" // only ever in refused requests
	)
	o := newOwnEnv(t)
	repoID := "team/mirror"
	admin := o.token(t, repoID, auth.ScopeRepoWrite)
	org := o.token(t, "org", auth.ScopeRepoWrite)
	var credID string
	var key []byte
	var bodies [][]byte

	t.Run("first run", func(t *testing.T) {
		s := o.start(t)
		keyPath := filepath.Join(o.dir, "secret.key")
		fi, err := os.Stat(keyPath)
		if err != nil {
			t.Fatalf("no generated key file: %v", err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
		}
		if key, err = secretbox.LoadKeyFile(keyPath); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, s.do(t, "POST", "/api/v1/repos", admin, ""), http.StatusCreated)
		resp := s.do(t, "POST", credV1, admin, `{"repo_id":"`+repoID+`","password":"`+pw1+`","username":"mirror-bot"}`)
		credID = wantCreated(t, resp)
		bodies = append(bodies, resp.Body)
		// Refusals of every kind, each carrying a password.
		for _, req := range []struct{ method, path, token, body string }{
			{"POST", credV1, admin, `{"repo_id":"` + repoID + `","password":"` + pwNo + `"}`},              // 409
			{"POST", credV1, admin, `{"repo_id":"other","password":"` + pwNo + `"}`},                       // 403
			{"POST", credV1, admin, `{"repo_id":"` + repoID + `","password":"` + pwNo + ``},                // bad JSON
			{"POST", credV1, admin, `{"repo_id":"` + repoID + `","password":"` + pwNo + `\n"}`},            // bad password
			{"POST", credV1, admin, `{"repo_id":"` + repoID + `","password":"` + pwNo + `","username":1}`}, // bad type
			{"PUT", credV1, org, `{"id":"cred_nope","password":"` + pwNo + `"}`},                           // 404
			{"PUT", credV1, org, `{"id":"` + credID + `","password":` + `"` + pwNo + `"x}`},                // bad JSON
			{"PUT", credV1, "", `{"id":"` + credID + `","password":"` + pwNo + `"}`},                       // 401
		} {
			resp := s.do(t, req.method, req.path, req.token, req.body)
			if resp.Status < 400 {
				t.Fatalf("%s %s %s: %s, want a refusal", req.method, req.path, req.body, resp)
			}
			bodies = append(bodies, resp.Body)
		}
		if db := dbBytes(t, o.dir); bytes.Contains(db, []byte(pw1)) || bytes.Contains(db, []byte(pwNo)) {
			t.Fatal("the database holds a plaintext password")
		}
		s.stop()
		// After the checkpoint at close, the file itself.
		if db := dbBytes(t, o.dir); bytes.Contains(db, []byte(pw1)) || bytes.Contains(db, []byte("Sup3r-Secret")) {
			t.Fatal("the database holds a plaintext password after close")
		}
	})
	if t.Failed() {
		return
	}
	v := vaultWithKey(t, o.dir, key)
	wantSecret(t, v, o.dir, repoID, "mirror-bot", pw1)

	t.Run("restart reuses the key", func(t *testing.T) {
		s := o.start(t)
		again, err := secretbox.LoadKeyFile(filepath.Join(o.dir, "secret.key"))
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("key after restart: same %v, %v", bytes.Equal(again, key), err)
		}
		// The credential sealed before the restart still opens, through a
		// vault built from the files the restarted server uses.
		wantSecret(t, vaultOf(t, o.dir), o.dir, repoID, "mirror-bot", pw1)
		resp := s.do(t, "PUT", credNext(repoID, credID), admin, `{"password":"`+pw2+`"}`)
		wantStatus(t, resp, http.StatusOK)
		bodies = append(bodies, resp.Body)
		s.stop()
	})
	wantSecret(t, v, o.dir, repoID, "mirror-bot", pw2)

	t.Run("another key does not open it", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.key")
		if err := os.WriteFile(other, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := o.start(t, func(c *config.Config) { c.SecretKeyFile = other })
		otherKey, err := secretbox.LoadKeyFile(other)
		if err != nil {
			t.Fatal(err)
		}
		_, err = vaultWithKey(t, o.dir, otherKey).ForRepo(t.Context(), storageKey(t, o.dir, "acme", repoID))
		if !errors.Is(err, secretbox.ErrOpen) || !strings.Contains(err.Error(), "wrong secret key") {
			t.Fatalf("ForRepo with another key: %v, want a wrong-key error", err)
		}
		if strings.Contains(err.Error(), pw2) {
			t.Fatal("the error shows the password")
		}
		// The server still serves; the generated key was left alone.
		wantStatus(t, s.do(t, "GET", "/api/v1/repo", o.token(t, repoID, auth.ScopeGitRead), ""), http.StatusOK)
		s.stop()
		if k, _ := secretbox.LoadKeyFile(filepath.Join(o.dir, "secret.key")); !bytes.Equal(k, key) {
			t.Fatal("the data dir's key changed")
		}
	})

	t.Run("unusable key files stop the start", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.key")
		if err := os.WriteFile(bad, []byte("hunter2-not-a-key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{bad, filepath.Join(t.TempDir(), "missing.key")} {
			_, err := server.New(o.config(func(c *config.Config) { c.SecretKeyFile = path }), slog.New(slog.NewTextHandler(&o.logs, nil)), io.Discard)
			if err == nil || !strings.Contains(err.Error(), "--secret-key-file") {
				t.Fatalf("start with key file %s: %v, want an error naming --secret-key-file", path, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error quotes the key file: %v", err)
			}
		}
	})

	logs := o.logs.String()
	if !strings.Contains(logs, "git-credentials") {
		t.Fatalf("the log did not capture the requests:\n%s", logs)
	}
	for _, pw := range []string{pw1, pw2, pwNo, "Sup3r-Secret"} {
		if strings.Contains(logs, pw) {
			t.Fatalf("the log shows a password:\n%s", logs)
		}
		for _, b := range bodies {
			if bytes.Contains(b, []byte(pw)) {
				t.Fatalf("a response shows a password: %s", b)
			}
		}
	}
}
