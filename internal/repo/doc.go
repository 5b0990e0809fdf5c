// Package repo is Strata's engine: a Repo value bundles one bare repository
// on disk with the git factory, the cat-file pool, the object writer and the
// ref updater, and offers Git-shaped operations (read a blob, list a tree,
// walk history, commit file changes, fork). It knows nothing about HTTP,
// tokens or organisations: callers hand it a storage key and validated input.
package repo
