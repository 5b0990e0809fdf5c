package metadata

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The PostgresStore is the clustered mode's Ledger (ledger.go): the tables
// cluster_repos, cluster_refs, cluster_packs and cluster_garbage.

var _ Ledger = (*PostgresStore)(nil)

func (s *PostgresStore) LedgerCreate(ctx context.Context, storageKey, head string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cluster_repos (storage_key, version, head) VALUES ($1, 0, $2)`, storageKey, head)
	if pgCode(err, pgUniqueViolation) {
		return fmt.Errorf("ledger: repository %s: %w", storageKey, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("ledger: create %s: %w", storageKey, err)
	}
	return nil
}

func (s *PostgresStore) LedgerVersion(ctx context.Context, storageKey string) (int64, string, error) {
	var version int64
	var head string
	err := s.pool.QueryRow(ctx, `SELECT version, head FROM cluster_repos WHERE storage_key = $1`, storageKey).Scan(&version, &head)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", fmt.Errorf("ledger: repository %s: %w", storageKey, ErrNotFound)
	}
	if err != nil {
		return 0, "", fmt.Errorf("ledger: version of %s: %w", storageKey, err)
	}
	return version, head, nil
}

func (s *PostgresStore) LedgerSnapshot(ctx context.Context, storageKey string) (LedgerState, error) {
	st := LedgerState{Refs: make(map[string]string)}
	// One snapshot for the three reads: refs and manifest of one version.
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT version, head FROM cluster_repos WHERE storage_key = $1`, storageKey).Scan(&st.Version, &st.Head)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("repository %s: %w", storageKey, ErrNotFound)
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name, oid FROM cluster_refs WHERE storage_key = $1`, storageKey)
		if err != nil {
			return err
		}
		var name, oid string
		if _, err := pgx.ForEachRow(rows, []any{&name, &oid}, func() error {
			st.Refs[name] = oid
			return nil
		}); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT name, bytes, replaces FROM cluster_packs WHERE storage_key = $1 ORDER BY seq`, storageKey)
		if err != nil {
			return err
		}
		var p PackRecord
		_, err = pgx.ForEachRow(rows, []any{&p.Name, &p.Bytes, &p.Replaces}, func() error {
			st.Packs = append(st.Packs, p)
			p = PackRecord{}
			return nil
		})
		return err
	})
	if err != nil {
		return LedgerState{}, fmt.Errorf("ledger: snapshot of %s: %w", storageKey, err)
	}
	return st, nil
}

