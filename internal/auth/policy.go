package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Op is a ref-policy operation (API spec §3.3).
type Op string

// The operations a policy rule can carry. Unknown op strings in a token are
// ignored for forward compatibility (§3.1).
const (
	OpNoPush      Op = "no-push"       // deny every update of a matching ref
	OpNoForcePush Op = "no-force-push" // deny non-fast-forward updates and deletions
	OpVerifySig   Op = "verify-sig"    // new commits must be signed; checked by callers
)

// Known reports whether o is one of the operations defined above.
func (o Op) Known() bool {
	switch o {
	case OpNoPush, OpNoForcePush, OpVerifySig:
		return true
	}
	return false
}

// RawRule is one element of the refs claim as it travels on the wire: a
// two-element JSON array [pattern, [ops...]] with the pattern not yet
// normalised. Its JSON form is strict: anything but a string pattern and an
// array of strings is an error, so a malformed refs claim rejects the token.
type RawRule struct {
	Pattern string
	Ops     []Op
}

// MarshalJSON encodes the rule as [pattern, ops]; nil ops encode as [] as
// the SDKs do.
func (r RawRule) MarshalJSON() ([]byte, error) {
	ops := r.Ops
	if ops == nil {
		ops = []Op{}
	}
	return json.Marshal([2]any{r.Pattern, ops})
}

// UnmarshalJSON decodes [pattern, ops]. It rejects null, a pattern that is
// not a non-empty string, and ops that are not an array of strings. Unknown
// op strings are kept here; NewPolicy drops them.
func (r *RawRule) UnmarshalJSON(b []byte) error {
	var elems []json.RawMessage
	if firstByte(b) != '[' {
		return errors.New("ref rule is not a [pattern, ops] array")
	}
	if err := json.Unmarshal(b, &elems); err != nil {
		return fmt.Errorf("ref rule: %w", err)
	}
	if len(elems) != 2 {
		return fmt.Errorf("ref rule has %d elements, want 2", len(elems))
	}
	if firstByte(elems[0]) != '"' {
		return errors.New("ref rule pattern is not a string")
	}
	var pattern string
	if err := json.Unmarshal(elems[0], &pattern); err != nil {
		return fmt.Errorf("ref rule pattern: %w", err)
	}
	if pattern == "" {
		return errors.New("ref rule pattern is empty")
	}
	ops, err := decodeStrings(elems[1])
	if err != nil {
		return fmt.Errorf("ref rule ops: %w", err)
	}
	r.Pattern = pattern
	r.Ops = make([]Op, len(ops))
	for i, o := range ops {
		r.Ops[i] = Op(o)
	}
	return nil
}

// Rule is a policy rule with its pattern normalised (§3.2) and only known,
// distinct ops. Empty Ops is an explicit allow.
type Rule struct {
	Pattern string
	Ops     []Op
}

// Policy is an ordered list of rules; the first rule whose pattern matches a
// ref decides that ref (§3.1). The zero Policy restricts nothing.
type Policy struct {
	Rules []Rule
}

// NewPolicy normalises the refs claim and folds the legacy ops claim into
// it. Patterns: "*" and "HEAD" stay as they are, a pattern not starting
// with "refs/" is a branch shorthand and becomes "refs/heads/<pattern>".
// Unknown and repeated ops are dropped. Known legacy ops are merged (set
// union) into the first "*" rule, or appended as a trailing "*" rule when
// there is none (§3.4), so an earlier, more specific rule still shadows them.
func NewPolicy(refs []RawRule, legacyOps []Op) Policy {
	var p Policy
	if len(refs) > 0 {
		p.Rules = make([]Rule, 0, len(refs)+1)
	}
	for _, r := range refs {
		p.Rules = append(p.Rules, Rule{
			Pattern: normalizePattern(r.Pattern),
			Ops:     appendKnownOps(nil, r.Ops),
		})
	}
	legacy := appendKnownOps(nil, legacyOps)
	if len(legacy) == 0 {
		return p
	}
	for i := range p.Rules {
		if p.Rules[i].Pattern == "*" {
			p.Rules[i].Ops = appendKnownOps(p.Rules[i].Ops, legacy)
			return p
		}
	}
	p.Rules = append(p.Rules, Rule{Pattern: "*", Ops: legacy})
	return p
}

// Ops returns a copy of the ops of the first rule matching the
// fully-qualified ref, or nil when no rule matches. An empty non-nil result
// means a rule matched and explicitly allows everything.
func (p Policy) Ops(ref string) []Op {
	ops, ok := p.match(ref)
	if !ok {
		return nil
	}
	return append([]Op{}, ops...)
}

