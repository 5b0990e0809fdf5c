package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/strata-storage/strata/internal/git/refs"
	"github.com/strata-storage/strata/internal/metadata"
)

// branchRecorder keeps branch creation times (branches[].created_at and
// creation-order listings) in step with every ref update.
type branchRecorder struct {
	store metadata.Store
	log   *slog.Logger
}

func (b *branchRecorder) RefsUpdated(ctx context.Context, storageKey string, updates []refs.Update) {
	now := time.Now().UTC()
	for _, u := range updates {
		ns, _ := u.Ref.Namespace()
		branch, ok := u.Ref.Branch()
		if !ok {
			continue
		}
		var err error
		switch {
		case u.IsDelete():
			err = b.store.ForgetBranch(ctx, storageKey, string(ns), branch)
		case u.IsCreate():
			err = b.store.RecordBranch(ctx, storageKey, string(ns), branch, now)
		}
		if err != nil {
			b.log.Error("record branch", "repo", storageKey, "ref", u.Ref, "err", err)
		}
	}
}
