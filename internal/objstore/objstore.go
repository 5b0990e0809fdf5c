// Package objstore is Strata's client of S3-compatible object storage,
// where the clustered mode keeps git packs as immutable objects
// (`--objects s3://BUCKET/PREFIX`).
//
// A Bucket is opened from an s3:// URL and the standard AWS environment
// (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or
// AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_CA_BUNDLE), so any S3-compatible store works
// without Strata-specific settings. Keys are relative to the URL's prefix.
//
// Failures come in a small vocabulary: ErrNotFound for a missing key,
// ErrAccessDenied for refused credentials, ErrUnavailable (wrapping the
// cause) for a store that cannot be reached, times out or answers 5xx, so
// a transport can answer 503. A dead store is noticed within seconds:
// connecting is bounded by Timeouts.Dial, a connection on which nothing
// moves for Timeouts.Stall is dropped, metadata calls are bounded by
// Timeouts.Call, and a request is tried at most three times. Credentials
// are never logged nor put in an error.
package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"iter"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/strata-storage/strata/internal/durable"
)

// attempts is how many times minio-go sends a request that failed in a way
// worth retrying (a network error, a 5xx, throttling), with a backoff of
// at most 200 ms, 400 ms, 800 ms between them. Its default of 10 spends
// about ten seconds on a store that refuses connections. Uploads from a
// reader that cannot seek are sent once.
const attempts = 3

// listPage is the number of keys asked for per listing request (S3's
// maximum).
const listPage = 1000

// Timeouts bound the calls to the store. Zero fields take the defaults.
type Timeouts struct {
	// Dial bounds connecting (TCP, and TLS handshake on top). Default 2 s.
	Dial time.Duration
	// Stall drops a connection on which no byte is sent or received for
	// this long while a request is in flight: a store that accepted the
	// connection and hung, a transfer that stopped. Uploads and downloads
	// of any size are bounded by it rather than by a total. Default 20 s.
	Stall time.Duration
	// Call bounds a whole metadata call, retries included: Stat, Exists,
	// Delete, one page of List, the bucket check of Open. Default 15 s.
	Call time.Duration
}

// defaultTimeouts are the timeouts of a Bucket opened without WithTimeouts.
var defaultTimeouts = Timeouts{Dial: 2 * time.Second, Stall: 20 * time.Second, Call: 15 * time.Second}

// Option adjusts Open.
type Option func(*options)

type options struct {
	timeouts Timeouts
	pageSize int // keys per listing request; tests make it small
}

// WithTimeouts replaces the defaults with t's non-zero fields.
func WithTimeouts(t Timeouts) Option {
	return func(o *options) {
		if t.Dial > 0 {
			o.timeouts.Dial = t.Dial
		}
		if t.Stall > 0 {
			o.timeouts.Stall = t.Stall
		}
		if t.Call > 0 {
			o.timeouts.Call = t.Call
		}
	}
}

// Object describes a stored object.
type Object struct {
	Key      string // relative to the Bucket's prefix
	Size     int64
	Modified time.Time
}

// Bucket is a location in an object store. It is safe for concurrent use.
// Close releases its idle connections.
type Bucket struct {
	loc       Location
	endpoint  string // scheme://host, for messages; never holds credentials
	client    *minio.Client
	transport *http.Transport
	timeouts  Timeouts
	pageSize  int
}

