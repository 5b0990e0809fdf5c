package git

import "strings"

// ReferenceName is a fully qualified ref name such as "refs/heads/main" or,
// in the ephemeral namespace, "refs/namespaces/ephemeral/refs/heads/main".
// A branch name is never a ReferenceName: convert through the constructors.
type ReferenceName string

// Namespace selects one of a repository's independent ref namespaces.
// Both share one object store (see spec §4.4).
type Namespace string

const (
	// NormalNamespace holds ordinary branches and tags.
	NormalNamespace Namespace = ""
	// EphemeralNamespace holds ephemeral branches. It is stored as git's own
	// GIT_NAMESPACE "ephemeral" so the git transport can serve it unchanged.
	EphemeralNamespace Namespace = "ephemeral"
)

// NamespaceFor maps the wire's ephemeral flag to a namespace.
func NamespaceFor(ephemeral bool) Namespace {
	if ephemeral {
		return EphemeralNamespace
	}
	return NormalNamespace
}

// Prefix is what the namespace puts in front of "refs/...".
func (ns Namespace) Prefix() string {
	if ns == NormalNamespace {
		return ""
	}
	return "refs/namespaces/" + string(ns) + "/"
}

// BranchPrefix is the full prefix of branch refs in the namespace.
func (ns Namespace) BranchPrefix() string { return ns.Prefix() + "refs/heads/" }

// NewBranchReferenceName returns the ref of branch in namespace ns.
func NewBranchReferenceName(ns Namespace, branch string) ReferenceName {
	return ReferenceName(ns.BranchPrefix() + branch)
}

// NewTagReferenceName returns refs/tags/<tag>.
func NewTagReferenceName(tag string) ReferenceName { return ReferenceName("refs/tags/" + tag) }

// String returns the full name.
func (r ReferenceName) String() string { return string(r) }

// Namespace reports the namespace r lives in and r as seen inside it
// (refs/namespaces/ephemeral/refs/heads/x → ephemeral, refs/heads/x).
func (r ReferenceName) Namespace() (Namespace, ReferenceName) {
	s := string(r)
	if rest, ok := strings.CutPrefix(s, "refs/namespaces/"); ok {
		if ns, inner, ok := strings.Cut(rest, "/"); ok {
			return Namespace(ns), ReferenceName(inner)
		}
	}
	return NormalNamespace, r
}

// Branch returns the short branch name if r is a branch in any namespace.
func (r ReferenceName) Branch() (string, bool) {
	_, inner := r.Namespace()
	return strings.CutPrefix(string(inner), "refs/heads/")
}
