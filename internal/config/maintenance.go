package config

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Maintenance configures background repository maintenance: repacking,
// commit-graphs, ref packing and pruning after writes (docs/maintenance.md).
type Maintenance struct {
	// Enabled runs the maintenance worker.
	Enabled bool
	// Workers is how many repositories are maintained at once.
	Workers int
	// Interval is the least time between two runs on one repository.
	Interval time.Duration
	// RefUpdates is how many ref transactions make a repository due.
	RefUpdates int
	// LooseObjects is how many loose objects make a repository due.
	LooseObjects int
	// FullInterval is how often a run repacks everything and prunes.
	FullInterval time.Duration
	// PruneGrace keeps unreachable objects younger than this.
	PruneGrace time.Duration
	// PushObjects and PushBytes: a push adding at least this many objects
	// or bytes gets a bitmap repack right away; 0 turns either off.
	PushObjects int64
	PushBytes   int64
	// Packs is the pack count above which a repository gets a geometric
	// repack right away; 0 turns it off.
	Packs int
}

// minPruneGrace is the shortest grace period accepted: a write in flight
// (objects stored, ref not yet moved) must never look like garbage.
const minPruneGrace = time.Hour

func defaultMaintenance() Maintenance {
	return Maintenance{
		Enabled:      true,
		Workers:      1,
		Interval:     15 * time.Minute,
		RefUpdates:   50,
		LooseObjects: 1000,
		FullInterval: 24 * time.Hour,
		PruneGrace:   14 * 24 * time.Hour,
		PushObjects:  50_000,
		PushBytes:    50 << 20,
		Packs:        50,
	}
}

func (m *Maintenance) register(fs *flag.FlagSet) {
	fs.BoolVar(&m.Enabled, "maintenance", m.Enabled, "repack, write commit-graphs, pack refs and prune in the background after writes")
	fs.IntVar(&m.Workers, "maintenance-workers", m.Workers, "repositories maintained at once")
	fs.DurationVar(&m.Interval, "maintenance-interval", m.Interval, "least time between two maintenance runs of one repository")
	fs.IntVar(&m.RefUpdates, "maintenance-ref-updates", m.RefUpdates, "ref updates after which a repository is maintained")
	fs.IntVar(&m.LooseObjects, "maintenance-loose-objects", m.LooseObjects, "loose objects after which a repository is maintained")
	fs.DurationVar(&m.FullInterval, "maintenance-full-interval", m.FullInterval, "how often a maintenance run repacks everything and prunes")
	fs.Int64Var(&m.PushObjects, "maintenance-push-objects", m.PushObjects, "a push adding this many objects is repacked with a bitmap right away; 0 = off")
	fs.Int64Var(&m.PushBytes, "maintenance-push-bytes", m.PushBytes, "a push adding this many bytes is repacked with a bitmap right away; 0 = off")
	fs.IntVar(&m.Packs, "maintenance-packs", m.Packs, "packs above which a repository is repacked (geometric) right away; 0 = off")
	fs.DurationVar(&m.PruneGrace, "prune-grace", m.PruneGrace, "keep unreachable objects younger than this; at least 1h")
}

func (m *Maintenance) validate() error {
	var errs []error
	if m.Workers < 1 {
		errs = append(errs, errors.New("--maintenance-workers must be at least 1"))
	}
	if m.RefUpdates < 1 || m.LooseObjects < 1 {
		errs = append(errs, errors.New("--maintenance-ref-updates and --maintenance-loose-objects must be at least 1"))
	}
	if m.PushObjects < 0 || m.PushBytes < 0 || m.Packs < 0 {
		errs = append(errs, errors.New("--maintenance-push-objects, --maintenance-push-bytes and --maintenance-packs must not be negative"))
	}
	if m.Interval < 0 || m.FullInterval < 0 {
		errs = append(errs, errors.New("maintenance intervals must not be negative"))
	}
	if m.PruneGrace < minPruneGrace {
		errs = append(errs, fmt.Errorf("--prune-grace %s is below %s: objects of writes in flight could be deleted", m.PruneGrace, minPruneGrace))
	}
	return errors.Join(errs...)
}
