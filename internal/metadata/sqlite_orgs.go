package metadata

import (
	"context"
	"database/sql"
	"fmt"
)

// bumpOrgsVersion moves the version a server polls; every write to orgs or
// org_keys calls it inside its transaction.
func bumpOrgsVersion(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE org_keys_version SET version = version + 1 WHERE id = 1`)
	return err
}

func (s *SQLiteStore) CreateOrg(ctx context.Context, o Org) (Org, error) {
	o, err := newOrg(o)
	if err != nil {
		return Org{}, err
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO orgs (name, jwks_url, created_at) VALUES (?, ?, ?)`,
			o.Name, o.JWKSURL, o.CreatedAt.UnixNano())
		if isUniqueViolation(err) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		for _, k := range o.Keys {
			if err := insertOrgKey(ctx, tx, k); err != nil {
				return err
			}
		}
		return bumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return Org{}, fmt.Errorf("create org %s: %w", o.Name, err)
	}
	return o, nil
}

func insertOrgKey(ctx context.Context, tx *sql.Tx, k OrgKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO org_keys (org, kid, public_key, created_at) VALUES (?, ?, ?, ?)`,
		k.Org, k.ID, k.PublicKey, k.CreatedAt.UnixNano())
	switch {
	case isUniqueViolation(err):
		return ErrExists
	case isForeignKeyViolation(err):
		return ErrNotFound
	}
	return err
}

func (s *SQLiteStore) Org(ctx context.Context, name string) (Org, error) {
	orgs, err := s.readOrgs(ctx, name)
	if err == nil && len(orgs) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Org{}, fmt.Errorf("org %s: %w", name, err)
	}
	return orgs[0], nil
}

func (s *SQLiteStore) Orgs(ctx context.Context) ([]Org, error) {
	orgs, err := s.readOrgs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	return orgs, nil
}

// readOrgs reads one organisation (name) or all (""), with their keys, in
// one read transaction so the keys match the organisations.
func (s *SQLiteStore) readOrgs(ctx context.Context, name string) ([]Org, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT name, jwks_url, created_at FROM orgs
		WHERE ? = '' OR name = ? ORDER BY name`, name, name)
	if err != nil {
		return nil, err
	}
	var orgs []Org
	index := map[string]int{}
	for rows.Next() {
		var o Org
		var created int64
		if err := rows.Scan(&o.Name, &o.JWKSURL, &created); err != nil {
			rows.Close()
			return nil, err
		}
		o.CreatedAt = fromNanos(created)
		index[o.Name] = len(orgs)
		orgs = append(orgs, o)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT org, kid, public_key, created_at FROM org_keys
		WHERE ? = '' OR org = ? ORDER BY org, created_at, kid`, name, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k OrgKey
		var created int64
		if err := rows.Scan(&k.Org, &k.ID, &k.PublicKey, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromNanos(created)
		if i, ok := index[k.Org]; ok {
			orgs[i].Keys = append(orgs[i].Keys, k)
		}
	}
	return orgs, rows.Err()
}

func (s *SQLiteStore) DeleteOrg(ctx context.Context, name string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM orgs WHERE name = ?`, name)
		if err := affectedOne(res, err); err != nil {
			return err
		}
		return bumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("delete org %s: %w", name, err)
	}
	return nil
}

func (s *SQLiteStore) SetOrgJWKSURL(ctx context.Context, name, url string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE orgs SET jwks_url = ? WHERE name = ?`, url, name)
		if err := affectedOne(res, err); err != nil {
			return err
		}
		return bumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("set jwks url of org %s: %w", name, err)
	}
	return nil
}

func (s *SQLiteStore) AddOrgKey(ctx context.Context, k OrgKey) (OrgKey, error) {
	k, err := newOrgKey(k)
	if err != nil {
		return OrgKey{}, err
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := insertOrgKey(ctx, tx, k); err != nil {
			return err
		}
		return bumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return OrgKey{}, fmt.Errorf("add key %q to org %s: %w", k.ID, k.Org, err)
	}
	return k, nil
}

func (s *SQLiteStore) RemoveOrgKey(ctx context.Context, org, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM org_keys WHERE org = ? AND kid = ?`, org, id)
		if err := affectedOne(res, err); err != nil {
			return err
		}
		return bumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("remove key %q of org %s: %w", id, org, err)
	}
	return nil
}

func (s *SQLiteStore) OrgsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.r.QueryRowContext(ctx, `SELECT version FROM org_keys_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read orgs version: %w", err)
	}
	return v, nil
}

// affectedOne turns "no row matched" into ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
