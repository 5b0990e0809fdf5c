package githttp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// pkt-line framing (gitprotocol-common(5)): four hex digits giving the
// length of the line including themselves, then the payload. "0000" is a
// flush packet. 0001 and 0002 are the delim and response-end packets of
// protocol v2, which never appear in the streams this package parses.
const (
	pktHeaderLen  = 4
	maxPktLen     = 65520
	maxPktPayload = maxPktLen - pktHeaderLen
)

// errFlush is returned by readPkt for a flush packet.
var errFlush = errors.New("flush packet")

// readPkt reads one packet into buf (which must hold maxPktPayload bytes)
// and returns its payload. raw, when not nil, receives the packet's bytes
// exactly as read.
func readPkt(r *bufio.Reader, buf []byte, raw *[]byte) ([]byte, error) {
	var hdr [pktHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if raw != nil {
		*raw = append(*raw, hdr[:]...)
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil {
		return nil, fmt.Errorf("bad pkt-line length %q", hdr[:])
	}
	switch {
	case n == 0:
		return nil, errFlush
	case n < pktHeaderLen || n > maxPktLen:
		return nil, fmt.Errorf("bad pkt-line length %d", n)
	}
	p := buf[:n-pktHeaderLen]
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if raw != nil {
		*raw = append(*raw, p...)
	}
	return p, nil
}

// appendPkt appends payload as one packet; payload must fit one packet.
func appendPkt(dst []byte, payload string) []byte {
	return append(fmt.Appendf(dst, "%04x", len(payload)+pktHeaderLen), payload...)
}