// Open parses rawURL (see ParseURL), reads the AWS_* variables through env
// (os.Getenv in production; tests inject their own), and checks that the
// bucket exists and the credentials are accepted. When an endpoint is set
// (an S3-compatible server) requests use path-style addressing and the
// region defaults to us-east-1; without one they go to Amazon S3 with
// virtual-host addressing and, if no region is set, the bucket's own
// region as S3 reports it. http or https follows the endpoint's scheme.
//
// A store that cannot be reached makes Open fail with ErrUnavailable, so a
// caller may retry; refused credentials fail with ErrAccessDenied.
func Open(ctx context.Context, rawURL string, env func(string) string, opts ...Option) (*Bucket, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := readEnv(env)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", loc, err)
	}
	o := options{timeouts: defaultTimeouts, pageSize: listPage}
	for _, opt := range opts {
		opt(&o)
	}
	pool, err := s.rootCAs()
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", loc, err)
	}
	tr := newTransport(o.timeouts, pool)
	lookup := minio.BucketLookupAuto // virtual-host style on AWS
	if s.custom {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(s.host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.accessKey, s.secretKey, s.token),
		Secure:       s.secure,
		Transport:    tr,
		Region:       s.region,
		BucketLookup: lookup,
		// Uploads carry a CRC32C checksum in a trailer, computed while
		// streaming; the store refuses an upload whose bytes do not match.
		TrailingHeaders: true,
		MaxRetries:      attempts,
	})
	if err != nil {
		// minio.New fails only on a malformed endpoint, which names no
		// credentials.
		return nil, fmt.Errorf("object store %s: %w", loc, err)
	}
	scheme := "https"
	if !s.secure {
		scheme = "http"
	}
	b := &Bucket{loc: loc, endpoint: scheme + "://" + s.host, client: client, transport: tr, timeouts: o.timeouts, pageSize: o.pageSize}
	if err := b.check(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// newTransport is minio-go's default transport with bounded connecting
// and stalls instead of its 30 s dial and 60 s response-header timeouts.
func newTransport(t Timeouts, pool *x509.CertPool) *http.Transport {
	dialer := &net.Dialer{Timeout: t.Dial, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &stallConn{Conn: c, timeout: t.Stall}, nil
		},
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
		TLSHandshakeTimeout: t.Dial + t.Dial,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 16,
		// Shorter than Stall, so an idle connection is closed by the pool
		// before its deadline can fail it.
		IdleConnTimeout:       t.Stall / 2,
		ExpectContinueTimeout: time.Second,
		// Objects are stored as given; never decode a Content-Encoding.
		DisableCompression: true,
	}
}

// Location is where the bucket's objects are.
func (b *Bucket) Location() Location { return b.loc }

// String names the location and endpoint (no credentials).
func (b *Bucket) String() string { return b.loc.String() + " at " + b.endpoint }

// Close releases the bucket's idle connections. Calls in flight finish.
func (b *Bucket) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}

// check verifies that the bucket exists and the credentials are accepted
// with one listing request below the prefix. (HeadBucket is no help: its
// answer has no body, and versitygw answers an unknown access key with a
// bare 404 that reads as a missing bucket.)
func (b *Bucket) check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, b.timeouts.Call)
	defer cancel()
	prefix := ""
	if b.loc.Prefix != "" {
		prefix = b.loc.Prefix + "/"
	}
	fetchOwner := false
	for o := range b.client.ListObjectsIter(cctx, b.loc.Bucket, minio.ListObjectsOptions{
		Prefix: prefix, Recursive: true, MaxKeys: 1, FetchOwner: &fetchOwner,
	}) {
		if o.Err != nil {
			return b.classify(ctx, "open "+b.String(), "", o.Err)
		}
		break
	}
	return b.classify(ctx, "open "+b.String(), "", cctx.Err())
}

