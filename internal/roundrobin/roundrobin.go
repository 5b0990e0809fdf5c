// Package roundrobin is the smallest load balancer the clustered mode
// (docs/scale-out.md) can be tried behind: an HTTP reverse proxy that
// sends each request to the next of a fixed list of backends in turn.
// Consecutive requests of one client, even on one keep-alive connection,
// land on different nodes, which is what a real load balancer may do and
// what the clustered mode must survive (a push's info/refs on one node,
// its receive-pack on the next).
//
// It is test and development tooling (the SDK suite's cluster run, `make
// cluster`): no health checks, no retries, no weights. A backend that is
// down answers 502 for its share of the requests.
package roundrobin

import (
	"errors"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// New returns a reverse proxy over backends (base URLs such as
// https://127.0.0.1:8443) that rotates per request. transport carries the
// requests to the backends (nil: http.DefaultTransport); give it the CA of
// HTTPS backends. errorLog receives the proxy's own errors, such as a
// backend that cannot be reached (nil: the log package's default logger).
//
// The client's Host header is kept, as load balancers usually do. Bodies
// stream both ways and responses are flushed at once (FlushInterval -1):
// git smart HTTP and NDJSON uploads and downloads are long streams, not
// documents to buffer.
func New(backends []*url.URL, transport http.RoundTripper, errorLog *log.Logger) (*httputil.ReverseProxy, error) {
	if len(backends) == 0 {
		return nil, errors.New("roundrobin: no backends")
	}
	var next atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			target := backends[(next.Add(1)-1)%uint64(len(backends))]
			r.SetURL(target)
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      errorLog,
	}, nil
}
