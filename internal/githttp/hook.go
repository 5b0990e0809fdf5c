package githttp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// installHook writes the proc-receive hook: a two-line script that runs
// `<exe> hook proc-receive`. git runs hooks by path, so the script is what
// lets the strata binary itself be the hook without a second executable.
func installHook(dir, exe string) error {
	script := "#!/bin/sh\n" +
		"# Written by strata serve. receive-pack hands every pushed ref to this\n" +
		"# hook, which relays it to the server (docs/git-transport.md).\n" +
		"exec " + shellQuote(exe) + " hook proc-receive\n"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install push hook: %w", err)
	}
	path := filepath.Join(dir, "proc-receive")
	if old, err := os.ReadFile(path); err == nil && string(old) == script {
		return nil
	}
	tmp, err := os.CreateTemp(dir, ".proc-receive-")
	if err != nil {
		return fmt.Errorf("install push hook: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(script); err != nil {
		tmp.Close()
		return fmt.Errorf("install push hook: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("install push hook: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install push hook: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install push hook: %w", err)
	}
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RunHook is `strata hook proc-receive`, which git-receive-pack(1) runs as
// its proc-receive hook during a push served by Handler. It only relays:
// it connects to the unix socket named in its environment, authenticates
// with the per-push secret, copies stdin (git's side of the proc-receive
// protocol) to the server and the server's answer back to stdout, and the
// server's messages to stderr, which receive-pack forwards to the pushing
// user. Every decision is the server's.
//
// Test binaries whose server accepts pushes must call it from TestMain
// when started as `<test binary> hook proc-receive` (see Config.HookExecutable).
func RunHook(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "proc-receive" {
		return errors.New("usage: strata hook proc-receive (run by git receive-pack, not by hand)")
	}
	sock, secret := getenv(envHookSocket), getenv(envHookSecret)
	if sock == "" || secret == "" {
		return errors.New("not started by a strata push: " + envHookSocket + " and " + envHookSecret + " are unset")
	}
	conn, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connect to the strata server: %w", err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, secret+"\n"); err != nil {
		return fmt.Errorf("connect to the strata server: %w", err)
	}
	// receive-pack keeps our stdin open until it has read the whole
	// report, so this copy ends with the process, not before it: the
	// process exit is its join.
	go func() {
		_, _ = io.Copy(conn, stdin)
		if uc, ok := conn.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
	}()
	br := bufio.NewReader(conn)
	buf := make([]byte, maxPktPayload)
	for {
		p, err := readPkt(br, buf, nil)
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("read from the strata server: %w", err)
		case len(p) == 0:
			continue
		}
		switch p[0] {
		case bandStdout:
			if _, err := stdout.Write(p[1:]); err != nil {
				return err
			}
		case bandStderr:
			_, _ = stderr.Write(p[1:])
		case bandError:
			return errors.New(string(bytes.TrimSpace(p[1:])))
		}
	}
}
