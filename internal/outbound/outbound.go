// Package outbound owns the HTTP client Strata uses for targets a tenant
// chooses (webhook receivers today, upstream hosts tomorrow): an SSRF
// surface, since a tenant who names the host could otherwise make the
// server talk to its own loopback, the cloud metadata service or the
// private network behind it.
//
// The policy is checked on the address actually dialled, in the dialer's
// Control hook, after DNS resolution: a name that resolves to a refused
// address (or re-resolves to one later, DNS rebinding) is refused on
// every connection, and so is every redirect hop. Proxies from the
// environment are ignored, as a proxy would dial on Strata's behalf. By
// default loopback, private (RFC 1918, fc00::/7), link-local (169.254/16,
// the metadata address included, fe80::/10), unspecified, multicast,
// shared (CGNAT 100.64/10), documentation, benchmarking and reserved
// addresses are refused, and only https:// is accepted. AllowPrivate lifts
// both rules (an operator whose receivers live on the internal network, or
// a test on loopback).
//
// Every request has a timeout covering the whole exchange, body included,
// and a response body cut off at a size limit.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"syscall"
	"time"
)

// ErrRefused wraps every refusal of a target by the policy: a scheme, an
// address or a redirect. Match with errors.Is.
var ErrRefused = errors.New("outbound target refused")

// RefusedError is a target the policy refuses.
type RefusedError struct {
	Target string // the host, URL or address refused
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outbound target %s refused: %s", e.Target, e.Reason)
}

func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// ErrTooLarge is what reading a response body past MaxResponseBytes
// returns.
var ErrTooLarge = errors.New("outbound response body too large")

// Options configure a Client; the zero value is the safe default.
type Options struct {
	// AllowPrivate permits plain http:// and every address the policy
	// would refuse.
	AllowPrivate bool
	// AllowNets are networks permitted despite the policy, for an operator
	// who trusts one internal range but not the rest.
	AllowNets []netip.Prefix
	// RootCAs verify servers' certificates; nil: the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds one request, body included; 0: 10 s.
	Timeout time.Duration
	// MaxResponseBytes caps a response body; 0: 1 MiB.
	MaxResponseBytes int64
	// MaxRedirects is how many redirects Do follows, each re-checked; 0
	// follows none and returns the 3xx response itself.
	MaxRedirects int
	// UserAgent is sent unless a request sets its own.
	UserAgent string
}

// Client sends requests under the policy. It is safe for concurrent use.
type Client struct {
	opts Options
	tr   *http.Transport
	http *http.Client
}

// New returns a Client; call Close when done with it.
func New(opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 1 << 20
	}
	c := &Client{opts: opts}
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second, Control: c.control}
	c.tr = &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, unchecked
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	c.http = &http.Client{Transport: c.tr, CheckRedirect: c.checkRedirect}
	return c
}

// Close drops idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// AllowsPrivate reports whether the policy is lifted.
func (c *Client) AllowsPrivate() bool { return c.opts.AllowPrivate }

// Do sends req with the Client's timeout and returns the response with its
// body limited to MaxResponseBytes; closing the body ends the timeout.
// Refusals wrap ErrRefused.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if err := c.checkScheme(req.URL); err != nil {
		return nil, err
	}
	if c.opts.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.opts.UserAgent)
	}
	ctx, cancel := context.WithTimeout(req.Context(), c.opts.Timeout)
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		// The client wraps the dialer's refusal in *url.Error and
		// *net.OpError; keep it matchable, drop the noise.
		var refused *RefusedError
		if errors.As(err, &refused) {
			return nil, refused
		}
		return nil, err
	}
	resp.Body = &limitedBody{r: resp.Body, left: c.opts.MaxResponseBytes, ctx: ctx, cancel: cancel}
	return resp, nil
}

// CheckURL validates a target before it is stored: an absolute http(s)
// URL without credentials, https unless AllowPrivate, whose host (an IP
// literal, or every address its name resolves to) the policy permits. It
// resolves the name now; Do checks again on every connection.
func (c *Client) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, &RefusedError{Target: "URL", Reason: "not an absolute http(s) URL"}
	}
	if u.User != nil {
		return nil, &RefusedError{Target: u.Redacted(), Reason: "credentials in the URL are not accepted"}
	}
	if err := c.checkScheme(u); err != nil {
		return nil, err
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		if err := c.checkAddr(host, addr); err != nil {
			return nil, err
		}
		return u, nil
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, &RefusedError{Target: host, Reason: "the host name does not resolve"}
	}
	for _, a := range addrs {
		if err := c.checkAddr(host, a); err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (c *Client) checkScheme(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && c.opts.AllowPrivate:
		return nil
	case u.Scheme == "http":
		return &RefusedError{Target: u.Redacted(), Reason: "plain http:// is not allowed (https only)"}
	}
	return &RefusedError{Target: u.Redacted(), Reason: "the scheme must be https"}
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.opts.MaxRedirects {
		if c.opts.MaxRedirects == 0 {
			return http.ErrUseLastResponse
		}
		return fmt.Errorf("stopped after %d redirects", c.opts.MaxRedirects)
	}
	// The address of the next hop is checked when it is dialled.
	return c.checkScheme(req.URL)
}