// LedgerPublish locks the repository's row first, so transactions on one
// repository take turns (from every node) and each compares the refs as
// the previous one left them. The ref-update events go last, under the
// feed's advisory lock (AppendRefEvents explains it), which is then held
// only for the insert and the commit.
func (s *PostgresStore) LedgerPublish(ctx context.Context, storageKey string, changes []RefChange, pack *PackRecord, events []RefEvent) (Published, error) {
	var pub Published
	now := time.Now()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT version FROM cluster_repos WHERE storage_key = $1 FOR UPDATE`, storageKey).Scan(&pub.Before)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("repository %s: %w", storageKey, ErrNotFound)
		}
		if err != nil {
			return err
		}
		names := make([]string, len(changes))
		for i, c := range changes {
			names[i] = c.Ref
		}
		current := make(map[string]string, len(changes))
		rows, err := tx.Query(ctx, `SELECT name, oid FROM cluster_refs WHERE storage_key = $1 AND name = ANY($2)`, storageKey, names)
		if err != nil {
			return err
		}
		var name, oid string
		if _, err := pgx.ForEachRow(rows, []any{&name, &oid}, func() error {
			current[name] = oid
			return nil
		}); err != nil {
			return err
		}
		for _, c := range changes {
			if cur, want := current[c.Ref], noneIfZero(c.Old); cur != want {
				return &LedgerMismatchError{Ref: c.Ref, Expect: c.Old, Actual: cur}
			}
		}
		if a, b, ok := clashWithin(changes); ok {
			return &LedgerNameClashError{Ref: b, Existing: a}
		}
		for _, c := range changes {
			if current[c.Ref] != "" || noneIfZero(c.New) == "" {
				continue
			}
			// A created ref must not be a directory of an existing one, nor
			// below one (git stores refs as paths).
			var existing string
			err := tx.QueryRow(ctx, `SELECT name FROM cluster_refs WHERE storage_key = $1
				AND (starts_with(name, $2 || '/') OR starts_with($2, name || '/')) LIMIT 1`, storageKey, c.Ref).Scan(&existing)
			if err == nil && !deletedIn(changes, existing) {
				return &LedgerNameClashError{Ref: c.Ref, Existing: existing}
			}
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}

		b := &pgx.Batch{}
		for _, c := range changes {
			if noneIfZero(c.New) == "" {
				b.Queue(`DELETE FROM cluster_refs WHERE storage_key = $1 AND name = $2`, storageKey, c.Ref)
			} else {
				b.Queue(`INSERT INTO cluster_refs (storage_key, name, oid) VALUES ($1, $2, $3)
					ON CONFLICT (storage_key, name) DO UPDATE SET oid = excluded.oid`, storageKey, c.Ref, c.New)
			}
		}
		if pack != nil {
			b.Queue(`INSERT INTO cluster_packs (storage_key, name, bytes, replaces) VALUES ($1, $2, $3, $4)
				ON CONFLICT (storage_key, name) DO NOTHING`, storageKey, pack.Name, pack.Bytes, nonNilStrings(pack.Replaces))
		}
		b.Queue(`UPDATE cluster_repos SET version = version + 1 WHERE storage_key = $1`, storageKey)
		b.Queue(`SELECT count(*) FROM cluster_packs WHERE storage_key = $1`, storageKey)
		if len(events) > 0 {
			b.Queue(`SELECT pg_advisory_xact_lock($1)`, lockRefEvents)
			for _, e := range events {
				at := e.At
				if at.IsZero() {
					at = now
				}
				b.Queue(`INSERT INTO ref_events
						(org, repo_id, storage_key, namespace, ref, before_oid, after_oid, at)
					SELECT org, id, storage_key, $1, $2, $3, $4, $5
					FROM repos WHERE storage_key = $6`,
					e.Namespace, e.Ref, e.Before, e.After, at.UnixNano(), e.StorageKey)
			}
		}
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		n := len(changes) + 1 // ref writes and the version
		if pack != nil {
			n++
		}
		for range n {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		if err := br.QueryRow().Scan(&pub.Packs); err != nil {
			return err
		}
		if len(events) > 0 {
			if _, err := br.Exec(); err != nil {
				return err
			}
			for range events {
				tag, err := br.Exec()
				if err != nil {
					return err
				}
				if tag.RowsAffected() != 1 {
					return fmt.Errorf("event of repository %s: %w", storageKey, ErrNotFound)
				}
			}
		}
		return br.Close()
	})
	if err != nil {
		var mismatch *LedgerMismatchError
		var clash *LedgerNameClashError
		if errors.As(err, &mismatch) || errors.As(err, &clash) {
			return Published{}, err
		}
		return Published{}, fmt.Errorf("ledger: publish to %s: %w", storageKey, err)
	}
	pub.After = pub.Before + 1
	return pub, nil
}

// clashWithin finds two refs the transaction creates or keeps that
// exclude each other (refs/x and refs/x/y).
func clashWithin(changes []RefChange) (string, string, bool) {
	for _, a := range changes {
		for _, b := range changes {
			if noneIfZero(a.New) != "" && noneIfZero(b.New) != "" && strings.HasPrefix(b.Ref, a.Ref+"/") {
				return a.Ref, b.Ref, true
			}
		}
	}
	return "", "", false
}

// deletedIn reports whether the transaction deletes ref, which then no
// longer stands in the way of a ref it clashes with.
func deletedIn(changes []RefChange, ref string) bool {
	for _, c := range changes {
		if c.Ref == ref && noneIfZero(c.New) == "" {
			return true
		}
	}
	return false
}

// noneIfZero spells "no object" as "", the way the ledger stores absence.
func noneIfZero(oid string) string {
	for _, r := range oid {
		if r != '0' {
			return oid
		}
	}
	return ""
}

func (s *PostgresStore) LedgerSetHead(ctx context.Context, storageKey, head string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE cluster_repos SET head = $2, version = version + 1 WHERE storage_key = $1`, storageKey, head)
	if err != nil {
		return fmt.Errorf("ledger: set HEAD of %s: %w", storageKey, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("ledger: repository %s: %w", storageKey, ErrNotFound)
	}
	return nil
}

