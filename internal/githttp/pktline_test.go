package githttp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-storage/strata/internal/git"
)

const (
	oidA = "1111111111111111111111111111111111111111"
	oidB = "2222222222222222222222222222222222222222"
)

func pkts(lines ...string) string {
	var b []byte
	for _, l := range lines {
		if l == "" {
			b = append(b, "0000"...)
			continue
		}
		b = appendPkt(b, l)
	}
	return string(b)
}

func TestReadPushCommands(t *testing.T) {
	t.Parallel()
	pack := "PACK\x00\x00\x00\x02rest of the pack"
	for _, tc := range []struct {
		desc   string
		body   string
		want   []pushCommand
		atomic bool
		err    string
	}{
		{desc: "empty body"},
		{desc: "probe", body: "0000"},
		{
			desc: "commands and pack",
			body: pkts(git.ZeroOID.String()+" "+oidA+" refs/heads/main\x00report-status side-band-64k atomic agent=git/2.39", oidA+" "+git.ZeroOID.String()+" refs/heads/old\n", "") + pack,
			want: []pushCommand{
				{Old: git.ZeroOID, New: oidA, Ref: "refs/heads/main"},
				{Old: oidA, New: git.ZeroOID, Ref: "refs/heads/old"},
			},
			atomic: true,
		},
		{
			desc: "shallow lines are skipped",
			body: pkts("shallow "+oidB, oidA+" "+oidB+" refs/heads/x\x00report-status", ""),
			want: []pushCommand{{Old: oidA, New: oidB, Ref: "refs/heads/x"}},
		},
		{desc: "push certificate", body: pkts("push-cert\x00report-status", "certificate version 0.1\n", ""), err: "push certificates"},
		{desc: "malformed", body: pkts("hello world", ""), err: "malformed command"},
		{desc: "short hex", body: pkts("123 456 refs/heads/x", ""), err: "malformed command"},
		{desc: "truncated", body: pkts(oidA + " " + oidB + " refs/heads/x")[:30], err: "unexpected EOF"},
		{desc: "no flush", body: pkts(oidA + " " + oidB + " refs/heads/x"), err: "EOF"},
		{desc: "bad length", body: "zzzz", err: "bad pkt-line length"},
		{desc: "length too small", body: "0003", err: "bad pkt-line length"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tc.body))
			req, head, err := readPushCommands(br, 1<<20)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(req.commands) != len(tc.want) || req.atomic != tc.atomic {
				t.Fatalf("got %+v, want %+v (atomic %v)", req, tc.want, tc.atomic)
			}
			for i := range tc.want {
				if req.commands[i] != tc.want[i] {
					t.Fatalf("command %d = %+v, want %+v", i, req.commands[i], tc.want[i])
				}
			}
			// What was read plus what is left is the body, byte for byte.
			rest, _ := io.ReadAll(br)
			if got := string(head) + string(rest); got != tc.body {
				t.Fatalf("body not preserved: %q", got)
			}
		})
	}
	t.Run("limit", func(t *testing.T) {
		var lines []string
		for i := 0; i < 100; i++ {
			lines = append(lines, oidA+" "+oidB+" refs/heads/x")
		}
		_, _, err := readPushCommands(bufio.NewReader(strings.NewReader(pkts(append(lines, "")...))), 1000)
		if err == nil || !strings.Contains(err.Error(), "exceeds") {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzReadPushCommands(f *testing.F) {
	f.Add(pkts(git.ZeroOID.String()+" "+oidA+" refs/heads/main\x00report-status atomic", "") + "PACK")
	f.Add("0000")
	f.Add(pkts("shallow "+oidA, "push-cert\x00x", ""))
	f.Fuzz(func(t *testing.T, body string) {
		br := bufio.NewReader(strings.NewReader(body))
		req, head, err := readPushCommands(br, 1<<16)
		if err != nil {
			return
		}
		rest, _ := io.ReadAll(br)
		if string(head)+string(rest) != body {
			t.Fatalf("body not preserved")
		}
		for _, c := range req.commands {
			if !git.IsFullHex(string(c.Old)) || !git.IsFullHex(string(c.New)) || c.Ref == "" {
				t.Fatalf("bad command %+v", c)
			}
		}
	})
}

func TestLimitedBody(t *testing.T) {
	t.Parallel()
	b := &limitedBody{r: strings.NewReader("0123456789"), n: 5, limit: 5, closer: io.NopCloser(nil)}
	got, err := io.ReadAll(b)
	var mb *http.MaxBytesError
	if !errors.As(err, &mb) || mb.Limit != 5 || string(got) != "01234" {
		t.Fatalf("got %q, %v", got, err)
	}
	b = &limitedBody{r: strings.NewReader("01234"), n: 5, limit: 5, closer: io.NopCloser(nil)}
	if got, err := io.ReadAll(b); err != nil || string(got) != "01234" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestConfigEnv(t *testing.T) {
	t.Parallel()
	got := strings.Join(configEnv("a.b", "1", "c.d", "x=y"), " ")
	want := "GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_0=a.b GIT_CONFIG_VALUE_0=1 GIT_CONFIG_KEY_1=c.d GIT_CONFIG_VALUE_1=x=y"
	if got != want {
		t.Fatalf("got %s", got)
	}
}

func TestBandWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := &bandWriter{w: &buf}
	if err := w.pkt("ok refs/heads/main"); err != nil {
		t.Fatal(err)
	}
	w.message("hello")
	br := bufio.NewReader(&buf)
	p := make([]byte, maxPktPayload)
	line, err := readPkt(br, p, nil)
	if err != nil || line[0] != bandStdout || string(line[1:]) != "0016ok refs/heads/main" {
		t.Fatalf("%q %v", line, err)
	}
	line, err = readPkt(br, p, nil)
	if err != nil || line[0] != bandStderr || string(line[1:]) != "hello\n" {
		t.Fatalf("%q %v", line, err)
	}
}
