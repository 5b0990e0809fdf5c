package metadata

import (
	"context"
	"fmt"
	"time"
)

func (s *SQLiteStore) RecordBranch(ctx context.Context, storageKey, namespace, branch string, createdAt time.Time) error {
	if createdAt.IsZero() {
		createdAt = time.Now()
	}
	// DO NOTHING keeps the first time: a push racing an API create, or a
	// retried request, must not move a branch in the creation order.
	_, err := s.w.ExecContext(ctx, `INSERT INTO branches (storage_key, namespace, name, created_at)
		VALUES (?, ?, ?, ?)
		ON CONFLICT (storage_key, namespace, name) DO NOTHING`,
		storageKey, namespace, branch, createdAt.UnixNano())
	if isForeignKeyViolation(err) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record branch %q in %s (namespace %q): %w", branch, storageKey, namespace, err)
	}
	return nil
}

func (s *SQLiteStore) ForgetBranch(ctx context.Context, storageKey, namespace, branch string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM branches
		WHERE storage_key = ? AND namespace = ? AND name = ?`,
		storageKey, namespace, branch); err != nil {
		return fmt.Errorf("forget branch %q in %s (namespace %q): %w", branch, storageKey, namespace, err)
	}
	return nil
}

func (s *SQLiteStore) Branches(ctx context.Context, storageKey, namespace string) ([]BranchRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+branchColumns+` FROM branches
		WHERE storage_key = ? AND namespace = ?
		ORDER BY created_at, seq`, storageKey, namespace)
	if err != nil {
		return nil, fmt.Errorf("list branches of %s (namespace %q): %w", storageKey, namespace, err)
	}
	defer rows.Close()
	var bs []BranchRecord
	for rows.Next() {
		b, err := scanBranch(rows)
		if err != nil {
			return nil, fmt.Errorf("list branches of %s (namespace %q): %w", storageKey, namespace, err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list branches of %s (namespace %q): %w", storageKey, namespace, err)
	}
	return bs, nil
}
