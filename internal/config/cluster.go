package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/objstore"
)

// Cluster configures the clustered mode (docs/scale-out.md): with Objects
// set, the refs of record and the pack manifest live in the PostgreSQL
// metadata database, the packs in object storage, and the repositories on
// this node's disk are caches of them.
type Cluster struct {
	// Objects is s3://BUCKET/PREFIX; endpoint, region and credentials come
	// from the AWS_* environment variables. Empty: the single-node mode.
	Objects string
	// CacheDir holds this node's repository caches (default:
	// <data-dir>/repos, where the single-node mode keeps repositories).
	CacheDir string
	// CompactPacks is the manifest length past which a write folds a
	// repository's packs into one.
	CompactPacks int
	// GarbageGrace is how long replaced packs stay in object storage.
	GarbageGrace time.Duration
	// GarbageInterval is how often a node deletes expired packs.
	GarbageInterval time.Duration
}

func defaultCluster() Cluster {
	return Cluster{CompactPacks: 32, GarbageGrace: time.Hour, GarbageInterval: 5 * time.Minute}
}

func (c *Cluster) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Objects, "objects", c.Objects, "clustered mode: keep packs in this S3-compatible bucket, s3://BUCKET/PREFIX (endpoint, region and credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); needs a postgres:// --metadata")
	fs.StringVar(&c.CacheDir, "cache-dir", c.CacheDir, "clustered mode: this node's repository caches (default <data-dir>/repos)")
	fs.IntVar(&c.CompactPacks, "cluster-compact-packs", c.CompactPacks, "clustered mode: fold a repository's packs in object storage into one past this many")
	fs.DurationVar(&c.GarbageGrace, "cluster-garbage-grace", c.GarbageGrace, "clustered mode: how long replaced packs stay in object storage before deletion")
	fs.DurationVar(&c.GarbageInterval, "cluster-garbage-interval", c.GarbageInterval, "clustered mode: how often a node deletes expired packs")
}

func (c *Cluster) validate(metadataSpec string) error {
	if c.Objects == "" {
		if c.CacheDir != "" {
			return errors.New("--cache-dir needs --objects (the clustered mode)")
		}
		return nil
	}
	var errs []error
	if _, err := objstore.ParseURL(c.Objects); err != nil {
		errs = append(errs, fmt.Errorf("--objects: %w", err))
	}
	if !strings.HasPrefix(metadataSpec, "postgres://") && !strings.HasPrefix(metadataSpec, "postgresql://") {
		errs = append(errs, errors.New("--objects needs a postgres:// --metadata: the refs of record live there"))
	}
	if c.CompactPacks < 2 {
		errs = append(errs, errors.New("--cluster-compact-packs must be at least 2"))
	}
	if c.GarbageGrace <= 0 || c.GarbageInterval <= 0 {
		errs = append(errs, errors.New("--cluster-garbage-grace and --cluster-garbage-interval must be positive"))
	}
	return errors.Join(errs...)
}
