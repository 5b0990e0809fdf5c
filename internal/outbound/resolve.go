package outbound

import (
	"context"
	"net"
	"net/netip"
)

// Resolve returns an address of host (a name or an IP literal) that the
// policy permits, for a client that dials by itself — git fetching from an
// upstream — and must be pinned to a checked address. As for CheckURL,
// every address a name resolves to must be permitted.
func (c *Client) Resolve(ctx context.Context, host string) (netip.Addr, error) {
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr, c.checkAddr(host, addr)
	}
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, &RefusedError{Target: host, Reason: "the host name does not resolve"}
	}
	for _, a := range addrs {
		if err := c.checkAddr(host, a); err != nil {
			return netip.Addr{}, err
		}
	}
	return addrs[0].Unmap(), nil
}
