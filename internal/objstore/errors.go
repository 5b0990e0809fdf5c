package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"

	"github.com/minio/minio-go/v7"
)

var (
	// ErrNotFound is a key with no object.
	ErrNotFound = errors.New("object not found")
	// ErrUnavailable is a store that could not be reached, did not answer
	// in time or answered with a server error (5xx, throttling): try again
	// later. The error wraps the cause.
	ErrUnavailable = errors.New("object store unavailable")
	// ErrAccessDenied is a store that refused the credentials or the
	// request (403): a configuration problem, not an outage.
	ErrAccessDenied = errors.New("object store access denied")
	// ErrCorrupt is data damaged on the way: an upload the store refused
	// because its checksum did not match, a download whose checksum or
	// length did not. Trying again may succeed.
	ErrCorrupt = errors.New("object data corrupted in transit")
)

// errNoBucket is a bucket that does not exist: a configuration problem,
// never ErrNotFound (a caller must not take it for missing objects).
type errNoBucket struct{ bucket string }

func (e errNoBucket) Error() string { return fmt.Sprintf("bucket %q does not exist", e.bucket) }

// classify turns a minio-go or transport error into this package's
// vocabulary: ErrNotFound, ErrAccessDenied, ErrUnavailable (wrapping the
// cause), the caller's own context error, or the error as is. parent is the
// caller's context: its cancellation is the caller's doing, a deadline of
// ours is an unavailable store.
func (b *Bucket) classify(parent context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	what := op
	if key != "" {
		what = fmt.Sprintf("%s %q", op, key)
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrAccessDenied) || errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("objstore: %s: %w", what, err)
	}
	if cerr := parent.Err(); cerr != nil {
		return fmt.Errorf("objstore: %s: %w", what, cerr)
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return fmt.Errorf("objstore: %s: %w", what, b.classifyResponse(resp))
	}
	if transient(err) {
		return fmt.Errorf("objstore: %s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("objstore: %s: %w", what, err)
}

// classifyResponse maps an S3 error response. Its Error() is the server's
// message, which names no credential.
func (b *Bucket) classifyResponse(resp minio.ErrorResponse) error {
	switch resp.Code {
	case minio.NoSuchKey, "NotFound":
		return fmt.Errorf("%w: %w", ErrNotFound, resp)
	case minio.NoSuchBucket:
		return errNoBucket{b.loc.Bucket}
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
		"InvalidToken", "AllAccessDisabled", "AccountProblem", "InvalidSecurity",
		// versitygw's answer (a 404) to an access key it does not know.
		"XAdminUserNotFound":
		return fmt.Errorf("%w (%s): %w", ErrAccessDenied, resp.Code, resp)
	case "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch":
		return fmt.Errorf("%w (%s): %w", ErrCorrupt, resp.Code, resp)
	case "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling":
		return fmt.Errorf("%w (%s): %w", ErrUnavailable, resp.Code, resp)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && resp.Code == "":
		// A HEAD answer has no body to name what is missing.
		return fmt.Errorf("%w: %w", ErrNotFound, resp)
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%w (%d): %w", ErrAccessDenied, resp.StatusCode, resp)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusRequestTimeout:
		return fmt.Errorf("%w (%d %s): %w", ErrUnavailable, resp.StatusCode, resp.Code, resp)
	}
	if resp.Code != "" {
		return fmt.Errorf("%s: %w", resp.Code, resp)
	}
	return resp
}

// transient reports whether err is the network's: a refused or reset
// connection, a timeout, a connection that ended mid-response.
func transient(err error) bool {
	var netErr net.Error
	var urlErr *url.Error
	var certErr *tls.CertificateVerificationError
	var authErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var tlsErr tls.RecordHeaderError
	switch {
	// A certificate the client does not trust or plain HTTP on an https
	// endpoint is a configuration problem, however often it is retried.
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &tlsErr):
		return false
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &netErr),
		errors.As(err, &urlErr):
		return true
	}
	return false
}
