package api

// Two SDK generations name the same fields differently: 1.17.1 sends
// sha, branch, target, name, expected_head_sha, ephemeral …; the newer
// SDKs send only the "standard vocabulary" (ref, source_ref,
// expected_target_sha, target_is_ephemeral …), on either route family.
// A handler declares the aliases of its fields where it decodes its
// request (queryOf, readJSON) and then reads only the standard names.
// When a client sends both, the standard name wins, an explicit false or
// "" included (API-next.md, "Server takeaways"). The commit family's
// NDJSON metadata is normalised the same way by internal/commitpack.

// alias pairs a field's standard name with its 1.17.1 name.
type alias struct{ standard, old string }

// normalise copies each old name's value to its standard name unless the
// standard name was sent: m is a query (url.Values) or a JSON object.
func normalise[T any](m map[string]T, aliases []alias) {
	for _, a := range aliases {
		if _, ok := m[a.standard]; ok {
			continue
		}
		if old, ok := m[a.old]; ok {
			m[a.standard] = old
		}
	}
}