// Put stores the size bytes r yields under key, replacing any object there.
// The upload carries a checksum that the store verifies, so bytes damaged
// on the way are refused (ErrCorrupt); r yielding fewer or more than size
// bytes is an error and leaves no object (one stored from the first size
// bytes of a longer stream is deleted again). An r that can seek (a file) is retried on a
// transient failure and sent in parallel parts when large.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := b.loc.checkKey(key); err != nil {
		return fmt.Errorf("objstore: put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("objstore: put %q: negative size %d", key, size)
	}
	var exact *exactReader
	if s, ok := r.(io.Seeker); ok && isReaderAt(r) {
		// minio-go reads [offset, offset+size) of a seekable reader; check
		// that this is exactly what is left in it.
		left, err := remaining(s)
		if err != nil {
			return fmt.Errorf("objstore: put %q: %w", key, err)
		}
		if left != size {
			return fmt.Errorf("objstore: put %q: reader holds %d bytes, not %d", key, left, size)
		}
	} else {
		exact = &exactReader{r: r, left: size}
		r = exact
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		// A CRC32C of the whole object, computed while streaming and sent
		// in a trailer, verified by the store on upload and by Get on
		// download.
		Checksum: minio.ChecksumFullObjectCRC32C,
		// The body is not signed, so the request is the same over http
		// and https (where minio-go never signs it): the checksum guards
		// the bytes. Signed chunks with a trailing checksum
		// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, minio-go's choice
		// over http) are refused as BadDigest by versitygw 1.8.0.
		DisableContentSha256: true,
	}
	_, err := b.client.PutObject(ctx, b.loc.Bucket, b.loc.fullKey(key), r, size, opts)
	if exact != nil {
		if xerr := exact.finish(err == nil); xerr != nil {
			if err == nil {
				// The store holds the first size bytes of a longer stream.
				b.deleteQuietly(ctx, key)
			}
			return fmt.Errorf("objstore: put %q: %w", key, xerr)
		}
	}
	return b.classify(ctx, "put", key, err)
}

func (b *Bucket) deleteQuietly(ctx context.Context, key string) {
	_ = b.Delete(context.WithoutCancel(ctx), key)
}

// Get opens the object at key for reading and returns its size. When the
// store keeps a whole-object CRC32C (every object Put stores has one) the
// reader verifies it and fails at the end with ErrCorrupt if the bytes
// differ; other read errors are classified like the other calls'
// (ErrUnavailable for a connection that broke). The caller closes it. A
// missing key is ErrNotFound.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := b.loc.checkKey(key); err != nil {
		return nil, 0, fmt.Errorf("objstore: get: %w", err)
	}
	var opts minio.GetObjectOptions
	// Ask for the stored checksum; verified by objectReader.
	opts.Set("x-amz-checksum-mode", "ENABLED")
	// The answer (status and headers, retries included) must come within
	// Timeouts.Call; the body then takes as long as it takes, bounded by
	// Timeouts.Stall between bytes.
	gctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(b.timeouts.Call, func() { cancel(errNoAnswer) })
	core := minio.Core{Client: b.client}
	body, info, _, err := core.GetObject(gctx, b.loc.Bucket, b.loc.fullKey(key), opts)
	if !timer.Stop() && err == nil {
		body.Close() // the answer came as the time ran out
		err = errNoAnswer
	}
	if err != nil {
		cancel(nil)
		if errors.Is(context.Cause(gctx), errNoAnswer) && ctx.Err() == nil {
			err = fmt.Errorf("%w: no answer within %v", ErrUnavailable, b.timeouts.Call)
		}
		return nil, 0, b.classify(ctx, "get", key, err)
	}
	r := &objectReader{b: b, ctx: ctx, key: key, body: body, cancel: cancel, size: info.Size}
	if info.ChecksumCRC32C != "" && info.ChecksumMode == minio.ChecksumFullObjectMode.String() {
		want, err := base64.StdEncoding.DecodeString(info.ChecksumCRC32C)
		if err == nil && len(want) == 4 {
			r.want, r.crc = binary.BigEndian.Uint32(want), crc32.New(castagnoli)
		}
	}
	return r, info.Size, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errNoAnswer cancels a Get whose answer did not come in time.
var errNoAnswer = errors.New("no answer in time")

// objectReader classifies the read errors of an object's body and checks
// its length and, when crc is set, its CRC32C.
type objectReader struct {
	b      *Bucket
	ctx    context.Context
	key    string
	body   io.ReadCloser
	cancel context.CancelCauseFunc
	size   int64
	read   int64
	crc    hash.Hash32
	want   uint32
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	r.read += int64(n)
	if r.crc != nil {
		r.crc.Write(p[:n])
	}
	switch {
	case err == io.EOF && r.read != r.size:
		return n, fmt.Errorf("objstore: read %q: %w: %d bytes, the store announced %d", r.key, ErrCorrupt, r.read, r.size)
	case err == io.EOF && r.crc != nil && r.crc.Sum32() != r.want:
		return n, fmt.Errorf("objstore: read %q: %w: CRC32C %08x, the store holds %08x", r.key, ErrCorrupt, r.crc.Sum32(), r.want)
	case err != nil && err != io.EOF:
		err = r.b.classify(r.ctx, "read", r.key, err)
	}
	return n, err
}

