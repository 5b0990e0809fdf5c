-- The newest event of each ref of a repository (LastRefStates, read by the
-- reconciliation after an unclean shutdown): with seq last, each
-- (namespace, ref) group's MAX(seq) is read from this index alone, without
-- touching the table.
CREATE INDEX ref_events_last ON ref_events (storage_key, namespace, ref, seq);
