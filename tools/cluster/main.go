// Command cluster runs Strata's clustered mode (docs/scale-out.md) on
// loopback for people to try it: `make cluster`, or
//
//	go run ./tools/cluster [-addr 127.0.0.1:8080] [-nodes 3] [-dir DIR] [-- serve flags…]
//
// It starts a PostgreSQL (internal/pgserver: initdb, then postgres on a
// loopback port; as root, as the postgres user), a versitygw over a
// directory (installed with `go install` when missing), a development
// organisation key and secret key, N `strata serve` nodes built from this
// checkout, and a round-robin proxy (internal/roundrobin) in front of them
// that sends every request to the next node. It prints the URL and how to
// mint a token, then waits; Ctrl-C (or SIGTERM) stops the proxy, the
// nodes, versitygw and PostgreSQL in that order.
//
// Without -dir everything lives in a temporary directory removed at the
// end; with -dir it is kept, and the next run with the same -dir starts
// on the same database, bucket and keys.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/strata-storage/strata/internal/pgserver"
	"github.com/strata-storage/strata/internal/roundrobin"
	"github.com/strata-storage/strata/internal/versitygw"
)

// The object store's fixed development settings: loopback only, and the
// same on every run so a kept -dir's bucket stays readable.
const (
	region    = "us-east-1"
	bucket    = "strata"
	prefix    = "objects"
	accessKey = "strata"
	secretKey = "strata-dev-secret"
	org       = "dev"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("cluster: ")
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:8080", "the proxy's address")
	nodes := flag.Int("nodes", 3, "how many Strata nodes")
	dir := flag.String("dir", "", "keep everything in this directory and reuse it on the next run (default: a temporary directory removed at the end)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./tools/cluster [flags] [-- strata serve flags for every node]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *nodes < 1 {
		return errors.New("-nodes must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Take the proxy's address first: if it is busy, nothing is started.
	front, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("the proxy's address: %w (choose another with -addr)", err)
	}
	defer front.Close()

	c := &cluster{dir: *dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "strata-cluster-"); err != nil {
			return err
		}
		c.temporary = true
	} else if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	if c.dir, err = filepath.Abs(c.dir); err != nil {
		return err
	}
	// As root, postgres runs as the postgres user and must reach its
	// directory inside this one (MkdirTemp makes it 0700).
	if err := os.Chmod(c.dir, 0o755); err != nil {
		return err
	}
	defer c.stop()

	if err := c.start(ctx, *nodes, flag.Args()); err != nil {
		return err
	}

	var backends []*url.URL
	for _, n := range c.nodes {
		backends = append(backends, n.url)
	}
	proxy, err := roundrobin.New(backends, nil, log.New(os.Stderr, "proxy: ", log.LstdFlags))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 30 * time.Second, ErrorLog: proxy.ErrorLog}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(front) }()
	defer func() {
		// In-flight requests (a clone) get a moment to finish.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	c.banner("http://" + front.Addr().String())

	select {
	case <-ctx.Done():
		fmt.Println("\nstopping…")
		return nil
	case err := <-served:
		return fmt.Errorf("proxy: %w", err)
	case p := <-c.exited():
		return fmt.Errorf("%s exited (%v); the end of %s:\n%s", p.name, p.err, p.log, p.tail(30))
	}
}

// cluster is what run started, for stop.
type cluster struct {
	dir       string
	temporary bool // remove dir at the end

	strata string // the binary built from this checkout
	pg     *pgserver.Server
	dsn    string
	s3     *proc
	s3URL  string // http://127.0.0.1:port
	nodes  []*node
}

type node struct {
	*proc
	url  *url.URL
	args []string // the serve flags, for the banner
}

