package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/strata-storage/strata/internal/cluster"
	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/git"
	"github.com/strata-storage/strata/internal/git/catfile"
	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/objstore"
)

// clusterMode is what the clustered mode adds to a server (--objects): the
// record (internal/cluster) over the ledger in the metadata database and
// the bucket, and the updater of the caches' refs. Nil in the single-node
// mode; its methods are nil-safe.
type clusterMode struct {
	record  *cluster.Cluster
	bucket  *objstore.Bucket
	updater *refs.Updater
}

// newCluster opens the bucket (checking it exists and the credentials
// work) and builds the record; nil, nil without --objects.
func newCluster(cfg config.Config, db metadata.Store, f *git.Factory, cache *catfile.Cache, log *slog.Logger) (*clusterMode, error) {
	if cfg.Cluster.Objects == "" {
		return nil, nil
	}
	ledger, ok := db.(metadata.Ledger)
	if !ok {
		return nil, errors.New("--objects needs a metadata store that keeps the refs of record (PostgreSQL)")
	}
	bucket, err := objstore.Open(context.Background(), cfg.Cluster.Objects, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("--objects: %w", err)
	}
	up := refs.NewUpdater(f)
	rec := cluster.New(ledger, bucket, f, cache, up, log, cluster.Options{
		CompactPacks: cfg.Cluster.CompactPacks,
		GarbageGrace: cfg.Cluster.GarbageGrace,
	})
	rec.RunGarbageCollector(cfg.Cluster.GarbageInterval)
	log.Info("clustered mode", "objects", bucket.String(), "cache_dir", reposRoot(cfg))
	return &clusterMode{record: rec, bucket: bucket, updater: up}, nil
}

// reposRoot is where the repositories, or in the clustered mode this
// node's caches of them, live.
func reposRoot(cfg config.Config) string {
	if cfg.Cluster.Objects != "" && cfg.Cluster.CacheDir != "" {
		return cfg.Cluster.CacheDir
	}
	return filepath.Join(cfg.DataDir, "repos")
}

// close stops compactions and garbage collection, then the caches' ref
// sessions; after the repositories are no longer used.
func (c *clusterMode) close() {
	if c == nil {
		return
	}
	c.record.Close()
	c.updater.Close()
	c.bucket.Close()
}