func (r *objectReader) Close() error {
	err := r.body.Close()
	r.cancel(nil)
	return err
}

// Download writes the object at key to path: into a temporary file in
// path's directory (which must exist), whose size and checksum are
// verified, then fsynced and renamed into place (and the directory
// fsynced), so path is either absent, as it was, or complete. The file's
// mode is 0644.
func (b *Bucket) Download(ctx context.Context, key, path string) (err error) {
	rc, size, err := b.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, rc)
	if err != nil {
		return fmt.Errorf("objstore: download to %s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("objstore: download %q: %w: %d bytes, the store announced %d", key, ErrCorrupt, n, size)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	return durable.SyncDir(dir)
}

// Stat describes the object at key; a missing key is ErrNotFound.
func (b *Bucket) Stat(ctx context.Context, key string) (Object, error) {
	if err := b.loc.checkKey(key); err != nil {
		return Object{}, fmt.Errorf("objstore: stat: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, b.timeouts.Call)
	defer cancel()
	info, err := b.client.StatObject(cctx, b.loc.Bucket, b.loc.fullKey(key), minio.StatObjectOptions{})
	if err != nil {
		return Object{}, b.classify(ctx, "stat", key, err)
	}
	return Object{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

// Exists reports whether an object is stored at key.
func (b *Bucket) Exists(ctx context.Context, key string) (bool, error) {
	_, err := b.Stat(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete removes the object at key. Deleting a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := b.loc.checkKey(key); err != nil {
		return fmt.Errorf("objstore: delete: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, b.timeouts.Call)
	defer cancel()
	err := b.client.RemoveObject(cctx, b.loc.Bucket, b.loc.fullKey(key), minio.RemoveObjectOptions{})
	err = b.classify(ctx, "delete", key, err)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// List yields the objects whose keys (relative to the bucket's prefix)
// start with prefix, in lexical order, walking the whole tree below it.
// Each page of up to 1000 keys is one request bounded by Timeouts.Call and
// fetched before any of its objects is yielded, so a slow consumer does not
// eat into it. An error ends the sequence.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		if err := b.loc.checkListPrefix(prefix); err != nil {
			yield(Object{}, fmt.Errorf("objstore: list: %w", err))
			return
		}
		full := b.loc.fullKey(prefix)
		if prefix == "" && b.loc.Prefix != "" {
			full = b.loc.Prefix + "/"
		}
		after := ""
		for {
			page, err := b.listPage(ctx, full, after)
			if err != nil {
				yield(Object{}, b.classify(ctx, "list", prefix, err))
				return
			}
			for _, o := range page {
				key, ok := b.loc.relKey(o.Key)
				if !ok {
					continue
				}
				if !yield(Object{Key: key, Size: o.Size, Modified: o.LastModified}, nil) {
					return
				}
			}
			if len(page) < b.pageSize {
				return
			}
			after = page[len(page)-1].Key
		}
	}
}

// listPage fetches the keys after `after` (one request: the iterator is
// left after pageSize keys, before minio-go asks for the next page).
func (b *Bucket) listPage(ctx context.Context, prefix, after string) ([]minio.ObjectInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, b.timeouts.Call)
	defer cancel()
	fetchOwner := false
	var page []minio.ObjectInfo
	for o := range b.client.ListObjectsIter(cctx, b.loc.Bucket, minio.ListObjectsOptions{
		Prefix: prefix, Recursive: true, StartAfter: after, MaxKeys: b.pageSize, FetchOwner: &fetchOwner,
	}) {
		if o.Err != nil {
			return nil, o.Err
		}
		page = append(page, o)
		if len(page) == b.pageSize {
			break
		}
	}
	// The iterator stops without an error when its context ends.
	if err := cctx.Err(); err != nil && len(page) < b.pageSize {
		return nil, err
	}
	return page, nil
}
