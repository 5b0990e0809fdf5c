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
	"syscall"
	"time"
)

// installHook writes the push hooks: two-line scripts that run `<exe>
// hook proc-receive` and `<exe> hook pre-receive`. git runs hooks by path,
// so the scripts are what let the strata binary itself be the hook without
// a second executable.
func installHook(dir, exe string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install push hook: %w", err)
	}
	for _, name := range []string{"proc-receive", "pre-receive"} {
		script := "#!/bin/sh\n" +
			"# Written by strata serve. receive-pack hands every pushed ref to the\n" +
			"# proc-receive hook, which relays it to the server; pre-receive records\n" +
			"# what the push stores (docs/git-transport.md).\n" +
			"exec " + shellQuote(exe) + " hook " + name + "\n"
		if err := writeHook(filepath.Join(dir, name), script); err != nil {
			return fmt.Errorf("install push hook: %w", err)
		}
	}
	return nil
}

func writeHook(path, script string) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == script {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(script); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RunHook is `strata hook proc-receive`, which git-receive-pack(1) runs as
// its proc-receive hook during a push served by Handler, and `strata hook
// pack-objects git pack-objects …`, which git-upload-pack(1) runs instead
// of pack-objects when the pack cache is on (uploadpack.packObjectsHook).
// Both only relay: they connect to the unix socket named in their
// environment, authenticate with the per-request secret, copy stdin (and
// for pack-objects its command line first) to the server and the server's
// answer back to stdout, and the server's messages to stderr, which git
// forwards to the user. Every decision is the server's.
//
// Test binaries whose server accepts pushes or fetches must call it from
// TestMain when started as `<test binary> hook …` (see
// Config.HookExecutable).
func RunHook(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 1 && args[0] == "pre-receive":
		return preReceive(getenv, stdin, stderr)
	case len(args) == 1 && args[0] == "proc-receive":
		return relayHook(getenv, nil, false, stdin, stdout, stderr)
	case len(args) > 1 && args[0] == "pack-objects":
		// The command line upload-pack would have run goes first, as
		// pkt-lines ended by a flush; stdin follows raw.
		var head []byte
		for _, a := range args[1:] {
			if len(a) > maxPktPayload {
				return errors.New("pack-objects argument too long")
			}
			head = appendPkt(head, a)
		}
		return relayHook(getenv, append(head, "0000"...), true, stdin, stdout, stderr)
	}
	return errors.New("usage: strata hook proc-receive|pre-receive|pack-objects (run by git, not by hand)")
}

// relayHook connects to the server, sends the secret and head, then copies
// stdin to the server while it copies the server's bands out. With
// needEnd, only a flush packet ends the answer: a pack cut short by the
// server's death must fail, not pass on truncated.
func relayHook(getenv func(string) string, head []byte, needEnd bool, stdin io.Reader, stdout, stderr io.Writer) error {
	sock, secret := getenv(envHookSocket), getenv(envHookSecret)
	if sock == "" || secret == "" {
		return errors.New("not started by strata: " + envHookSocket + " and " + envHookSecret + " are unset")
	}
	conn, err := net.DialTimeout("unix", sock, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connect to the strata server: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write(append([]byte(secret+"\n"), head...)); err != nil {
		return fmt.Errorf("connect to the strata server: %w", err)
	}
	// git keeps our stdin open until it has read the whole answer (or
	// closes it once it has written everything, for pack-objects), so
	// this copy ends with the process, not before it: the process exit
	// is its join.
	go func() {
		_, _ = io.Copy(conn, stdin)
		if uc, ok := conn.(*net.UnixConn); ok {
			_ = uc.CloseWrite()
		}
	}()
	br := bufio.NewReaderSize(conn, maxPktLen)
	buf := make([]byte, maxPktPayload)
	for {
		p, err := readPkt(br, buf, nil)
		switch {
		case errors.Is(err, errFlush) && needEnd:
			return nil
		case err == io.EOF && !needEnd:
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

// preReceive is `strata hook pre-receive`. It runs while the pushed
// objects are still in receive-pack's quarantine (GIT_QUARANTINE_PATH) and
// records, in the push's manifest file, every object file there that the
// repository does not have yet, with its inode (a rename keeps it). If no
// ref update of the push is accepted, the server deletes exactly those
// files after receive-pack has moved them in (pushSession.dropObjects):
// git itself keeps the objects of a push that passed pre-receive. It
// never refuses a push; a manifest it cannot write only costs the cleanup.
func preReceive(getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	_, _ = io.Copy(io.Discard, stdin) // the commands; the server has them
	manifest, quarantine := getenv(envPushManifest), getenv("GIT_QUARANTINE_PATH")
	if manifest == "" || quarantine == "" {
		return nil
	}
	objects := filepath.Dir(quarantine)
	var b strings.Builder
	err := filepath.WalkDir(quarantine, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(quarantine, p)
		if err != nil || !objectFileName(rel) {
			return err
		}
		if _, err := os.Lstat(filepath.Join(objects, rel)); err == nil {
			return nil // the repository has it: never ours to delete
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, "%d %s\n", st.Ino, rel)
		}
		return nil
	})
	if err == nil {
		err = os.WriteFile(manifest, []byte(b.String()), 0o600)
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata: record pushed objects: %v\n", err)
	}
	return nil
}

// objectFileName reports whether rel (relative to objects/) names an
// object file a push stores: a loose object xx/yyyy… or a pack file
// pack/pack-<hex>.<ext>. Lock files (.keep) are receive-pack's to remove.
func objectFileName(rel string) bool {
	dir, name, ok := strings.Cut(filepath.ToSlash(rel), "/")
	if !ok || strings.Contains(name, "/") {
		return false
	}
	if dir == "pack" {
		base, ext, ok := strings.Cut(name, ".")
		if !ok || !strings.HasPrefix(base, "pack-") || !isHex(base[len("pack-"):]) {
			return false
		}
		switch ext {
		case "pack", "idx", "rev", "bitmap", "promisor", "mtimes":
			return true
		}
		return false
	}
	return len(dir) == 2 && isHex(dir) && len(name) >= 38 && isHex(name)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
