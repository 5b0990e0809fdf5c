package githttp

import "github.com/strata-storage/strata/internal/git"

// configEnv is git.ConfigEnv: per-command configuration that also reaches
// the helpers upload-pack and receive-pack spawn.
func configEnv(kv ...string) []string { return git.ConfigEnv(kv...) }