// start starts everything the proxy needs, in order.
func (c *cluster) start(ctx context.Context, n int, serveFlags []string) error {
	step := func(what string) { fmt.Printf("• %s\n", what) }

	step("building strata from this checkout")
	c.strata = filepath.Join(c.dir, "strata")
	gomod, err := goCommand("env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	if m := strings.TrimSpace(string(gomod)); m == "" || m == os.DevNull {
		return errors.New("run it in the Strata checkout: go run ./tools/cluster")
	}
	build := goCommand("build", "-o", c.strata, "./cmd/strata")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	build.Stdout = os.Stdout
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/strata: %w", err)
	}

	step("starting PostgreSQL")
	if err := c.startPostgres(ctx); err != nil {
		return err
	}

	step("starting versitygw (an S3-compatible object store over " + filepath.Join(c.dir, "s3") + ")")
	if err := c.startVersitygw(ctx); err != nil {
		return err
	}

	step("making the development key and secret key")
	keys := filepath.Join(c.dir, "keys")
	if _, err := os.Stat(filepath.Join(keys, org+".pem")); err != nil {
		cmd := exec.Command(c.strata, "keygen", "--out", keys, "--name", org)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("strata keygen: %w\n%s", err, out)
		}
	}
	secret := filepath.Join(c.dir, "secret.key")
	if _, err := os.Stat(secret); err != nil {
		b := make([]byte, 32)
		rand.Read(b)
		if err := os.WriteFile(secret, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return err
		}
	}

	step(fmt.Sprintf("starting %d Strata nodes", n))
	env := []string{
		"AWS_ENDPOINT_URL=" + c.s3URL,
		"AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=" + accessKey,
		"AWS_SECRET_ACCESS_KEY=" + secretKey,
	}
	for _, kv := range os.Environ() {
		// The developer's own AWS settings (a profile, AWS_ENDPOINT_URL_S3)
		// must not send the nodes elsewhere.
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node%d", i)
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		data := filepath.Join(c.dir, name)
		args := append([]string{
			"--addr", addr,
			"--data-dir", data,
			"--cache-dir", filepath.Join(data, "cache"),
			"--metadata", c.dsn,
			"--objects", "s3://" + bucket + "/" + prefix,
			"--org", org + "=" + filepath.Join(keys, org+".pem"),
			"--secret-key-file", secret,
		}, serveFlags...)
		cmd := exec.Command(c.strata, append([]string{"serve"}, args...)...)
		cmd.Env = env
		p, err := startProc(name, filepath.Join(c.dir, name+".log"), cmd, syscall.SIGTERM)
		if err != nil {
			return err
		}
		c.nodes = append(c.nodes, &node{proc: p, url: &url.URL{Scheme: "http", Host: addr}, args: args})
	}
	for _, nd := range c.nodes {
		if err := waitHealthy(ctx, nd); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) startPostgres(ctx context.Context) error {
	initdb, postgres, ok := pgserver.FindBinaries()
	if !ok {
		return errors.New("PostgreSQL is not installed: no initdb and postgres under /usr/lib/postgresql/*/bin or on PATH (Debian: apt-get install postgresql)")
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	dir := filepath.Join(c.dir, "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c.pg, err = pgserver.Start(pgserver.Options{
		Initdb: initdb, Postgres: postgres, Dir: dir, Port: port,
		Pdeathsig: syscall.SIGQUIT, // immediate shutdown
		Setpgid:   true,
	})
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	var pgErr *pgconn.PgError
	if err := c.pg.Exec(ctx, `CREATE DATABASE strata`); err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database: a kept -dir
		return fmt.Errorf("PostgreSQL: create database: %w", err)
	}
	c.dsn = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/strata?sslmode=disable", port)
	return nil
}

func (c *cluster) startVersitygw(ctx context.Context) error {
	bin, err := versitygw.Find()
	if err != nil {
		fmt.Printf("  versitygw is not installed: %s\n", versitygw.Install)
		args := strings.Fields(versitygw.Install)[1:]
		cmd := goCommand(args...)
		cmd.Stdout = os.Stdout
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", versitygw.Install, err)
		}
		if bin, err = versitygw.Find(); err != nil {
			return err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := versitygw.Config{
		Addr: addr, Region: region, Root: filepath.Join(c.dir, "s3"),
		AccessKey: accessKey, SecretKey: secretKey, Home: c.dir,
	}
	if err := os.MkdirAll(cfg.Root, 0o755); err != nil {
		return err
	}
	// SIGKILL: versitygw keeps no state but the files it has written.
	c.s3, err = startProc("versitygw", filepath.Join(c.dir, "versitygw.log"), versitygw.Command(bin, cfg), syscall.SIGKILL)
	if err != nil {
		return err
	}
	c.s3URL = "http://" + addr
	if err := versitygw.WaitHealthy(c.s3URL, c.s3.done, 30*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, c.s3.tail(20))
	}
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := versitygw.MakeBucket(bctx, cfg, bucket); err != nil {
		return fmt.Errorf("versitygw: create bucket %s: %w", bucket, err)
	}
	return nil
}

