package metadata

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *PostgresStore) RecordBranch(ctx context.Context, storageKey, namespace, branch string, createdAt time.Time) error {
	if createdAt.IsZero() {
		createdAt = time.Now()
	}
	// DO NOTHING keeps the first time: a push racing an API create, or a
	// retried request, must not move a branch in the creation order.
	_, err := s.pool.Exec(ctx, `INSERT INTO branches (storage_key, namespace, name, created_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (storage_key, namespace, name) DO NOTHING`,
		storageKey, namespace, branch, createdAt.UnixNano())
	if pgCode(err, pgForeignKeyViolation) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record branch %q in %s (namespace %q): %w", branch, storageKey, namespace, err)
	}
	return nil
}

func (s *PostgresStore) ForgetBranch(ctx context.Context, storageKey, namespace, branch string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM branches
		WHERE storage_key = $1 AND namespace = $2 AND name = $3`,
		storageKey, namespace, branch); err != nil {
		return fmt.Errorf("forget branch %q in %s (namespace %q): %w", branch, storageKey, namespace, err)
	}
	return nil
}

func (s *PostgresStore) Branches(ctx context.Context, storageKey, namespace string) ([]BranchRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+branchColumns+` FROM branches
		WHERE storage_key = $1 AND namespace = $2
		ORDER BY created_at, seq`, storageKey, namespace)
	if err != nil {
		return nil, fmt.Errorf("list branches of %s (namespace %q): %w", storageKey, namespace, err)
	}
	bs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BranchRecord, error) { return scanBranch(row) })
	if err != nil {
		return nil, fmt.Errorf("list branches of %s (namespace %q): %w", storageKey, namespace, err)
	}
	return bs, nil
}
