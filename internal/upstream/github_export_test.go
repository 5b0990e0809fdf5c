package upstream

import "time"

// SetGitHubAppClock replaces the App's clock (JWT times and token expiry),
// before first use.
func SetGitHubAppClock(a *GitHubApp, now func() time.Time) { a.now = now }
