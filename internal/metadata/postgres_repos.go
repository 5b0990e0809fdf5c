package metadata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func collectPGRepos(rows pgx.Rows) ([]Repo, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Repo, error) { return scanRepo(row) })
}

// CreateRepo inserts the row under an advisory lock held until commit, so
// repository seqs commit in the order they are drawn and ListRepos'
// AfterSeq cursor never passes a repository that commits later with a
// smaller seq (the reasoning of AppendRefEvents). Creation is rare; the
// lock costs nothing that matters.
func (s *PostgresStore) CreateRepo(ctx context.Context, r Repo) (Repo, error) {
	r, err := newRepo(r)
	if err != nil {
		return Repo{}, err
	}
	var provider *string
	var b BaseRepo
	if r.BaseRepo != nil {
		b = *r.BaseRepo
		provider = &b.Provider
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if err := lockXact(ctx, tx, lockRepoSeq); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO repos (
				org, id, id_fold, storage_key, default_branch, created_at,
				base_provider, base_owner, base_name, base_default_branch,
				base_operation, base_ref, base_sha, base_upstream_host, base_auth_type)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			RETURNING seq`,
			r.Org, r.ID, foldCase(r.ID), r.StorageKey, r.DefaultBranch, r.CreatedAt.UnixNano(),
			provider, b.Owner, b.Name, b.DefaultBranch,
			b.Operation, b.Ref, b.SHA, b.UpstreamHost, b.AuthType,
		).Scan(&r.Seq)
	})
	// The only unique constraints are the live (org, id) index and the
	// storage key, and 128 random bits do not collide.
	if pgCode(err, pgUniqueViolation) {
		err = ErrExists
	}
	if err != nil {
		return Repo{}, fmt.Errorf("create repo %s/%s: %w", r.Org, r.ID, err)
	}
	return r, nil
}

func (s *PostgresStore) Repo(ctx context.Context, org, id string) (Repo, error) {
	if !pgStorable(org, id) {
		return Repo{}, fmt.Errorf("get repo %q/%q: %w", org, id, ErrNotFound)
	}
	// The live row if any, else the newest tombstone.
	r, err := scanRepo(s.pool.QueryRow(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE org = $1 AND id = $2
		ORDER BY deleted_at IS NOT NULL, seq DESC
		LIMIT 1`, org, id))
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = ErrNotFound
	case err == nil && !r.DeletedAt.IsZero():
		err = ErrDeleted
	}
	if err != nil {
		return Repo{}, fmt.Errorf("get repo %s/%s: %w", org, id, err)
	}
	return r, nil
}

func (s *PostgresStore) DeleteRepo(ctx context.Context, org, id string) (Repo, error) {
	if !pgStorable(org, id) {
		return Repo{}, fmt.Errorf("delete repo %q/%q: %w", org, id, ErrNotFound)
	}
	var r Repo
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// A concurrent delete holds the row: this one waits, then finds it
		// tombstoned and reports ErrDeleted.
		var err error
		r, err = scanRepo(tx.QueryRow(ctx, `UPDATE repos SET deleted_at = $1
			WHERE org = $2 AND id = $3 AND deleted_at IS NULL
			RETURNING `+repoColumns, time.Now().UnixNano(), org, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return pgMissingRepo(ctx, tx, org, id)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM git_credentials WHERE storage_key = $1`, r.StorageKey)
		return err
	})
	if err != nil {
		return Repo{}, fmt.Errorf("delete repo %s/%s: %w", org, id, err)
	}
	return r, nil
}

func (s *PostgresStore) SetDefaultBranch(ctx context.Context, org, id, branch string) error {
	return s.updateLive(ctx, org, id, "set default branch", `default_branch = $3`, branch)
}

func (s *PostgresStore) SetBaseRepo(ctx context.Context, org, id string, base *BaseRepo) error {
	var provider *string
	var b BaseRepo
	if base != nil {
		b = *base
		provider = &b.Provider
	}
	return s.updateLive(ctx, org, id, "set base repo", `base_provider = $3, base_owner = $4, base_name = $5,
		base_default_branch = $6, base_operation = $7, base_ref = $8, base_sha = $9, base_upstream_host = $10, base_auth_type = $11`,
		provider, b.Owner, b.Name, b.DefaultBranch, b.Operation, b.Ref, b.SHA, b.UpstreamHost, b.AuthType)
}

// updateLive runs "UPDATE repos SET <set>" on the live repository (org,
// id); set numbers its parameters from $3.
func (s *PostgresStore) updateLive(ctx context.Context, org, id, what, set string, args ...any) error {
	if !pgStorable(org, id) {
		return fmt.Errorf("%s of repo %q/%q: %w", what, org, id, ErrNotFound)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE repos SET `+set+`
			WHERE org = $1 AND id = $2 AND deleted_at IS NULL`, append([]any{org, id}, args...)...)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgMissingRepo(ctx, tx, org, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s of repo %s/%s: %w", what, org, id, err)
	}
	return nil
}

// pgMissingRepo explains, inside the transaction that found no live row
// for (org, id), why: ErrDeleted if a tombstone exists, else ErrNotFound.
func pgMissingRepo(ctx context.Context, tx pgx.Tx, org, id string) error {
	var tombstoned bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM repos WHERE org = $1 AND id = $2)`,
		org, id).Scan(&tombstoned); err != nil {
		return err
	}
	if tombstoned {
		return ErrDeleted
	}
	return ErrNotFound
}

func (s *PostgresStore) ListRepos(ctx context.Context, org string, opt ListReposOptions) ([]Repo, bool, error) {
	query := foldCase(opt.Query) // valid UTF-8, as SQLite compares it
	if !pgStorable(org, query) {
		return nil, false, nil // no id holds what PostgreSQL cannot
	}
	var limit *int64
	if opt.Limit > 0 {
		limit = limitArg(opt.Limit + 1) // one extra row tells whether more follow
	}
	// strpos, not LIKE: the query is a literal, '%' and '_' included. Both
	// sides are folded by foldCase, as SQLite's are.
	rows, err := s.pool.Query(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE org = $1 AND deleted_at IS NULL AND seq > $2
			AND ($3 = '' OR strpos(id_fold, $3) > 0)
		ORDER BY seq
		LIMIT $4`, org, opt.AfterSeq, query, limit)
	if err != nil {
		return nil, false, fmt.Errorf("list repos of %s: %w", org, err)
	}
	repos, err := collectPGRepos(rows)
	if err != nil {
		return nil, false, fmt.Errorf("list repos of %s: %w", org, err)
	}
	repos, hasMore := pageRepos(repos, opt.Limit)
	return repos, hasMore, nil
}

func (s *PostgresStore) DeletedRepos(ctx context.Context) ([]Repo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE deleted_at IS NOT NULL
		ORDER BY deleted_at, seq`)
	if err != nil {
		return nil, fmt.Errorf("list deleted repos: %w", err)
	}
	repos, err := collectPGRepos(rows)
	if err != nil {
		return nil, fmt.Errorf("list deleted repos: %w", err)
	}
	return repos, nil
}

func (s *PostgresStore) LiveRepos(ctx context.Context) ([]Repo, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE deleted_at IS NULL
		ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("list live repos: %w", err)
	}
	repos, err := collectPGRepos(rows)
	if err != nil {
		return nil, fmt.Errorf("list live repos: %w", err)
	}
	return repos, nil
}
