package git

import "strconv"

// ConfigEnv turns key/value pairs into the GIT_CONFIG_COUNT,
// GIT_CONFIG_KEY_<n> and GIT_CONFIG_VALUE_<n> environment of
// git-config(1). Factory's -c options are the same for every command;
// this is how one command gets its own settings. Unlike -c after the
// subcommand (which upload-pack and receive-pack don't take), the
// environment also reaches the helpers git spawns: pack-objects,
// index-pack and the proc-receive hook.
func ConfigEnv(kv ...string) []string {
	n := len(kv) / 2
	env := make([]string, 0, 2*n+1)
	env = append(env, "GIT_CONFIG_COUNT="+strconv.Itoa(n))
	for i := 0; i < n; i++ {
		env = append(env,
			"GIT_CONFIG_KEY_"+strconv.Itoa(i)+"="+kv[2*i],
			"GIT_CONFIG_VALUE_"+strconv.Itoa(i)+"="+kv[2*i+1])
	}
	return env
}
