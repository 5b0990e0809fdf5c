package config

import (
	"errors"
	"flag"
	"time"
)

// Limits bound the heavy REST operations (grep, blame, archive, diffs,
// diff-commit) and the size of the blobs Strata accepts
// (docs/api-decisions.md, "Heavy requests and blob sizes"). Zero
// concurrency values take defaults derived from the CPU count.
type Limits struct {
	// HeavyTimeout bounds one heavy request's git work, wall clock.
	HeavyTimeout time.Duration
	// MaxHeavy caps heavy requests running at once, server-wide; further
	// ones queue. 0: two per CPU, at least 4.
	MaxHeavy int
	// MaxHeavyPerOrg caps one organisation's running heavy requests, so
	// one tenant cannot hold every slot. 0: half of MaxHeavy, at least 1.
	MaxHeavyPerOrg int
	// HeavyQueueTimeout is how long a heavy request waits for a slot
	// before it is answered 503 with Retry-After.
	HeavyQueueTimeout time.Duration
	// GrepMatchLimit is PCRE2's match limit for one grep line
	// ((*LIMIT_MATCH=n)); a line that needs more fails the grep with 400.
	GrepMatchLimit int
	// MaxBlobBytes caps the inflated size of a blob written by a push,
	// commit-pack or diff-commit, and of a blob grep, blame, diff or
	// git apply will load.
	MaxBlobBytes int64
}

func defaultLimits() Limits {
	return Limits{
		HeavyTimeout:      2 * time.Minute,
		HeavyQueueTimeout: 30 * time.Second,
		GrepMatchLimit:    1_000_000,
		MaxBlobBytes:      100 << 20,
	}
}

func (l *Limits) register(fs *flag.FlagSet) {
	fs.DurationVar(&l.HeavyTimeout, "heavy-request-timeout", l.HeavyTimeout, "longest a grep, blame, archive, diff or diff-commit may run before it is stopped (503)")
	fs.IntVar(&l.MaxHeavy, "max-heavy-requests", l.MaxHeavy, "greps, blames, archives, diffs and diff-commits run at once, the rest queue; 0 = 2 per CPU, at least 4")
	fs.IntVar(&l.MaxHeavyPerOrg, "max-heavy-requests-per-org", l.MaxHeavyPerOrg, "heavy requests one organisation may run at once; 0 = half of --max-heavy-requests (at least 1)")
	fs.DurationVar(&l.HeavyQueueTimeout, "heavy-queue-timeout", l.HeavyQueueTimeout, "how long a heavy request may queue before it gets 503 with Retry-After")
	fs.IntVar(&l.GrepMatchLimit, "grep-match-limit", l.GrepMatchLimit, "PCRE2 match limit of one grep line; a pattern that needs more is refused (400)")
	fs.Int64Var(&l.MaxBlobBytes, "max-blob-bytes", l.MaxBlobBytes, "largest inflated blob a push, commit-pack or diff-commit may write, and that grep, blame, diff or git apply will load")
}

func (l *Limits) validate() error {
	var errs []error
	if l.HeavyTimeout <= 0 || l.HeavyQueueTimeout <= 0 {
		errs = append(errs, errors.New("--heavy-request-timeout and --heavy-queue-timeout must be positive"))
	}
	if l.MaxHeavy < 0 || l.MaxHeavyPerOrg < 0 {
		errs = append(errs, errors.New("--max-heavy-requests and --max-heavy-requests-per-org must not be negative"))
	}
	if l.GrepMatchLimit <= 0 {
		errs = append(errs, errors.New("--grep-match-limit must be positive"))
	}
	if l.MaxBlobBytes <= 0 {
		errs = append(errs, errors.New("--max-blob-bytes must be positive"))
	}
	return errors.Join(errs...)
}
