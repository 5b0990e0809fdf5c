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
	}
}

func (m *Maintenance) register(fs *flag.FlagSet) {
	fs.BoolVar(&m.Enabled, "maintenance", m.Enabled, "repack, write commit-graphs, pack refs and prune in the background after writes")
	fs.IntVar(&m.Workers, "maintenance-workers", m.Workers, "repositories maintained at once")
	fs.DurationVar(&m.Interval, "maintenance-interval", m.Interval, "least time between two maintenance runs of one repository")
	fs.IntVar(&m.RefUpdates, "maintenance-ref-updates", m.RefUpdates, "ref updates after which a repository is maintained")
	fs.IntVar(&m.LooseObjects, "maintenance-loose-objects", m.LooseObjects, "loose objects after which a repository is maintained")
	fs.DurationVar(&m.FullInterval, "maintenance-full-interval", m.FullInterval, "how often a maintenance run repacks everything and prunes")
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
	if m.Interval < 0 || m.FullInterval < 0 {
		errs = append(errs, errors.New("maintenance intervals must not be negative"))
	}
	if m.PruneGrace < minPruneGrace {
		errs = append(errs, fmt.Errorf("--prune-grace %s is below %s: objects of writes in flight could be deleted", m.PruneGrace, minPruneGrace))
	}
	return errors.Join(errs...)
}
