package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (s *SQLiteStore) CreateRepo(ctx context.Context, r Repo) (Repo, error) {
	r, err := newRepo(r)
	if err != nil {
		return Repo{}, err
	}
	var provider sql.NullString
	var b BaseRepo
	if r.BaseRepo != nil {
		b = *r.BaseRepo
		provider = sql.NullString{String: b.Provider, Valid: true}
	}
	err = s.w.QueryRowContext(ctx, `INSERT INTO repos (
			org, id, id_fold, storage_key, default_branch, created_at,
			base_provider, base_owner, base_name, base_default_branch,
			base_operation, base_ref, base_sha, base_upstream_host, base_auth_type)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING seq`,
		r.Org, r.ID, foldCase(r.ID), r.StorageKey, r.DefaultBranch, r.CreatedAt.UnixNano(),
		provider, b.Owner, b.Name, b.DefaultBranch,
		b.Operation, b.Ref, b.SHA, b.UpstreamHost, b.AuthType,
	).Scan(&r.Seq)
	// The only unique constraints are the live (org, id) index and the
	// storage key, and 128 random bits do not collide.
	if isUniqueViolation(err) {
		err = ErrExists
	}
	if err != nil {
		return Repo{}, fmt.Errorf("create repo %s/%s: %w", r.Org, r.ID, err)
	}
	return r, nil
}

func (s *SQLiteStore) Repo(ctx context.Context, org, id string) (Repo, error) {
	// The live row if any, else the newest tombstone, which turns into
	// ErrDeleted: one query tells all three cases apart.
	r, err := scanRepo(s.r.QueryRowContext(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE org = ? AND id = ?
		ORDER BY deleted_at IS NOT NULL, seq DESC
		LIMIT 1`, org, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = ErrNotFound
	case err == nil && !r.DeletedAt.IsZero():
		err = ErrDeleted
	}
	if err != nil {
		return Repo{}, fmt.Errorf("get repo %s/%s: %w", org, id, err)
	}
	return r, nil
}

func (s *SQLiteStore) DeleteRepo(ctx context.Context, org, id string) (Repo, error) {
	var r Repo
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRepo(tx.QueryRowContext(ctx, `UPDATE repos SET deleted_at = ?
			WHERE org = ? AND id = ? AND deleted_at IS NULL
			RETURNING `+repoColumns, time.Now().UnixNano(), org, id))
		if errors.Is(err, sql.ErrNoRows) {
			return missingRepo(ctx, tx, org, id)
		}
		if err != nil {
			return err
		}
		// A deleted repository's upstream secret has no further use; the
		// tombstone keeps no copy of it.
		_, err = tx.ExecContext(ctx, `DELETE FROM git_credentials WHERE storage_key = ?`, r.StorageKey)
		return err
	})
	if err != nil {
		return Repo{}, fmt.Errorf("delete repo %s/%s: %w", org, id, err)
	}
	return r, nil
}

func (s *SQLiteStore) SetDefaultBranch(ctx context.Context, org, id, branch string) error {
	return s.updateLive(ctx, org, id, "set default branch", `default_branch = ?`, branch)
}

func (s *SQLiteStore) SetBaseRepo(ctx context.Context, org, id string, base *BaseRepo) error {
	var provider sql.NullString
	var b BaseRepo
	if base != nil {
		b = *base
		provider = sql.NullString{String: b.Provider, Valid: true}
	}
	return s.updateLive(ctx, org, id, "set base repo", `base_provider = ?, base_owner = ?, base_name = ?,
		base_default_branch = ?, base_operation = ?, base_ref = ?, base_sha = ?, base_upstream_host = ?, base_auth_type = ?`,
		provider, b.Owner, b.Name, b.DefaultBranch, b.Operation, b.Ref, b.SHA, b.UpstreamHost, b.AuthType)
}

// updateLive runs "UPDATE repos SET <set>" on the live repository (org, id).
func (s *SQLiteStore) updateLive(ctx context.Context, org, id, what, set string, args ...any) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE repos SET `+set+`
			WHERE org = ? AND id = ? AND deleted_at IS NULL`, append(args, org, id)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return missingRepo(ctx, tx, org, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s of repo %s/%s: %w", what, org, id, err)
	}
	return nil
}

// missingRepo explains, inside the transaction that found no live row for
// (org, id), why: ErrDeleted if a tombstone exists, else ErrNotFound.
func missingRepo(ctx context.Context, tx *sql.Tx, org, id string) error {
	var tombstoned bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM repos WHERE org = ? AND id = ?)`,
		org, id).Scan(&tombstoned); err != nil {
		return err
	}
	if tombstoned {
		return ErrDeleted
	}
	return ErrNotFound
}

func (s *SQLiteStore) ListRepos(ctx context.Context, org string, opt ListReposOptions) ([]Repo, bool, error) {
	limit := -1 // SQLite: no limit
	if opt.Limit > 0 {
		limit = opt.Limit + 1 // one extra row tells whether more follow
	}
	// instr, not LIKE: the query is a literal, '%' and '_' included.
	rows, err := s.r.QueryContext(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE org = ?1 AND deleted_at IS NULL AND seq > ?2
			AND (?3 = '' OR instr(id_fold, ?3) > 0)
		ORDER BY seq
		LIMIT ?4`, org, opt.AfterSeq, foldCase(opt.Query), limit)
	if err != nil {
		return nil, false, fmt.Errorf("list repos of %s: %w", org, err)
	}
	repos, err := collectRepos(rows)
	if err != nil {
		return nil, false, fmt.Errorf("list repos of %s: %w", org, err)
	}
	repos, hasMore := pageRepos(repos, opt.Limit)
	return repos, hasMore, nil
}

func (s *SQLiteStore) DeletedRepos(ctx context.Context) ([]Repo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE deleted_at IS NOT NULL
		ORDER BY deleted_at, seq`)
	if err != nil {
		return nil, fmt.Errorf("list deleted repos: %w", err)
	}
	repos, err := collectRepos(rows)
	if err != nil {
		return nil, fmt.Errorf("list deleted repos: %w", err)
	}
	return repos, nil
}

func (s *SQLiteStore) LiveRepos(ctx context.Context) ([]Repo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+repoColumns+` FROM repos
		WHERE deleted_at IS NULL
		ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("list live repos: %w", err)
	}
	repos, err := collectRepos(rows)
	if err != nil {
		return nil, fmt.Errorf("list live repos: %w", err)
	}
	return repos, nil
}

func collectRepos(rows *sql.Rows) ([]Repo, error) {
	defer rows.Close()
	var repos []Repo
	for rows.Next() {
		r, err := scanRepo(rows)
		if err != nil {
			return nil, err
		}
		repos = append(repos, r)
	}
	return repos, rows.Err()
}
