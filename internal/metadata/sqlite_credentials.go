package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (s *SQLiteStore) CreateGitCredential(ctx context.Context, c GitCredential) (GitCredential, error) {
	c, err := newGitCredential(c)
	if err != nil {
		return GitCredential{}, err
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		// The repository must be live and still the incarnation the secret
		// was sealed for.
		var live bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM repos
			WHERE org = ? AND id = ? AND storage_key = ? AND deleted_at IS NULL)`,
			c.Org, c.RepoID, c.StorageKey).Scan(&live); err != nil {
			return err
		}
		if !live {
			return ErrNotFound
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO git_credentials
			(id, storage_key, username, secret, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			c.ID, c.StorageKey, c.Username, c.Secret, c.CreatedAt.UnixNano(), c.UpdatedAt.UnixNano())
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return GitCredential{}, fmt.Errorf("create git credential for %s/%s: %w", c.Org, c.RepoID, err)
	}
	return c, nil
}

func (s *SQLiteStore) GitCredential(ctx context.Context, org, id string) (GitCredential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialColumns+`
		FROM git_credentials c JOIN repos r ON r.storage_key = c.storage_key
		WHERE c.id = ? AND r.org = ? AND r.deleted_at IS NULL`, id, org))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return GitCredential{}, fmt.Errorf("get git credential %q of %s: %w", id, org, err)
	}
	return c, nil
}

func (s *SQLiteStore) GitCredentialForRepo(ctx context.Context, storageKey string) (GitCredential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialColumns+`
		FROM git_credentials c JOIN repos r ON r.storage_key = c.storage_key
		WHERE c.storage_key = ? AND r.deleted_at IS NULL`, storageKey))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return GitCredential{}, fmt.Errorf("get git credential of %s: %w", storageKey, err)
	}
	return c, nil
}

func (s *SQLiteStore) UpdateGitCredential(ctx context.Context, c GitCredential) (GitCredential, error) {
	if err := checkGitCredentialUpdate(c); err != nil {
		return GitCredential{}, err
	}
	var out GitCredential
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		// RETURNING cannot name the joined repository: read it back instead.
		res, err := tx.ExecContext(ctx, `UPDATE git_credentials
			SET username = ?, secret = ?, updated_at = ?
			WHERE id = ? AND storage_key = ? AND storage_key IN
				(SELECT storage_key FROM repos WHERE org = ? AND deleted_at IS NULL)`,
			c.Username, c.Secret, time.Now().UnixNano(), c.ID, c.StorageKey, c.Org)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		out, err = scanCredential(tx.QueryRowContext(ctx, `SELECT `+credentialColumns+`
			FROM git_credentials c JOIN repos r ON r.storage_key = c.storage_key
			WHERE c.id = ?`, c.ID))
		return err
	})
	if err != nil {
		return GitCredential{}, fmt.Errorf("update git credential %q of %s: %w", c.ID, c.Org, err)
	}
	return out, nil
}

func (s *SQLiteStore) DeleteGitCredential(ctx context.Context, org, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM git_credentials
		WHERE id = ? AND storage_key IN (SELECT storage_key FROM repos WHERE org = ? AND deleted_at IS NULL)`, id, org)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("delete git credential %q of %s: %w", id, org, err)
	}
	return nil
}
