package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
)

// The payloads of API.md §7.3, with the optional extras newer SDKs read
// (API-next.md): top-level org and repository.repo_name. Field order is
// fixed by the structs; the stored bytes are what is signed and sent.

type repository struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	RepoName string `json:"repo_name"`
}

func repositoryOf(id string) repository {
	// url: the repository's path, as the hosted service's docs show it.
	return repository{ID: id, URL: id, RepoName: id}
}

type pushPayload struct {
	Repository repository `json:"repository"`
	Ref        string     `json:"ref"`
	Before     string     `json:"before"`
	After      string     `json:"after"`
	CustomerID string     `json:"customer_id"`
	Org        string     `json:"org"`
	PushedAt   string     `json:"pushed_at"`
	// Ephemeral marks an update in the ephemeral namespace (sent only when
	// the server is configured to deliver those); Ref is then the name
	// inside the namespace.
	Ephemeral bool `json:"ephemeral,omitempty"`
}

// pushBody is the push payload of one ref update.
func pushBody(u events.RefUpdate) ([]byte, error) {
	return encode(pushPayload{
		Repository: repositoryOf(u.RepoID),
		Ref:        string(u.Ref),
		Before:     string(u.Before),
		After:      string(u.After),
		CustomerID: u.Org,
		Org:        u.Org,
		PushedAt:   timestamp(u.At),
		Ephemeral:  u.Namespace == git.EphemeralNamespace,
	})
}

// SyncEvent is one step of an upstream sync run (§7.3), for EnqueueSync.
type SyncEvent struct {
	Type   string // EventSyncStarted, EventSyncSucceeded or EventSyncFailed
	Org    string
	RepoID string
	// RunCount is, for started, the number of runs completed before; for
	// the others, including the run just finished.
	RunCount int64
	// IsFirstSync is true when the repository never synced successfully
	// before this run.
	IsFirstSync bool
	StartedAt   time.Time
	CompletedAt time.Time // succeeded and failed
	Error       string    // failed: a short description
}

type syncPayload struct {
	Type        string     `json:"type"`
	Repository  repository `json:"repository"`
	Org         string     `json:"org"`
	RunCount    int64      `json:"run_count"`
	IsFirstSync bool       `json:"is_first_sync"`
	StartedAt   string     `json:"started_at"`
	CompletedAt string     `json:"completed_at,omitempty"`
	Error       *string    `json:"error,omitempty"`
}

func syncBody(e SyncEvent) ([]byte, error) {
	p := syncPayload{Type: e.Type, Repository: repositoryOf(e.RepoID), Org: e.Org, RunCount: e.RunCount,
		IsFirstSync: e.IsFirstSync, StartedAt: timestamp(e.StartedAt)}
	switch e.Type {
	case EventSyncStarted:
	case EventSyncSucceeded, EventSyncFailed:
		p.CompletedAt = timestamp(e.CompletedAt)
		if e.Type == EventSyncFailed {
			msg := e.Error
			if msg == "" {
				msg = "sync failed"
			}
			p.Error = &msg
		}
	default:
		return nil, fmt.Errorf("unknown sync event type %q", e.Type)
	}
	return encode(p)
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// encode marshals v without HTML escaping and without the trailing
// newline of json.Encoder.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
