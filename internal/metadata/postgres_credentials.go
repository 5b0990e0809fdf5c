package metadata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (s *PostgresStore) CreateGitCredential(ctx context.Context, c GitCredential) (GitCredential, error) {
	c, err := newGitCredential(c)
	if err != nil {
		return GitCredential{}, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		// The repository must be live and still the incarnation the secret
		// was sealed for. FOR SHARE holds the row against a concurrent
		// DeleteRepo until this transaction ends: the delete then removes
		// the credential, rather than missing one committed after it.
		var live bool
		err := tx.QueryRow(ctx, `SELECT true FROM repos
			WHERE org = $1 AND id = $2 AND storage_key = $3 AND deleted_at IS NULL
			FOR SHARE`, c.Org, c.RepoID, c.StorageKey).Scan(&live)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO git_credentials
			(id, storage_key, username, secret, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			c.ID, c.StorageKey, c.Username, c.Secret, c.CreatedAt.UnixNano(), c.UpdatedAt.UnixNano())
		if pgCode(err, pgUniqueViolation) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return GitCredential{}, fmt.Errorf("create git credential for %s/%s: %w", c.Org, c.RepoID, err)
	}
	return c, nil
}

func (s *PostgresStore) GitCredential(ctx context.Context, org, id string) (GitCredential, error) {
	if !pgStorable(org, id) {
		return GitCredential{}, fmt.Errorf("get git credential %q of %q: %w", id, org, ErrNotFound)
	}
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialColumns+`
		FROM git_credentials c JOIN repos r ON r.storage_key = c.storage_key
		WHERE c.id = $1 AND r.org = $2 AND r.deleted_at IS NULL`, id, org))
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return GitCredential{}, fmt.Errorf("get git credential %q of %s: %w", id, org, err)
	}
	return c, nil
}

func (s *PostgresStore) GitCredentialForRepo(ctx context.Context, storageKey string) (GitCredential, error) {
	c, err := scanCredential(s.pool.QueryRow(ctx, `SELECT `+credentialColumns+`
		FROM git_credentials c JOIN repos r ON r.storage_key = c.storage_key
		WHERE c.storage_key = $1 AND r.deleted_at IS NULL`, storageKey))
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return GitCredential{}, fmt.Errorf("get git credential of %s: %w", storageKey, err)
	}
	return c, nil
}

func (s *PostgresStore) UpdateGitCredential(ctx context.Context, c GitCredential) (GitCredential, error) {
	if err := checkGitCredentialUpdate(c); err != nil {
		return GitCredential{}, err
	}
	if !pgStorable(c.Org, c.ID, c.StorageKey) {
		return GitCredential{}, fmt.Errorf("update git credential %q of %q: %w", c.ID, c.Org, ErrNotFound)
	}
	// UPDATE … FROM joins the repository, which must be live and of
	// c.Org, and RETURNING reads its org and id in the same statement.
	out, err := scanCredential(s.pool.QueryRow(ctx, `UPDATE git_credentials c
		SET username = $1, secret = $2, updated_at = $3
		FROM repos r
		WHERE c.id = $4 AND c.storage_key = $5
			AND r.storage_key = c.storage_key AND r.org = $6 AND r.deleted_at IS NULL
		RETURNING `+credentialColumns,
		c.Username, c.Secret, time.Now().UnixNano(), c.ID, c.StorageKey, c.Org))
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return GitCredential{}, fmt.Errorf("update git credential %q of %s: %w", c.ID, c.Org, err)
	}
	return out, nil
}

func (s *PostgresStore) DeleteGitCredential(ctx context.Context, org, id string) error {
	if !pgStorable(org, id) {
		return fmt.Errorf("delete git credential %q of %q: %w", id, org, ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM git_credentials
		WHERE id = $1 AND storage_key IN (SELECT storage_key FROM repos WHERE org = $2 AND deleted_at IS NULL)`, id, org)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete git credential %q of %s: %w", id, org, err)
	}
	return nil
}
