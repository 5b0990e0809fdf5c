package upstream

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"
)

// ErrTooLarge is a fetch that grew past Options.MaxBytes.
var ErrTooLarge = errors.New("the upstream sent more than the sync size limit")

// sizePoll is how often watchSize measures.
const sizePoll = 200 * time.Millisecond

// checkSize returns ErrTooLarge when the files under dir add up to more
// than limit bytes.
func checkSize(dir string, limit int64) error {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	if total > limit {
		return fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	return nil
}

// watchSize cancels ctx with checkSize's error as soon as dir grows past
// limit, so a large transfer stops early: git has no limit of its own on
// what a fetch brings. The returned func stops watching.
func watchSize(ctx context.Context, dir string, limit int64, cancel context.CancelCauseFunc) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(sizePoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := checkSize(dir, limit); err != nil {
				cancel(err)
				return
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
