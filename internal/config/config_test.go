package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestLoad_layers: defaults, then the environment, then flags; every flag
// has a variable, named in its usage.
func TestLoad_layers(t *testing.T) {
	t.Parallel()
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := map[string]string{
		"STRATA_ADDR":                 "127.0.0.1:1",
		"STRATA_LOG_JSON":             "true",
		"STRATA_MAX_PUSH_BYTES":       "1000",
		"STRATA_MAX_CONCURRENT_PACKS": "3",
		"STRATA_PACK_QUEUE_TIMEOUT":   "1m",
		"STRATA_GIT_REQUEST_TIMEOUT":  "10m",
		"STRATA_PACK_WINDOW_MEMORY":   "64m",
		"STRATA_PACK_CACHE":           "false",
		"STRATA_PACK_CACHE_MAX_AGE":   "5m",
		"STRATA_IDENTITY":             "Bot <bot@example.com>",
		"STRATA_ORG":                  "a=a.pem, b=b.pem",
	}
	if err := c.Load(fs, []string{"--addr", "127.0.0.1:2", "--org", "c=c.pem", "--pack-queue-timeout=2m", "--pack-cache-max-bytes=1000"}, mapEnv(env)); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:2" || !c.LogJSON || c.Identity != "Bot <bot@example.com>" {
		t.Fatalf("addr %q, log-json %v, identity %q", c.Addr, c.LogJSON, c.Identity)
	}
	want := Transport{MaxPushBytes: 1000, MaxConcurrentPacks: 3, PackQueueTimeout: 2 * time.Minute, RequestTimeout: 10 * time.Minute, PackWindowMemory: "64m",
		PackCache: false, PackCacheMaxBytes: 1000, PackCacheMaxAge: 5 * time.Minute}
	if c.Transport != want {
		t.Fatalf("Transport = %+v, want %+v", c.Transport, want)
	}
	if len(c.Orgs) != 3 || c.Orgs[0].Org != "a" || c.Orgs[1].Org != "b" || c.Orgs[2].Org != "c" {
		t.Fatalf("orgs %+v: want the environment's two, then the flag's", c.Orgs)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasSuffix(f.Usage, "(env "+envName(f.Name)+")") {
			t.Errorf("--%s usage does not name its variable: %q", f.Name, f.Usage)
		}
	})
	bad := Default()
	if err := bad.Load(flag.NewFlagSet("serve", flag.ContinueOnError), nil, mapEnv(map[string]string{"STRATA_MAX_PUSH_BYTES": "lots"})); err == nil || !strings.Contains(err.Error(), "STRATA_MAX_PUSH_BYTES") {
		t.Fatalf("bad variable: %v", err)
	}
}

func TestValidate_transportAndIdentity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		edit func(*Config)
		want string
	}{
		{"no push size", func(c *Config) { c.Transport.MaxPushBytes = 0 }, "--max-push-bytes"},
		{"negative packs", func(c *Config) { c.Transport.MaxConcurrentPacks = -1 }, "--max-concurrent-packs"},
		{"zero queue", func(c *Config) { c.Transport.PackQueueTimeout = 0 }, "--pack-queue-timeout"},
		{"window", func(c *Config) { c.Transport.PackWindowMemory = "lots" }, "--pack-window-memory"},
		{"identity without email", func(c *Config) { c.Identity = "Bot" }, "--identity"},
		{"identity with an empty name", func(c *Config) { c.Identity = "<bot@x>" }, "--identity"},
		{"identity with trailing text", func(c *Config) { c.Identity = "Bot <bot@x> more" }, "--identity"},
	} {
		c := Default()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error about %s", tc.desc, err, tc.want)
		}
	}
	name, email, err := ParseIdentity("  Release Bot <release@example.com> ")
	if err != nil || name != "Release Bot" || email != "release@example.com" {
		t.Fatalf("ParseIdentity: %q %q %v", name, email, err)
	}
	for _, ok := range []string{"1g", "512k", "256m", "1024"} {
		if !validGitSize(ok) {
			t.Errorf("validGitSize(%q) = false", ok)
		}
	}
}

// --secret-key-file is read from STRATA_SECRET_KEY_FILE, and the flag
// beats it; unset, it stays empty (the data dir's generated key).
func TestLoad_secretKeyFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		env  map[string]string
		args []string
		want string
	}{
		{"default", nil, nil, ""},
		{"environment", map[string]string{"STRATA_SECRET_KEY_FILE": "/etc/strata/key"}, nil, "/etc/strata/key"},
		{"flag over environment", map[string]string{"STRATA_SECRET_KEY_FILE": "/etc/strata/key"}, []string{"--secret-key-file", "/run/key"}, "/run/key"},
	} {
		c := Default()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		if err := c.Load(fs, tc.args, mapEnv(tc.env)); err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if c.SecretKeyFile != tc.want {
			t.Errorf("%s: SecretKeyFile = %q, want %q", tc.desc, c.SecretKeyFile, tc.want)
		}
	}
}

func TestValidate_pprofAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		addr string
		ok   bool
	}{
		{"off", "", true},
		{"IPv4 loopback", "127.0.0.1:6060", true},
		{"IPv6 loopback", "[::1]:6060", true},
		{"localhost", "localhost:6060", true},
		{"every interface", ":6060", false},
		{"unspecified", "0.0.0.0:6060", false},
		{"public address", "192.0.2.1:6060", false},
		{"host name", "example.com:6060", false},
		{"no port", "127.0.0.1", false},
	} {
		c := Default()
		c.PprofAddr = tc.addr
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: Validate(%q) = %v, want ok=%v", tc.desc, tc.addr, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--pprof-addr") {
			t.Errorf("%s: error %v does not name --pprof-addr", tc.desc, err)
		}
	}
}
