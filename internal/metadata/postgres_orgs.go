package metadata

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgBumpOrgsVersion moves the version a server polls; every write to
// orgs or org_keys calls it inside its transaction. The row lock it takes
// also orders concurrent changes.
func pgBumpOrgsVersion(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `UPDATE org_keys_version SET version = version + 1 WHERE id = 1`)
	return err
}

func (s *PostgresStore) CreateOrg(ctx context.Context, o Org) (Org, error) {
	o, err := newOrg(o)
	if err != nil {
		return Org{}, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO orgs (name, jwks_url, created_at) VALUES ($1, $2, $3)`,
			o.Name, o.JWKSURL, o.CreatedAt.UnixNano())
		if pgCode(err, pgUniqueViolation) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		for _, k := range o.Keys {
			if err := pgInsertOrgKey(ctx, tx, k); err != nil {
				return err
			}
		}
		return pgBumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return Org{}, fmt.Errorf("create org %s: %w", o.Name, err)
	}
	return o, nil
}

func pgInsertOrgKey(ctx context.Context, tx pgx.Tx, k OrgKey) error {
	_, err := tx.Exec(ctx, `INSERT INTO org_keys (org, kid, public_key, created_at) VALUES ($1, $2, $3, $4)`,
		k.Org, k.ID, k.PublicKey, k.CreatedAt.UnixNano())
	switch {
	case pgCode(err, pgUniqueViolation):
		return ErrExists
	case pgCode(err, pgForeignKeyViolation):
		return ErrNotFound
	}
	return err
}

func (s *PostgresStore) Org(ctx context.Context, name string) (Org, error) {
	if !pgStorable(name) {
		return Org{}, fmt.Errorf("org %q: %w", name, ErrNotFound)
	}
	orgs, err := s.readOrgs(ctx, name)
	if err == nil && len(orgs) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Org{}, fmt.Errorf("org %s: %w", name, err)
	}
	return orgs[0], nil
}

func (s *PostgresStore) Orgs(ctx context.Context) ([]Org, error) {
	orgs, err := s.readOrgs(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	return orgs, nil
}

// readOrgs reads one organisation (name) or all (""), with their keys, in
// one statement, so the keys match the organisations.
func (s *PostgresStore) readOrgs(ctx context.Context, name string) ([]Org, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.name, o.jwks_url, o.created_at, k.kid, k.public_key, k.created_at
		FROM orgs o LEFT JOIN org_keys k ON k.org = o.name
		WHERE $1 = '' OR o.name = $1
		ORDER BY o.name, k.created_at, k.kid`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var orgs []Org
	for rows.Next() {
		var o Org
		var created int64
		var kid *string
		var pub []byte
		var keyCreated *int64
		if err := rows.Scan(&o.Name, &o.JWKSURL, &created, &kid, &pub, &keyCreated); err != nil {
			return nil, err
		}
		if n := len(orgs); n == 0 || orgs[n-1].Name != o.Name {
			o.CreatedAt = fromNanos(created)
			orgs = append(orgs, o)
		}
		if kid != nil {
			last := &orgs[len(orgs)-1]
			last.Keys = append(last.Keys, OrgKey{Org: o.Name, ID: *kid, PublicKey: pub, CreatedAt: fromNanos(*keyCreated)})
		}
	}
	return orgs, rows.Err()
}

func (s *PostgresStore) DeleteOrg(ctx context.Context, name string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := pgAffectedOne(tx.Exec(ctx, `DELETE FROM orgs WHERE name = $1`, name)); err != nil {
			return err
		}
		return pgBumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("delete org %s: %w", name, err)
	}
	return nil
}

func (s *PostgresStore) SetOrgJWKSURL(ctx context.Context, name, url string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := pgAffectedOne(tx.Exec(ctx, `UPDATE orgs SET jwks_url = $1 WHERE name = $2`, url, name)); err != nil {
			return err
		}
		return pgBumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("set jwks url of org %s: %w", name, err)
	}
	return nil
}

func (s *PostgresStore) AddOrgKey(ctx context.Context, k OrgKey) (OrgKey, error) {
	k, err := newOrgKey(k)
	if err != nil {
		return OrgKey{}, err
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if err := pgInsertOrgKey(ctx, tx, k); err != nil {
			return err
		}
		return pgBumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return OrgKey{}, fmt.Errorf("add key %q to org %s: %w", k.ID, k.Org, err)
	}
	return k, nil
}

func (s *PostgresStore) RemoveOrgKey(ctx context.Context, org, id string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := pgAffectedOne(tx.Exec(ctx, `DELETE FROM org_keys WHERE org = $1 AND kid = $2`, org, id)); err != nil {
			return err
		}
		return pgBumpOrgsVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("remove key %q of org %s: %w", id, org, err)
	}
	return nil
}

func (s *PostgresStore) OrgsVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM org_keys_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read orgs version: %w", err)
	}
	return v, nil
}

// pgAffectedOne turns "no row matched" into ErrNotFound.
func pgAffectedOne(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
