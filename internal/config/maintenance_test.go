package config

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestMaintenance_layers(t *testing.T) {
	t.Parallel()
	c := Default()
	env := map[string]string{
		"STRATA_MAINTENANCE_WORKERS":       "3",
		"STRATA_MAINTENANCE_INTERVAL":      "5m",
		"STRATA_MAINTENANCE_REF_UPDATES":   "10",
		"STRATA_MAINTENANCE_LOOSE_OBJECTS": "200",
		"STRATA_PRUNE_GRACE":               "48h",
		"STRATA_MAINTENANCE_PUSH_BYTES":    "1000000",
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	args := []string{"--maintenance=false", "--maintenance-full-interval=12h", "--maintenance-interval=1m",
		"--maintenance-push-objects=0", "--maintenance-packs=20"}
	if err := c.Load(fs, args, mapEnv(env)); err != nil {
		t.Fatal(err)
	}
	want := Maintenance{Enabled: false, Workers: 3, Interval: time.Minute, RefUpdates: 10, LooseObjects: 200,
		FullInterval: 12 * time.Hour, PruneGrace: 48 * time.Hour, PushObjects: 0, PushBytes: 1000000, Packs: 20}
	if c.Maintenance != want {
		t.Fatalf("Maintenance = %+v, want %+v", c.Maintenance, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestMaintenance_validate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		desc string
		edit func(*Maintenance)
		want string
	}{
		{"no workers", func(m *Maintenance) { m.Workers = 0 }, "--maintenance-workers"},
		{"zero ref updates", func(m *Maintenance) { m.RefUpdates = 0 }, "--maintenance-ref-updates"},
		{"negative interval", func(m *Maintenance) { m.Interval = -time.Second }, "intervals"},
		{"negative packs", func(m *Maintenance) { m.Packs = -1 }, "--maintenance-packs"},
		{"grace too short", func(m *Maintenance) { m.PruneGrace = time.Minute }, "--prune-grace"},
	} {
		c := Default()
		tc.edit(&c.Maintenance)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error about %s", tc.desc, err, tc.want)
		}
	}
	bad := Default()
	err := bad.Load(flag.NewFlagSet("serve", flag.ContinueOnError), nil, mapEnv(map[string]string{"STRATA_PRUNE_GRACE": "soon"}))
	if err == nil || !strings.Contains(err.Error(), "STRATA_PRUNE_GRACE") {
		t.Fatalf("Load with a bad duration: %v", err)
	}
}
