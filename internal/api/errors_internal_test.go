package api

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

// Finding 11: a request whose client went away (git killed with it, as a
// cancelled blame of a huge file is) is not answered or logged as a
// server error.
func TestWriteError_clientGone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/api/v1/repos/blame", nil).WithContext(ctx)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	killed := &git.CommandError{Args: []string{"blame"}, ExitCode: -1, Err: errors.New("signal: killed")}
	for _, write := range []func(*httptest.ResponseRecorder){
		func(w *httptest.ResponseRecorder) { writeError(w, r, log, killed) },
		func(w *httptest.ResponseRecorder) { writeRefError(w, r, log, killed) },
	} {
		w := httptest.NewRecorder()
		write(w)
		if w.Code >= 500 {
			t.Errorf("status %d for a cancelled request", w.Code)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("cancelled request logged at ERROR:\n%s", logs.String())
	}
}
