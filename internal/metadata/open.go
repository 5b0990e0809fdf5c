package metadata

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Open opens the metadata store that spec names, for the server and the
// commands that share its store (`strata org`):
//   - "" is the SQLite database in dataDir (SQLiteFileName), created if
//     need be;
//   - a postgres:// or postgresql:// URL is a PostgreSQL database shared
//     by every Strata process given the same URL (scale-out).
//
// Anything else is an error. CheckSpec tells the same without opening.
func Open(ctx context.Context, spec, dataDir string) (Store, error) {
	if err := CheckSpec(spec); err != nil {
		return nil, err
	}
	if spec == "" {
		return OpenSQLite(filepath.Join(dataDir, SQLiteFileName))
	}
	return OpenPostgres(ctx, spec)
}

// IsPostgresSpec reports whether spec names a PostgreSQL database.
func IsPostgresSpec(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// CheckSpec reports whether Open accepts spec. Its error never quotes
// spec, which may hold a password.
func CheckSpec(spec string) error {
	if spec == "" || IsPostgresSpec(spec) {
		return nil
	}
	const want = "want empty (SQLite in the data dir) or a postgres:// or postgresql:// URL"
	scheme, _, ok := strings.Cut(spec, "://")
	if !ok || !schemeRE.MatchString(scheme) {
		return fmt.Errorf("metadata store: %s, got no URL scheme", want)
	}
	return fmt.Errorf("metadata store: %s, got scheme %q", want, scheme)
}

// schemeRE is RFC 3986's scheme: quoting one reveals nothing secret.
var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