// Has reports whether the rule deciding ref carries op. Callers use it for
// OpVerifySig, which Check does not decide.
func (p Policy) Has(ref string, op Op) bool {
	ops, _ := p.match(ref)
	return slices.Contains(ops, op)
}

// UpdateKind classifies a ref update for Check.
type UpdateKind int

// Update kinds. The zero value is deliberately not a valid kind; Check treats
// any unknown kind like a non-fast-forward update (fail closed).
const (
	UpdateCreate         UpdateKind = iota + 1 // ref did not exist
	UpdateFastForward                          // new value descends from the old one
	UpdateNonFastForward                       // history rewritten (force push)
	UpdateDelete                               // ref removed
)

func (k UpdateKind) String() string {
	switch k {
	case UpdateCreate:
		return "create"
	case UpdateFastForward:
		return "fast-forward"
	case UpdateNonFastForward:
		return "non-fast-forward"
	case UpdateDelete:
		return "delete"
	}
	return fmt.Sprintf("UpdateKind(%d)", int(k))
}

// Check decides whether an update of the fully-qualified ref is allowed. It
// returns nil or a *DeniedError. no-push denies every kind; no-force-push
// denies non-fast-forward updates and deletions (spec Q5) but allows
// creation and fast-forwards.
//
// Check does not decide verify-sig: only the caller can inspect the commits
// an update introduces, so it must test Has(ref, OpVerifySig) itself.
func (p Policy) Check(ref string, kind UpdateKind) error {
	ops, _ := p.match(ref)
	if slices.Contains(ops, OpNoPush) {
		return &DeniedError{Op: OpNoPush, Ref: ref}
	}
	if slices.Contains(ops, OpNoForcePush) && kind != UpdateCreate && kind != UpdateFastForward {
		return &DeniedError{Op: OpNoForcePush, Ref: ref}
	}
	return nil
}

// DeniedError reports a ref update refused by a policy op.
type DeniedError struct {
	Op  Op
	Ref string
	// Reason, when set, says why the op denies this update (verify-sig:
	// which commit failed); it follows the fixed text.
	Reason string
}

// Error returns "denied by policy: <op> on <ref>"; clients grep for the
// "denied by policy" phrase (§3.6), so the text is part of the contract.
func (e *DeniedError) Error() string {
	msg := "denied by policy: " + string(e.Op) + " on " + e.Ref
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// match returns the ops of the first rule matching ref without copying them.
func (p Policy) match(ref string) ([]Op, bool) {
	for _, r := range p.Rules {
		if patternMatches(r.Pattern, ref) {
			return r.Ops, true
		}
	}
	return nil, false
}

func (p Policy) clone() Policy {
	if p.Rules == nil {
		return Policy{}
	}
	rules := make([]Rule, len(p.Rules))
	for i, r := range p.Rules {
		rules[i] = Rule{Pattern: r.Pattern, Ops: slices.Clone(r.Ops)}
	}
	return Policy{Rules: rules}
}

func normalizePattern(pattern string) string {
	if pattern == "*" || pattern == "HEAD" || strings.HasPrefix(pattern, "refs/") {
		return pattern
	}
	return "refs/heads/" + pattern
}

// patternMatches implements §3.2: "*" matches everything, a trailing "/*"
// is a prefix glob (nested paths included), anything else is exact.
func patternMatches(pattern, ref string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(ref, prefix)
	}
	return pattern == ref
}

// appendKnownOps appends the known ops of src that dst does not hold yet.
func appendKnownOps(dst, src []Op) []Op {
	if dst == nil {
		dst = []Op{} // a matched rule must report explicit allow, not "no rule"
	}
	for _, o := range src {
		if o.Known() && !slices.Contains(dst, o) {
			dst = append(dst, o)
		}
	}
	return dst
}

// decodeStrings decodes a JSON array of strings, rejecting null (as a whole
// or as an element) and any non-string element.
func decodeStrings(b []byte) ([]string, error) {
	if firstByte(b) != '[' {
		return nil, errors.New("not an array")
	}
	var ptrs []*string
	if err := json.Unmarshal(b, &ptrs); err != nil {
		return nil, errors.New("not an array of strings")
	}
	out := make([]string, len(ptrs))
	for i, s := range ptrs {
		if s == nil {
			return nil, errors.New("null element")
		}
		out[i] = *s
	}
	return out, nil
}

// firstByte returns the first non-whitespace byte of a JSON value, which is
// enough to tell its type apart (encoding/json happily decodes null into a
// string or slice, which would hide a malformed claim).
func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
