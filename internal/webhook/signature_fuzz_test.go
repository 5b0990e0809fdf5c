package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/strata-storage/strata/internal/events"
	"github.com/strata-storage/strata/internal/git"
)

var fuzzSigRE = regexp.MustCompile(`^t=(-?\d+),sha256=([0-9a-f]{64})$`)

// verify checks header as a receiver does (§7.2, the SDKs'
// validateWebhook without the age limit): parse t and the hex MAC,
// recompute HMAC-SHA256(secret, t "." body), compare in constant time.
func verify(secret, body []byte, header string) (int64, bool) {
	m := fuzzSigRE.FindStringSubmatch(header)
	if m == nil {
		return 0, false
	}
	ts, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	sum, err := hex.DecodeString(m[2])
	if err != nil {
		return 0, false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(m[1] + "."))
	mac.Write(body)
	return ts, hmac.Equal(sum, mac.Sum(nil))
}

// Sign → verify round trip with arbitrary bodies, secrets and times: the
// header has the §7.2 shape, verifies with the same secret and body and
// carries t; another body or another secret does not verify.
func FuzzSign(f *testing.F) {
	f.Add([]byte("whsec_"+"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"), []byte(`{"ref":"refs/heads/main"}`), int64(1773741600))
	f.Add([]byte(""), []byte(""), int64(0))
	f.Add([]byte("k"), []byte("a.b.c\x00\xff"), int64(-1))
	f.Add([]byte("\x00"), []byte("t=1,sha256=00"), int64(1<<62))
	f.Fuzz(func(t *testing.T, secret, body []byte, unix int64) {
		at := time.Unix(unix, 0)
		header := Sign(secret, at, body)
		ts, ok := verify(secret, body, header)
		if !ok {
			t.Fatalf("Sign(%q, %d, %q) = %q does not verify", secret, unix, body, header)
		}
		if ts != unix {
			t.Fatalf("signed t=%d, want %d", ts, unix)
		}
		if Sign(secret, at, body) != header {
			t.Fatal("Sign is not deterministic")
		}
		tampered := append(append([]byte(nil), body...), 'x')
		if _, ok := verify(secret, tampered, header); ok {
			t.Fatalf("a different body verifies: %q", tampered)
		}
		// Not a trailing NUL: HMAC pads short keys with zeros, so k and
		// k+"\x00" are the same key.
		other := append(append([]byte(nil), secret...), 'x')
		if _, ok := verify(other, body, header); ok {
			t.Fatal("a different secret verifies")
		}
		if len(body) > 0 {
			if _, ok := verify(secret, body[1:], header); ok {
				t.Fatal("a shortened body verifies")
			}
		}
	})
}

// The push and sync payloads with arbitrary names: always a JSON object
// that decodes back to what was given (strings that are not UTF-8 come
// back as valid UTF-8), with the fixed fields, and signs and verifies.
func FuzzPayloads(f *testing.F) {
	f.Add("team/app", "acme", "refs/heads/main", "0123456789012345678901234567890123456789", false, "repo.sync.failed", "upstream unreachable", int64(3))
	f.Add("", "", "", "", true, "repo.sync.started", "", int64(0))
	f.Add("a\"b<>&\u2028", "\xff\xfe", "refs/tags/\x00", "zz", true, "repo.sync.exploded", "\xed\xa0\x80", int64(-5))
	f.Fuzz(func(t *testing.T, repoID, org, ref, oid string, ephemeral bool, syncType, syncErr string, runs int64) {
		u := events.RefUpdate{Org: org, RepoID: repoID, Ref: git.ReferenceName(ref), Before: git.ObjectID(oid), After: git.ZeroOID,
			At: time.Unix(1773741600, 0)}
		if ephemeral {
			u.Namespace = git.EphemeralNamespace
		}
		body, err := pushBody(u)
		if err != nil {
			t.Fatalf("pushBody: %v", err)
		}
		var p pushPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("push body is not JSON: %v\n%s", err, body)
		}
		same := func(field, got, sent string) {
			t.Helper()
			if utf8.ValidString(sent) && got != sent {
				t.Fatalf("%s = %q, sent %q", field, got, sent)
			}
			if !utf8.ValidString(got) {
				t.Fatalf("%s = %q is not UTF-8", field, got)
			}
		}
		same("repository.id", p.Repository.ID, repoID)
		same("repository.repo_name", p.Repository.RepoName, repoID)
		same("org", p.Org, org)
		same("customer_id", p.CustomerID, org)
		same("ref", p.Ref, ref)
		same("before", p.Before, oid)
		if p.After != string(git.ZeroOID) || p.PushedAt != "2026-03-17T10:00:00Z" || p.Ephemeral != ephemeral {
			t.Fatalf("push body %s", body)
		}
		if _, ok := verify([]byte(org), body, Sign([]byte(org), u.At, body)); !ok {
			t.Fatal("a push body does not verify")
		}

		e := SyncEvent{Type: syncType, Org: org, RepoID: repoID, RunCount: runs, Error: syncErr,
			StartedAt: u.At, CompletedAt: u.At.Add(time.Minute)}
		sb, err := syncBody(e)
		switch syncType {
		case EventSyncStarted, EventSyncSucceeded, EventSyncFailed:
		default:
			if err == nil {
				t.Fatalf("sync event type %q accepted", syncType)
			}
			return
		}
		if err != nil {
			t.Fatalf("syncBody: %v", err)
		}
		var sp syncPayload
		if err := json.Unmarshal(sb, &sp); err != nil {
			t.Fatalf("sync body is not JSON: %v\n%s", err, sb)
		}
		same("repository.id", sp.Repository.ID, repoID)
		same("org", sp.Org, org)
		if sp.Type != syncType || sp.RunCount != runs || (syncType == EventSyncStarted) != (sp.CompletedAt == "") ||
			(syncType == EventSyncFailed) != (sp.Error != nil) {
			t.Fatalf("sync body %s for %+v", sb, e)
		}
		if syncType == EventSyncFailed && syncErr != "" {
			same("error", *sp.Error, syncErr)
		}
	})
}
