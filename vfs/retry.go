package vfs

import (
	"errors"
	"math/rand/v2"
	"time"
)

// RetryWrite writes one file to the tip of branch, retrying when another
// writer got there first: each attempt takes the branch afresh, and a
// *StaleSnapshotError is followed by a random pause of up to 10 ms,
// doubling per attempt up to 200 ms. retries is the number of attempts
// (5 when < 1); the last attempt's error is returned.
func RetryWrite(s *Store, branch, path string, data []byte, opt WriteOptions, retries int) (*FS, error) {
	if retries < 1 {
		retries = 5
	}
	for attempt := 0; ; attempt++ {
		snap, err := s.Branches().Get(branch)
		if err != nil {
			return nil, err
		}
		out, err := snap.Write(path, data, opt)
		var stale *StaleSnapshotError
		if !errors.As(err, &stale) || attempt+1 >= retries {
			return out, err
		}
		limit := min(10*time.Millisecond<<attempt, 200*time.Millisecond)
		time.Sleep(rand.N(limit + 1))
	}
}
