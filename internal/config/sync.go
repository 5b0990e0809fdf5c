package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"
)

// Sync configures upstream sync (docs/sync.md).
type Sync struct {
	// Interval, when positive, queues a sync of every linked repository
	// that often.
	Interval time.Duration
	// Timeout bounds one sync run.
	Timeout time.Duration
	// Workers is how many repositories sync at once.
	Workers int
	// MaxBytes caps what one sync may fetch.
	MaxBytes int64
	// GitHubURL is GitHub's web root: GitHub Enterprise, or a test server.
	GitHubURL string
	// GitHubAPIURL is GitHub's REST API root (GitHub Enterprise:
	// https://HOST/api/v3).
	GitHubAPIURL string
	// GitHubAppID and GitHubAppKey (a PEM file of the App's RSA private
	// key) configure the GitHub App that syncs private GitHub
	// repositories; both or neither (github.go).
	GitHubAppID  string
	GitHubAppKey string
	// MirrorRetryFor is how long a push-back that cannot reach the
	// upstream is retried; MirrorBackoff its first retry delay (doubling
	// up to an hour, jittered).
	MirrorRetryFor time.Duration
	MirrorBackoff  time.Duration
}

func defaultSync() Sync {
	return Sync{Timeout: 30 * time.Minute, Workers: 2, MaxBytes: 2 << 30, GitHubURL: "https://github.com", GitHubAPIURL: "https://api.github.com",
		MirrorRetryFor: 24 * time.Hour, MirrorBackoff: 10 * time.Second}
}

func (s *Sync) register(fs *flag.FlagSet) {
	fs.DurationVar(&s.Interval, "sync-interval", s.Interval, "queue a sync of every repository with an upstream this often; 0 = only on request")
	fs.DurationVar(&s.Timeout, "sync-timeout", s.Timeout, "longest one upstream sync may run")
	fs.IntVar(&s.Workers, "sync-workers", s.Workers, "repositories that sync at once")
	fs.Int64Var(&s.MaxBytes, "sync-max-bytes", s.MaxBytes, "most one upstream sync may fetch (bytes on disk); larger fetches are aborted")
	fs.StringVar(&s.GitHubURL, "github-url", s.GitHubURL, "GitHub's web root, for GitHub Enterprise")
	s.registerGitHub(fs)
	fs.DurationVar(&s.MirrorRetryFor, "mirror-retry-for", s.MirrorRetryFor, "how long a push-back to an unreachable upstream is retried before it is marked failed")
	fs.DurationVar(&s.MirrorBackoff, "mirror-backoff", s.MirrorBackoff, "delay before a push-back's first retry; doubles per attempt up to 1h, jittered")
}

func (s *Sync) validate() error {
	var errs []error
	if s.Interval < 0 || s.Timeout <= 0 {
		errs = append(errs, errors.New("--sync-interval must not be negative and --sync-timeout must be positive"))
	}
	if s.Workers <= 0 || s.MaxBytes <= 0 {
		errs = append(errs, errors.New("--sync-workers and --sync-max-bytes must be positive"))
	}
	if u, err := url.Parse(s.GitHubURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		errs = append(errs, fmt.Errorf("--github-url must be an http(s) URL, got %q", s.GitHubURL))
	}
	errs = append(errs, s.validateGitHub())
	if s.MirrorRetryFor <= 0 || s.MirrorBackoff <= 0 {
		errs = append(errs, errors.New("--mirror-retry-for and --mirror-backoff must be positive"))
	}
	return errors.Join(errs...)
}