func (s *PostgresStore) LedgerReplacePacks(ctx context.Context, storageKey string, old []string, pack PackRecord) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM cluster_packs WHERE storage_key = $1 AND name = ANY($2)`, storageKey, old)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != int64(len(old)) {
			return fmt.Errorf("packs of %s changed meanwhile: %w", storageKey, ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO cluster_packs (storage_key, name, bytes, replaces) VALUES ($1, $2, $3, $4)
			ON CONFLICT (storage_key, name) DO NOTHING`, storageKey, pack.Name, pack.Bytes, nonNilStrings(pack.Replaces)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO cluster_garbage (storage_key, name, since)
			SELECT $1, n, $3 FROM unnest($2::text[]) AS n WHERE n <> $4
			ON CONFLICT DO NOTHING`, storageKey, old, time.Now().UnixNano(), pack.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: replace packs of %s: %w", storageKey, err)
	}
	return nil
}

func (s *PostgresStore) LedgerRemove(ctx context.Context, storageKey string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO cluster_garbage (storage_key, name, since)
			SELECT storage_key, name, $2 FROM cluster_packs WHERE storage_key = $1
			ON CONFLICT DO NOTHING`, storageKey, time.Now().UnixNano()); err != nil {
			return err
		}
		// cluster_refs and cluster_packs go with the row (ON DELETE CASCADE).
		_, err := tx.Exec(ctx, `DELETE FROM cluster_repos WHERE storage_key = $1`, storageKey)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger: remove %s: %w", storageKey, err)
	}
	return nil
}

func (s *PostgresStore) LedgerGarbage(ctx context.Context, cutoff time.Time, limit int) ([]GarbagePack, error) {
	rows, err := s.pool.Query(ctx, `SELECT storage_key, name, since FROM cluster_garbage
		WHERE since < $1 ORDER BY since, storage_key, name LIMIT $2`, cutoff.UnixNano(), limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("ledger: garbage: %w", err)
	}
	var out []GarbagePack
	var g GarbagePack
	var since int64
	if _, err := pgx.ForEachRow(rows, []any{&g.StorageKey, &g.Name, &since}, func() error {
		g.Since = fromNanos(since)
		out = append(out, g)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger: garbage: %w", err)
	}
	return out, nil
}

func (s *PostgresStore) LedgerForgetGarbage(ctx context.Context, packs []GarbagePack) error {
	keys := make([]string, len(packs))
	names := make([]string, len(packs))
	for i, g := range packs {
		keys[i], names[i] = g.StorageKey, g.Name
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM cluster_garbage g USING unnest($1::text[], $2::text[]) AS d(k, n)
		WHERE g.storage_key = d.k AND g.name = d.n`, keys, names)
	if err != nil {
		return fmt.Errorf("ledger: forget garbage: %w", err)
	}
	return nil
}

// LedgerTryLock holds a session-level advisory lock on a connection taken
// out of the pool until release, so the lock lives exactly as long as the
// holder: a node that dies drops its connection and with it the lock.
func (s *PostgresStore) LedgerTryLock(ctx context.Context, name string) (func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("ledger: lock %s: %w", name, err)
	}
	h := fnv.New64a()
	h.Write([]byte("strata-ledger:" + name))
	key := int64(h.Sum64())
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("ledger: lock %s: %w", name, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			// The lock may still be held: close the connection rather than
			// return it to the pool with the lock.
			conn.Conn().Close(ctx)
		}
		conn.Release()
	}, true, nil
}
