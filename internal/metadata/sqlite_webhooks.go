package metadata

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

func scanWebhook(sc scanner) (Webhook, error) {
	var w Webhook
	var events string
	var created int64
	if err := sc.Scan(&w.ID, &w.Org, &w.URL, &events, &w.RepoID, &w.Secret, &created); err != nil {
		return Webhook{}, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return Webhook{}, fmt.Errorf("webhook %s: events: %w", w.ID, err)
	}
	w.CreatedAt = fromNanos(created)
	return w, nil
}

func (s *SQLiteStore) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	w, err := newWebhook(w)
	if err != nil {
		return Webhook{}, err
	}
	events, err := json.Marshal(w.Events)
	if err != nil {
		return Webhook{}, err
	}
	var repoID any
	if w.RepoID != "" {
		repoID = w.RepoID
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (id, org, url, events, repo_id, secret, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, w.ID, w.Org, w.URL, string(events), repoID, w.Secret, w.CreatedAt.UnixNano())
		if isUniqueViolation(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook of %s: %w", w.Org, err)
	}
	return w, nil
}

func (s *SQLiteStore) Webhook(ctx context.Context, org, id string) (Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks w WHERE w.org = ? AND w.id = ?`, org, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("webhook %s of %s: %w", id, org, err)
	}
	return w, nil
}

func (s *SQLiteStore) Webhooks(ctx context.Context, org string) ([]Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks w
		WHERE ? = '' OR w.org = ? ORDER BY w.created_at, w.id`, org, org)
	if err != nil {
		return nil, fmt.Errorf("list webhooks of %q: %w", org, err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list webhooks of %q: %w", org, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list webhooks of %q: %w", org, err)
	}
	return out, nil
}

func (s *SQLiteStore) DeleteWebhook(ctx context.Context, org, id string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		// ON DELETE CASCADE takes the deliveries with it.
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE org = ? AND id = ?`, org, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s of %s: %w", id, org, err)
	}
	return nil
}

// cmpErr returns err if set, otherwise fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

func (s *SQLiteStore) EventCursor(ctx context.Context, consumer string) (int64, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT seq FROM event_cursors WHERE consumer = ?`, consumer).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read event cursor %s: %w", consumer, err)
	}
	return seq, nil
}

func (s *SQLiteStore) EnqueueDeliveries(ctx context.Context, move CursorMove, ds []WebhookDelivery) ([]WebhookDelivery, error) {
	now := time.Now()
	var out []WebhookDelivery
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		if err := moveCursor(ctx, tx, move); err != nil {
			return err
		}
		if len(ds) == 0 {
			return nil
		}
		// INSERT … SELECT: a webhook deleted meanwhile gets no row.
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO webhook_deliveries
				(webhook_id, event, payload, status, created_at, next_attempt_at)
			SELECT id, ?, ?, 'pending', ?, ? FROM webhooks WHERE id = ?
			RETURNING id`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, d := range ds {
			d = newDelivery(d, now)
			err := stmt.QueryRowContext(ctx, d.Event, d.Payload, d.CreatedAt.UnixNano(), d.NextAttemptAt.UnixNano(), d.WebhookID).Scan(&d.ID)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d webhook deliveries: %w", len(ds), err)
	}
	return out, nil
}

func (s *SQLiteStore) DeliveryHeads(ctx context.Context, limit int, skip []string) ([]DueDelivery, error) {
	if limit <= 0 {
		limit = -1
	}
	args := []any{}
	notIn := ""
	if len(skip) > 0 {
		notIn = ` AND webhook_id NOT IN (?` + strings.Repeat(`, ?`, len(skip)-1) + `)`
		for _, id := range skip {
			args = append(args, id)
		}
	}
	args = append(args, limit)
	// The subquery reads one entry per webhook from the partial index.
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryColumns+`, `+webhookColumns+`
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
		WHERE d.id IN (SELECT MIN(id) FROM webhook_deliveries
			WHERE status = 'pending'`+notIn+` GROUP BY webhook_id)
		ORDER BY d.next_attempt_at, d.id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("read due webhook deliveries: %w", err)
	}
	defer rows.Close()
	var out []DueDelivery
	for rows.Next() {
		var due DueDelivery
		var events string
		var created int64
		w := &due.Webhook
		d, err := scanDelivery(rows, &w.ID, &w.Org, &w.URL, &events, &w.RepoID, &w.Secret, &created)
		if err != nil {
			return nil, fmt.Errorf("read due webhook deliveries: %w", err)
		}
		due.WebhookDelivery = d
		if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
			return nil, fmt.Errorf("webhook %s: events: %w", w.ID, err)
		}
		w.CreatedAt = fromNanos(created)
		out = append(out, due)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read due webhook deliveries: %w", err)
	}
	return out, nil
}

func (s *SQLiteStore) RecordAttempt(ctx context.Context, id int64, a DeliveryAttempt) error {
	next, completed := attemptTimes(a.At, a.NextAttemptAt, a.Status != DeliveryPending)
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET
				status = ?, attempts = attempts + 1, last_attempt_at = ?, last_status_code = ?,
				last_error = ?, next_attempt_at = ?, completed_at = ?
			WHERE id = ? AND status = 'pending'`,
			string(a.Status), a.At.UnixNano(), a.StatusCode, a.Error, next, completed, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record attempt of webhook delivery %d: %w", id, err)
	}
	return nil
}

func (s *SQLiteStore) WebhookDeliveries(ctx context.Context, org, id string, limit int) ([]WebhookDelivery, error) {
	if _, err := s.Webhook(ctx, org, id); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d
		WHERE d.webhook_id = ? ORDER BY d.id DESC LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of webhook %s: %w", id, err)
	}
	defer rows.Close()
	var out []WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries of webhook %s: %w", id, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries of webhook %s: %w", id, err)
	}
	return out, nil
}

func (s *SQLiteStore) PendingDeliveries(ctx context.Context) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending webhook deliveries: %w", err)
	}
	return n, nil
}

func (s *SQLiteStore) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries
			WHERE status <> 'pending' AND completed_at < ?`, before.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return n, nil
}
