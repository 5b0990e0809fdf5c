// Package versitygw runs versitygw (https://github.com/versity/versitygw),
// an S3-compatible server, over a directory through its posix backend: the
// object store of the clustered mode's tests (internal/s3test) and of
// `make cluster` (tools/cluster). Strata itself talks to any S3-compatible
// store through internal/objstore and never starts one.
package versitygw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Install is the command that installs the versitygw Strata is tested
// with.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// HealthPath is the path the server answers 200 on once it serves.
const HealthPath = "/health"

// Config is one server.
type Config struct {
	// Addr is the host:port to listen on.
	Addr string
	// Region is the region it claims.
	Region string
	// Root is the posix backend's directory: Root/BUCKET/KEY are the
	// objects, as plain files.
	Root string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Home is the process's HOME.
	Home string
}

// Command returns the command that serves c with the binary bin (Binary).
// It prints no line per request. Credentials go through the environment,
// not argv, and nothing else is inherited, so a VGW_* variable of the
// caller's cannot change the server. The caller sets its output and
// process attributes and starts it.
func Command(bin string, c Config) *exec.Cmd {
	cmd := exec.Command(bin,
		"--port", c.Addr,
		"--region", c.Region,
		"--health", HealthPath,
		"--quiet",
		"posix", c.Root)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.Home,
		"ROOT_ACCESS_KEY_ID=" + c.AccessKey,
		"ROOT_SECRET_ACCESS_KEY=" + c.SecretKey,
	}
	return cmd
}

// WaitHealthy polls endpoint's HealthPath (endpoint is http://host:port)
// until it answers 200, exited is closed or the timeout passes.
func WaitHealthy(endpoint string, exited <-chan struct{}, timeout time.Duration) error {
	url := endpoint + HealthPath
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return errors.New("versitygw exited before it served")
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not answer within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MakeBucket creates bucket on the server c describes through the S3 API,
// as any client would, unless it exists.
func MakeBucket(ctx context.Context, c Config, bucket string) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client, err := minio.New(c.Addr, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Region:       c.Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
	})
	if err != nil {
		return err
	}
	if ok, err := client.BucketExists(ctx, bucket); err != nil || ok {
		return err
	}
	return client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: c.Region})
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary finds versitygw: on PATH, in $GOBIN, in each $GOPATH/bin, then
// where `go env GOBIN GOPATH` says `go install` puts binaries (which also
// covers values set with `go env -w` and the default ~/go/bin). The first
// answer is kept.
func Binary() (string, error) {
	binary.once.Do(func() { binary.path, binary.err = Find() })
	return binary.path, binary.err
}

// Find is Binary without the memory: it looks again, for a caller that
// has just installed the binary.
func Find() (string, error) {
	const name = "versitygw"
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gopath := range filepath.SplitList(os.Getenv("GOPATH")) {
		if gopath != "" {
			dirs = append(dirs, filepath.Join(gopath, "bin"))
		}
	}
	if gotool, err := exec.LookPath("go"); err == nil {
		// One line per variable, an empty one for an unset GOBIN.
		out, err := exec.Command(gotool, "env", "GOBIN", "GOPATH").Output()
		if lines := strings.Split(string(out), "\n"); err == nil && len(lines) >= 2 {
			if gobin := strings.TrimSpace(lines[0]); gobin != "" {
				dirs = append(dirs, gobin)
			}
			for _, gopath := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				if gopath != "" {
					dirs = append(dirs, filepath.Join(gopath, "bin"))
				}
			}
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH, in $GOBIN or in $(go env GOPATH)/bin (looked in %s)", name, strings.Join(dedupe(dirs), ", "))
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
