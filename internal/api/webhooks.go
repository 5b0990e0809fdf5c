package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/strata-storage/strata/internal/auth"
	"github.com/strata-storage/strata/internal/metadata"
	"github.com/strata-storage/strata/internal/webhook"
)

// Webhook subscriptions (API.md §7; docs/webhooks.md): organisation-level
// calls, so the token's repo claim is "org". Creating and deleting need
// repo:write; listing also accepts org:read. Everything is scoped to the
// token's organisation: another organisation's webhook is 404.

var errNoWebhooks = errorf(http.StatusNotImplemented, "unsupported", "webhooks are not configured on this server")

// orgRoute serves an organisation-level endpoint: a verified token whose
// repo claim is "org", holding one of scopes.
func (h *Handler) orgRoute(fn handlerFunc, scopes ...auth.Scope) http.Handler {
	return h.route(writeError, func(w http.ResponseWriter, r *http.Request) error {
		p, err := h.authenticate(r)
		if err != nil {
			return err
		}
		if p.Repo != "org" {
			return errorf(http.StatusForbidden, "forbidden", `webhooks need an organisation token (repo claim "org")`)
		}
		for _, s := range scopes {
			if p.Has(s) {
				if h.hooks == nil {
					return errNoWebhooks
				}
				return fn(w, r, &request{principal: p})
			}
		}
		return requireScope(p, scopes[0])
	})
}

func webhookJSON(wh webhook.Info) map[string]any {
	m := map[string]any{"id": wh.ID, "url": wh.URL, "events": wh.Events, "created_at": wh.CreatedAt.UTC().Format(time.RFC3339)}
	if wh.RepoID != "" {
		m["repo_id"] = wh.RepoID
	}
	return m
}

var errWebhookNotFound = errorf(http.StatusNotFound, "not_found", "webhook not found")

// POST /api/v1/webhooks {url, events, repo_id?} → 201 with the secret,
// shown this once.
func (h *Handler) createWebhook(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		URL      string   `json:"url"`
		Events   []string `json:"events"`
		RepoID   string   `json:"repo_id"`
		RepoName string   `json:"repo_name"`
	}
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	if body.RepoID != "" && body.RepoName != "" && body.RepoID != body.RepoName {
		return badRequest("repo_id and repo_name differ")
	}
	if body.RepoID == "" {
		body.RepoID = body.RepoName
	}
	info, secret, err := h.hooks.Create(r.Context(), req.principal.Org, webhook.Subscription{URL: body.URL, Events: body.Events, RepoID: body.RepoID})
	if err != nil {
		return err
	}
	resp := webhookJSON(info)
	resp["secret"] = secret
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// GET /api/v1/webhooks
func (h *Handler) listWebhooks(w http.ResponseWriter, r *http.Request, req *request) error {
	list, err := h.hooks.List(r.Context(), req.principal.Org)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, wh := range list {
		out = append(out, webhookJSON(wh))
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

// DELETE /api/v1/webhooks {id} → 204
func (h *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request, req *request) error {
	var body struct {
		ID string `json:"id"`
	}
	if err := h.readJSON(r, &body); err != nil {
		return err
	}
	if body.ID == "" {
		return badRequest("id is required")
	}
	err := h.hooks.Delete(r.Context(), req.principal.Org, body.ID)
	if errors.Is(err, metadata.ErrNotFound) {
		return errWebhookNotFound
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /api/v1/webhooks/deliveries?webhook_id=…&limit=… → the webhook's
// recent deliveries, newest first.
func (h *Handler) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, req *request) error {
	q := queryOf(r)
	id := q.str("webhook_id")
	if id == "" {
		return badRequest("webhook_id is required")
	}
	limit, err := q.limit(50, 500)
	if err != nil {
		return err
	}
	ds, err := h.hooks.Deliveries(r.Context(), req.principal.Org, id, limit)
	if errors.Is(err, metadata.ErrNotFound) {
		return errWebhookNotFound
	}
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ds))
	for _, d := range ds {
		out = append(out, map[string]any{
			"id":               d.ID,
			"webhook_id":       d.WebhookID,
			"event":            d.Event,
			"status":           string(d.Status),
			"attempts":         d.Attempts,
			"last_status_code": nullableInt(d.LastStatusCode),
			"last_error":       nullable(d.LastError),
			"created_at":       d.CreatedAt.UTC().Format(time.RFC3339Nano),
			"last_attempt_at":  nullableTime(d.LastAttemptAt),
			"next_attempt_at":  pendingTime(d),
			"completed_at":     nullableTime(d.CompletedAt),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}

func nullableInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func nullableTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// pendingTime is when a pending delivery is next attempted; null once it
// is finished.
func pendingTime(d metadata.WebhookDelivery) any {
	if d.Status != metadata.DeliveryPending {
		return nil
	}
	return nullableTime(d.NextAttemptAt)
}
