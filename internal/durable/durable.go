// Package durable holds what the os package leaves to its callers for a
// change to survive a crash: a file's fsync does not persist the
// directory entry that names it.
package durable

import (
	"fmt"
	"os"
)

// SyncDir fsyncs the directory dir, so that the entries created, renamed
// or removed in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
