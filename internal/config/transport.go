package config

import (
	"errors"
	"flag"
	"time"
)

// Transport limits Git over HTTP (docs/git-transport.md). Zero values take
// the transport's defaults.
type Transport struct {
	// MaxPushBytes caps the pack of one push.
	MaxPushBytes int64
	// MaxConcurrentPacks caps upload-packs running at once; further clones
	// and fetches queue. 0: four per CPU, at least 8.
	MaxConcurrentPacks int
	// MaxConcurrentPacksPerOrg caps one organisation's upload-packs, so
	// one tenant cannot hold every slot. 0: half of MaxConcurrentPacks.
	MaxConcurrentPacksPerOrg int
	// PackQueueTimeout is how long a clone or fetch waits for a slot before
	// it is answered 503.
	PackQueueTimeout time.Duration
	// RequestTimeout bounds one git request end to end.
	RequestTimeout time.Duration
	// PackWindowMemory is pack.windowMemory for pack generation, e.g. "256m".
	PackWindowMemory string
	// PackCache serves identical fetches from one pack generation, kept
	// on disk under <data-dir>/cache/packs.
	PackCache bool
	// PackCacheMaxBytes caps the pack cache's disk use.
	PackCacheMaxBytes int64
	// PackCacheMaxAge is how long a cached pack may be served.
	PackCacheMaxAge time.Duration
}

func defaultTransport() Transport {
	return Transport{
		MaxPushBytes:      2 << 30,
		PackQueueTimeout:  5 * time.Minute,
		RequestTimeout:    time.Hour,
		PackWindowMemory:  "256m",
		PackCache:         true,
		PackCacheMaxBytes: 4 << 30,
		PackCacheMaxAge:   time.Hour,
	}
}

func (t *Transport) register(fs *flag.FlagSet) {
	fs.Int64Var(&t.MaxPushBytes, "max-push-bytes", t.MaxPushBytes, "largest pack one git push may send")
	fs.IntVar(&t.MaxConcurrentPacks, "max-concurrent-packs", t.MaxConcurrentPacks, "clones and fetches served at once, the rest queue; 0 = 4 per CPU, at least 8")
	fs.IntVar(&t.MaxConcurrentPacksPerOrg, "max-concurrent-packs-per-org", t.MaxConcurrentPacksPerOrg, "clones and fetches one organisation may run at once; 0 = half of --max-concurrent-packs (at least 1)")
	fs.DurationVar(&t.PackQueueTimeout, "pack-queue-timeout", t.PackQueueTimeout, "how long a clone or fetch may queue before it gets 503")
	fs.DurationVar(&t.RequestTimeout, "git-request-timeout", t.RequestTimeout, "longest a git request (clone, fetch, push) may run")
	fs.StringVar(&t.PackWindowMemory, "pack-window-memory", t.PackWindowMemory, "pack.windowMemory of pack generation (git size, e.g. 256m)")
	fs.BoolVar(&t.PackCache, "pack-cache", t.PackCache, "serve identical clones and fetches from one pack generation, cached on disk")
	fs.Int64Var(&t.PackCacheMaxBytes, "pack-cache-max-bytes", t.PackCacheMaxBytes, "disk space the pack cache may use; least recently used packs go first")
	fs.DurationVar(&t.PackCacheMaxAge, "pack-cache-max-age", t.PackCacheMaxAge, "how long a cached pack may be served")
}

func (t *Transport) validate() error {
	var errs []error
	if t.MaxPushBytes <= 0 {
		errs = append(errs, errors.New("--max-push-bytes must be positive"))
	}
	if t.MaxConcurrentPacks < 0 || t.MaxConcurrentPacksPerOrg < 0 {
		errs = append(errs, errors.New("--max-concurrent-packs and --max-concurrent-packs-per-org must not be negative"))
	}
	if t.PackQueueTimeout <= 0 || t.RequestTimeout <= 0 {
		errs = append(errs, errors.New("--pack-queue-timeout and --git-request-timeout must be positive"))
	}
	if t.PackCacheMaxBytes <= 0 || t.PackCacheMaxAge <= 0 {
		errs = append(errs, errors.New("--pack-cache-max-bytes and --pack-cache-max-age must be positive"))
	}
	if !validGitSize(t.PackWindowMemory) {
		errs = append(errs, errors.New("--pack-window-memory must be a size such as 256m or 1g"))
	}
	return errors.Join(errs...)
}

// validGitSize accepts what git's config parses as a size: digits with an
// optional k, m or g.
func validGitSize(s string) bool {
	if s == "" {
		return false
	}
	digits := s
	switch s[len(s)-1] {
	case 'k', 'K', 'm', 'M', 'g', 'G':
		digits = s[:len(s)-1]
	}
	if digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
