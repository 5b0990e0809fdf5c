package metadata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func scanPGWebhook(row pgx.Row) (Webhook, error) {
	var w Webhook
	var created int64
	if err := row.Scan(&w.ID, &w.Org, &w.URL, &w.Events, &w.RepoID, &w.Secret, &created); err != nil {
		return Webhook{}, err
	}
	w.CreatedAt = fromNanos(created)
	return w, nil
}

func (s *PostgresStore) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	w, err := newWebhook(w)
	if err != nil {
		return Webhook{}, err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO webhooks (id, org, url, events, repo_id, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		w.ID, w.Org, w.URL, w.Events, nullIfEmpty(w.RepoID), w.Secret, w.CreatedAt.UnixNano())
	if pgCode(err, pgUniqueViolation) {
		err = ErrExists
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook of %s: %w", w.Org, err)
	}
	return w, nil
}

func (s *PostgresStore) Webhook(ctx context.Context, org, id string) (Webhook, error) {
	if !pgStorable(org, id) {
		return Webhook{}, fmt.Errorf("webhook %q of %q: %w", id, org, ErrNotFound)
	}
	w, err := scanPGWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks w
		WHERE w.org = $1 AND w.id = $2`, org, id))
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("webhook %s of %s: %w", id, org, err)
	}
	return w, nil
}

func (s *PostgresStore) Webhooks(ctx context.Context, org string) ([]Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookColumns+` FROM webhooks w
		WHERE $1 = '' OR w.org = $1 ORDER BY w.created_at, w.id`, org)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %q: %w", org, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Webhook, error) { return scanPGWebhook(row) })
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %q: %w", org, err)
	}
	return out, nil
}

func (s *PostgresStore) DeleteWebhook(ctx context.Context, org, id string) error {
	if !pgStorable(org, id) {
		return fmt.Errorf("delete webhook %q of %q: %w", id, org, ErrNotFound)
	}
	// ON DELETE CASCADE takes the deliveries with it.
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE org = $1 AND id = $2`, org, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete webhook %s of %s: %w", id, org, err)
	}
	return nil
}

func (s *PostgresStore) EventCursor(ctx context.Context, consumer string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM event_cursors WHERE consumer = $1`, consumer).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read event cursor %s: %w", consumer, err)
	}
	return seq, nil
}

// pgMoveCursor moves a feed consumer's cursor inside tx: ErrCursorMoved
// if it is not at move.From. The zero move does nothing.
//
// Consumers in several processes race to move the same cursor from the
// same place. The cursor's row is locked (created first if need be, so
// there is a row to lock): the loser waits for the winner's commit, then
// reads the moved cursor and gives up, and its effects roll back.
func pgMoveCursor(ctx context.Context, tx pgx.Tx, move CursorMove) error {
	if move.Consumer == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO event_cursors (consumer, seq) VALUES ($1, 0)
		ON CONFLICT (consumer) DO NOTHING`, move.Consumer); err != nil {
		return err
	}
	var at int64
	if err := tx.QueryRow(ctx, `SELECT seq FROM event_cursors WHERE consumer = $1 FOR UPDATE`,
		move.Consumer).Scan(&at); err != nil {
		return err
	}
	if at != move.From {
		return fmt.Errorf("%w: %s is at %d, not %d", ErrCursorMoved, move.Consumer, at, move.From)
	}
	_, err := tx.Exec(ctx, `UPDATE event_cursors SET seq = $2 WHERE consumer = $1`, move.Consumer, move.To)
	return err
}

// EnqueueDeliveries takes the advisory lock lockWebhooks until it
// commits: a webhook's deliveries are attempted in id order (only the
// oldest pending one is a head), so ids must commit in the order they are
// drawn, or a delivery enqueued by one process could become the head
// after a later one, enqueued by another, was already delivered (see
// AppendRefEvents).
func (s *PostgresStore) EnqueueDeliveries(ctx context.Context, move CursorMove, ds []WebhookDelivery) ([]WebhookDelivery, error) {
	now := time.Now()
	var out []WebhookDelivery
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		if len(ds) > 0 {
			if err := lockXact(ctx, tx, lockWebhooks); err != nil {
				return err
			}
		}
		if err := pgMoveCursor(ctx, tx, move); err != nil {
			return err
		}
		if len(ds) == 0 {
			return nil
		}
		// INSERT … SELECT: a webhook deleted meanwhile gets no row. FOR KEY
		// SHARE waits for a delete in progress, and then finds no row,
		// rather than failing the whole batch on the foreign key.
		b := &pgx.Batch{}
		for i := range ds {
			d := newDelivery(ds[i], now)
			if d.Payload == nil {
				d.Payload = []byte{} // pgx sends nil as NULL; payload is NOT NULL
			}
			b.Queue(`INSERT INTO webhook_deliveries
					(webhook_id, event, payload, status, created_at, next_attempt_at)
				SELECT id, $1, $2, 'pending', $3, $4 FROM webhooks WHERE id = $5 FOR KEY SHARE
				RETURNING id`, d.Event, d.Payload, d.CreatedAt.UnixNano(), d.NextAttemptAt.UnixNano(), d.WebhookID).
				QueryRow(func(row pgx.Row) error {
					err := row.Scan(&d.ID)
					if errors.Is(err, pgx.ErrNoRows) {
						return nil
					}
					if err == nil {
						out = append(out, d)
					}
					return err
				})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d webhook deliveries: %w", len(ds), err)
	}
	return out, nil
}

