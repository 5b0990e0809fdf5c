package odb

import (
	"os"

	"golang.org/x/sys/unix"
)

// haveSyncFS: Linux can flush a whole filesystem's dirty data and
// metadata with one syncfs(2), durable like an fsync of every file in it.
const haveSyncFS = true

// syncFS flushes the filesystem that holds dir.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
