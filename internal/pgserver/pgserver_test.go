package pgserver

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

// TestStart_portAndRestart starts a server on a loopback port, writes a
// row, stops it, and starts it again on the same directory: no second
// initdb, the row is still there.
func TestStart_portAndRestart(t *testing.T) {
	initdb, postgres, ok := FindBinaries()
	if !ok {
		t.Skip("PostgreSQL is not installed")
	}
	dir, err := os.MkdirTemp("", "pgserver-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	opts := Options{Initdb: initdb, Postgres: postgres, Dir: dir, Port: freePort(t), Settings: []string{"fsync=off"}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, `CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)`); err != nil {
		s.Stop()
		t.Fatal(err)
	}
	s.Stop()
	select {
	case <-s.Exited():
	default:
		t.Fatal("Stop returned before postgres exited")
	}

	s, err = Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if err := s.Exec(ctx, `DO $$ BEGIN IF (SELECT x FROM kept) <> 42 THEN RAISE 'lost'; END IF; END $$`); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