// control runs after resolution, before each connect: address is the IP
// and port about to be dialled.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Target: address, Reason: "unparsable address"}
	}
	return c.checkAddr(address, ap.Addr())
}

func (c *Client) checkAddr(target string, a netip.Addr) error {
	if c.opts.AllowPrivate {
		return nil
	}
	a = a.Unmap().WithZone("")
	for _, p := range c.opts.AllowNets {
		if p.Contains(a) {
			return nil
		}
	}
	if reason := Refused(a); reason != "" {
		return &RefusedError{Target: target, Reason: "resolves to a " + reason + " address (" + a.String() + ")"}
	}
	return nil
}

// Refused returns why the default policy refuses a, or "" when it is a
// public unicast address.
func Refused(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, r := range reserved {
		if r.p.Contains(a) {
			// Transition prefixes embed an IPv4 address: judge that one.
			if r.embedsV4 {
				if v4 := embeddedV4(a, r.p); v4.IsValid() {
					return Refused(v4)
				}
			}
			return r.why
		}
	}
	return ""
}

type reservedNet struct {
	p        netip.Prefix
	why      string
	embedsV4 bool
}

// reserved are the special-purpose ranges (IANA registries) that netip has
// no predicate for.
var reserved = []reservedNet{
	{p: netip.MustParsePrefix("0.0.0.0/8"), why: "this-network"},
	{p: netip.MustParsePrefix("100.64.0.0/10"), why: "shared (CGNAT)"},
	{p: netip.MustParsePrefix("192.0.0.0/24"), why: "IETF protocol"},
	{p: netip.MustParsePrefix("192.0.2.0/24"), why: "documentation"},
	{p: netip.MustParsePrefix("198.18.0.0/15"), why: "benchmarking"},
	{p: netip.MustParsePrefix("198.51.100.0/24"), why: "documentation"},
	{p: netip.MustParsePrefix("203.0.113.0/24"), why: "documentation"},
	{p: netip.MustParsePrefix("240.0.0.0/4"), why: "reserved"}, // and 255.255.255.255
	{p: netip.MustParsePrefix("64:ff9b::/96"), why: "NAT64", embedsV4: true},
	{p: netip.MustParsePrefix("64:ff9b:1::/48"), why: "NAT64 (local)"},
	{p: netip.MustParsePrefix("100::/64"), why: "discard"},
	{p: netip.MustParsePrefix("2001::/23"), why: "IETF protocol"}, // Teredo and friends
	{p: netip.MustParsePrefix("2001:db8::/32"), why: "documentation"},
	{p: netip.MustParsePrefix("2002::/16"), why: "6to4", embedsV4: true},
	{p: netip.MustParsePrefix("fec0::/10"), why: "site-local"},
}

// embeddedV4 extracts the IPv4 address a transition prefix carries: the
// last 32 bits of NAT64's /96, bits 16–48 of 6to4's 2002::/16.
func embeddedV4(a netip.Addr, p netip.Prefix) netip.Addr {
	b := a.As16()
	if p.Bits() == 16 {
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
}

// limitedBody ends a response body at a limit with ErrTooLarge, and
// releases the request's timeout when closed.
type limitedBody struct {
	r      io.ReadCloser
	left   int64
	ctx    context.Context
	cancel context.CancelFunc
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Tell a body that ends exactly at the limit from a longer one.
		var one [1]byte
		if n, _ := b.r.Read(one[:]); n > 0 {
			return 0, ErrTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	// A stream cut off by the deadline can end in a clean EOF (HTTP/2):
	// it is a timeout all the same, not a complete body.
	if err == io.EOF && b.ctx.Err() != nil {
		err = b.ctx.Err()
	}
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.r.Close()
	b.cancel()
	return err
}

// LoadCAFile returns the system roots plus the certificates of the PEM
// file at path.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pemData, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate found", path)
	}
	return pool, nil
}
