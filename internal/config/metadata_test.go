package config

import (
	"flag"
	"strings"
	"testing"
)

func TestMetadata_layers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		env  map[string]string
		args []string
		want string
	}{
		{"default: SQLite", nil, nil, ""},
		{"environment", map[string]string{"STRATA_METADATA": "postgres://strata@db/strata"}, nil, "postgres://strata@db/strata"},
		{"flag beats environment", map[string]string{"STRATA_METADATA": "postgres://a@db/a"},
			[]string{"--metadata=postgresql://b@db/b"}, "postgresql://b@db/b"},
		{"flag empties it", map[string]string{"STRATA_METADATA": "postgres://a@db/a"}, []string{"--metadata="}, ""},
	} {
		c := Default()
		if err := c.Load(flag.NewFlagSet("serve", flag.ContinueOnError), tc.args, mapEnv(tc.env)); err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if c.Metadata != tc.want {
			t.Errorf("%s: Metadata = %q, want %q", tc.desc, c.Metadata, tc.want)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tc.desc, err)
		}
	}
}

func TestMetadata_validate(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"mysql://strata:hunter2@db/strata", "strata:hunter2@db", "./strata.db", "sqlite://x"} {
		c := Default()
		c.Metadata = spec
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "--metadata") {
			t.Errorf("Validate(%q) = %v, want a --metadata error", spec, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Validate(%q) quotes the password: %v", spec, err)
		}
	}
}
