package auth

import (
	"slices"
	"time"
)

// Scope is a permission carried in a token's scopes claim (API spec §2.2).
type Scope string

// The scopes the SDKs emit. Any other string in a token is ignored.
const (
	ScopeGitRead   Scope = "git:read"
	ScopeGitWrite  Scope = "git:write"
	ScopeRepoWrite Scope = "repo:write"
	ScopeOrgRead   Scope = "org:read"
)

// Known reports whether s is one of the scopes defined above.
func (s Scope) Known() bool {
	switch s {
	case ScopeGitRead, ScopeGitWrite, ScopeRepoWrite, ScopeOrgRead:
		return true
	}
	return false
}

// Principal is what a verified token grants. Verify returns a fresh copy on
// every call, so callers may keep or modify it without affecting others.
type Principal struct {
	Org     string    // the iss claim: the organisation whose key signed the token
	Repo    string    // the repo claim; the literal "org" for org-level tokens
	Scopes  []Scope   // known scopes only, without duplicates
	Policy  Policy    // refs claim with the legacy ops claim folded in (§3.4)
	Expires time.Time // the exp claim
}

// Has reports whether the principal holds scope s. git:write implies
// git:read ("write includes read", §2.7); no other scope implies another.
func (p *Principal) Has(s Scope) bool {
	for _, have := range p.Scopes {
		if have == s || (s == ScopeGitRead && have == ScopeGitWrite) {
			return true
		}
	}
	return false
}

// clone returns a deep copy, so a cached principal is never shared with a
// caller.
func (p *Principal) clone() *Principal {
	c := *p
	c.Scopes = slices.Clone(p.Scopes)
	c.Policy = p.Policy.clone()
	return &c
}