// DeliveryHeads returns the heads as SQLite's does, and leases them to
// this store (lease_owner, lease_until): another process's DeliveryHeads
// leaves out a head leased to someone else until the lease ends
// (RecordAttempt, Close, or expiry after the holder died). A head leased
// to this store is returned again: within a process the runner keeps one
// attempt per webhook (skip). Heads not yet due are leased too: the
// caller decides what is due by its own clock, later than this query's,
// so an unleased head could become due in its hands. A process thus keeps
// the heads it has seen until it attempts them; the lease moves on if it
// dies or closes.
//
// The rows to lease are locked with SKIP LOCKED: two processes racing for
// the same head do not wait on each other (nor deadlock over several),
// the loser simply does not get it this time. A row changed since the
// statement's snapshot (attempted, leased) is checked again as it is
// locked, and the values returned are those of the row as leased.
func (s *PostgresStore) DeliveryHeads(ctx context.Context, limit int, skip []string) ([]DueDelivery, error) {
	s.leased.Store(true)
	rows, err := s.pool.Query(ctx, `WITH cand AS (
			SELECT d.id FROM webhook_deliveries d
			WHERE d.id IN (SELECT MIN(id) FROM webhook_deliveries
				WHERE status = 'pending' AND webhook_id <> ALL($1::text[]) GROUP BY webhook_id)
			  AND (d.lease_owner IS NULL OR d.lease_owner = $2 OR d.lease_until < now())
			ORDER BY d.next_attempt_at, d.id
			LIMIT $3
		), mine AS (
			SELECT d.id FROM webhook_deliveries d JOIN cand ON cand.id = d.id
			WHERE d.status = 'pending'
			  AND (d.lease_owner IS NULL OR d.lease_owner = $2 OR d.lease_until < now())
			FOR UPDATE OF d SKIP LOCKED
		), leased AS (
			UPDATE webhook_deliveries d SET lease_owner = $2, lease_until = now() + $4 * interval '1 microsecond'
			FROM mine WHERE d.id = mine.id
			RETURNING d.*
		)
		SELECT `+deliveryColumns+`, `+webhookColumns+`
		FROM leased d JOIN webhooks w ON w.id = d.webhook_id
		ORDER BY d.next_attempt_at, d.id`,
		nonNilStrings(skip), s.owner, limitArg(limit), s.lease.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("read due webhook deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (DueDelivery, error) {
		var due DueDelivery
		var created int64
		w := &due.Webhook
		d, err := scanDelivery(row, &w.ID, &w.Org, &w.URL, &w.Events, &w.RepoID, &w.Secret, &created)
		due.WebhookDelivery = d
		w.CreatedAt = fromNanos(created)
		return due, err
	})
	if err != nil {
		return nil, fmt.Errorf("read due webhook deliveries: %w", err)
	}
	return out, nil
}

// nonNilStrings returns ss, or an empty slice for nil: pgx sends a nil
// slice as NULL, and "x <> ALL(NULL)" is never true.
func nonNilStrings(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// RecordAttempt records the outcome and ends the lease: a delivery left
// pending is handed out again when it is due, to any process.
func (s *PostgresStore) RecordAttempt(ctx context.Context, id int64, a DeliveryAttempt) error {
	next, completed := attemptTimes(a.At, a.NextAttemptAt, a.Status != DeliveryPending)
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET
			status = $1, attempts = attempts + 1, last_attempt_at = $2, last_status_code = $3,
			last_error = $4, next_attempt_at = $5, completed_at = $6,
			lease_owner = NULL, lease_until = NULL
		WHERE id = $7 AND status = 'pending'`,
		string(a.Status), a.At.UnixNano(), a.StatusCode, a.Error, next, completed, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("record attempt of webhook delivery %d: %w", id, err)
	}
	return nil
}

func (s *PostgresStore) WebhookDeliveries(ctx context.Context, org, id string, limit int) ([]WebhookDelivery, error) {
	if _, err := s.Webhook(ctx, org, id); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2`, id, limitArg(limit))
	if err != nil {
		return nil, fmt.Errorf("list deliveries of webhook %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookDelivery, error) { return scanDelivery(row) })
	if err != nil {
		return nil, fmt.Errorf("list deliveries of webhook %s: %w", id, err)
	}
	return out, nil
}

func (s *PostgresStore) PendingDeliveries(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending webhook deliveries: %w", err)
	}
	return n, nil
}

func (s *PostgresStore) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries
		WHERE status <> 'pending' AND completed_at < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}