// exited delivers the first child that exits.
func (c *cluster) exited() <-chan *proc {
	ch := make(chan *proc, 1+len(c.nodes))
	for _, p := range append([]*proc{c.s3}, nodeProcs(c.nodes)...) {
		go func() {
			<-p.done
			ch <- p
		}()
	}
	return ch
}

// stop stops what start started, the nodes first (they drain their
// requests; SIGTERM is their graceful shutdown), then versitygw and
// PostgreSQL, and removes a temporary directory.
func (c *cluster) stop() {
	for _, n := range c.nodes {
		n.signal(syscall.SIGTERM)
	}
	for _, n := range c.nodes {
		n.wait(40 * time.Second)
	}
	if c.s3 != nil {
		c.s3.signal(syscall.SIGTERM)
		c.s3.wait(10 * time.Second)
	}
	if c.pg != nil {
		c.pg.Stop()
	}
	if c.temporary {
		if err := os.RemoveAll(c.dir); err != nil {
			log.Printf("remove %s: %v", c.dir, err)
		}
	} else if c.dir != "" {
		fmt.Printf("stopped; state kept in %s\n", c.dir)
		return
	}
	fmt.Println("stopped")
}

// banner tells the user where everything is and what to try.
func (c *cluster) banner(proxyURL string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nStrata cluster: %d nodes behind %s (round robin: each request goes to the next node)\n\n", len(c.nodes), proxyURL)
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "  %-10s %-24s log %s\n", n.name, n.url, n.log)
	}
	fmt.Fprintf(&b, "  %-10s %-24s log %s\n", "postgres", strings.TrimSuffix(strings.TrimPrefix(c.dsn, "postgres://postgres@"), "?sslmode=disable"), filepath.Join(c.pg.Dir, "postgres.log"))
	fmt.Fprintf(&b, "  %-10s %-24s log %s (bucket %s, key %s / %s)\n", "versitygw", c.s3URL, c.s3.log, bucket, accessKey, secretKey)
	fmt.Fprintf(&b, "\nEach node runs (with AWS_ENDPOINT_URL=%s AWS_REGION=%s AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=…):\n", c.s3URL, region)
	fmt.Fprintf(&b, "  strata serve %s\n", strings.Join(c.nodes[0].args, " "))
	key := filepath.Join(c.dir, "keys", org+".key")
	fmt.Fprintf(&b, "\nTry it:\n")
	fmt.Fprintf(&b, "  TOKEN=$(%s token --key %s --org %s --repo demo --scopes repo:write,git:read,git:write --ttl 1h)\n", c.strata, key, org)
	fmt.Fprintf(&b, "  curl -s -X POST %s/api/v1/repos -H \"Authorization: Bearer $TOKEN\" -d '{\"default_branch\":\"main\"}'\n", proxyURL)
	fmt.Fprintf(&b, "  git clone http://t:$TOKEN@%s/demo.git\n", strings.TrimPrefix(proxyURL, "http://"))
	if c.temporary {
		fmt.Fprintf(&b, "\nCtrl-C stops everything and removes %s.\n", c.dir)
	} else {
		fmt.Fprintf(&b, "\nCtrl-C stops everything; %s is kept for the next run.\n", c.dir)
	}
	fmt.Print(b.String())
}

func nodeProcs(nodes []*node) []*proc {
	var ps []*proc
	for _, n := range nodes {
		ps = append(ps, n.proc)
	}
	return ps
}

// waitHealthy polls the node's /healthz until it answers 200.
func waitHealthy(ctx context.Context, n *node) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get(n.url.String() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-n.done:
			return fmt.Errorf("%s exited (%v); the end of %s:\n%s", n.name, n.err, n.log, n.tail(30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer /healthz within a minute; the end of %s:\n%s", n.name, n.log, n.tail(30))
		}
	}
}

// goCommand is the go tool with args and its errors on our stderr.
func goCommand(args ...string) *exec.Cmd {
	gotool := "go"
	if p, err := exec.LookPath("go"); err == nil {
		gotool = p
	} else if root := os.Getenv("GOROOT"); root != "" {
		gotool = filepath.Join(root, "bin", "go")
	}
	cmd := exec.Command(gotool, args...)
	cmd.Stderr = os.Stderr
	return cmd
}

// freeAddr is a loopback address whose port was free a moment ago.
func freeAddr() (string, error) {
	port, err := freePort()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
