//go:build !linux

package odb

import "errors"

// haveSyncFS: without syncfs(2), every object is fsynced on its own.
const haveSyncFS = false

func syncFS(string) error { return errors.New("syncfs is not available") }
