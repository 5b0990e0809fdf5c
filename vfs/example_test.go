package vfs_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/strata-storage/strata/vfs"
)

// The README's tour of the library: write, read, history, undo, a stale
// snapshot, and a sync from disk.
func Example() {
	dir, _ := os.MkdirTemp("", "vfs-example")
	defer os.RemoveAll(dir)

	store, err := vfs.Open(filepath.Join(dir, "data.git"), vfs.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	main, _ := store.Branches().Get("main")
	v1, _ := main.WriteText("notes/hello.txt", "hello\n", vfs.WriteOptions{})
	v2, _ := v1.Update(vfs.BatchOptions{}, func(b *vfs.Batch) error {
		if err := b.Write("notes/hello.txt", []byte("hello, world\n"), vfs.Blob); err != nil {
			return err
		}
		return b.Write("run.sh", []byte("#!/bin/sh\necho hi\n"), vfs.Executable)
	})
	text, _ := v2.ReadText("notes/hello.txt")
	fmt.Print(text)
	for snap, err := range v2.Log(vfs.LogOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(snap.Message())
	}

	// v1 is stale now: writing through it cannot overwrite v2.
	_, err = v1.WriteText("x.txt", "x", vfs.WriteOptions{})
	var stale *vfs.StaleSnapshotError
	fmt.Println("stale:", errors.As(err, &stale))

	back, _ := v2.Undo(1)
	text, _ = back.ReadText("notes/hello.txt")
	fmt.Print(text)

	// Mirror a directory into the branch: one commit, nothing if unchanged.
	src := filepath.Join(dir, "site")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "index.html"), []byte("<h1>hi</h1>\n"), 0o644)
	synced, err := back.SyncIn(src, "site", vfs.SyncOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(synced.Message())
	names, _ := synced.Ls("")
	fmt.Println(names)
	// Output:
	// hello, world
	// Batch: +1 ~1
	// + notes/hello.txt
	// Initialize main
	// stale: true
	// hello
	// + site/index.html
	// [notes site]
}
