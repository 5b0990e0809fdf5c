package metadata

import "database/sql"

// Pools exposes the writer and reader pools to the external tests.
func Pools(s *SQLiteStore) (w, r *sql.DB) { return s.w, s.r }
