package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer serves net/http/pprof for an operator on its own loopback
// listener (config.Validate refuses anything else). It has its own mux:
// importing net/http/pprof also registers on http.DefaultServeMux, which
// Strata never serves, so the public listener cannot reach it.
type pprofServer struct {
	http     *http.Server
	listener net.Listener
	done     chan struct{} // closed when Serve returns; nil until start
}

// listenPprof binds addr; an empty addr means profiling is off (nil).
func listenPprof(addr string, log *slog.Logger) (*pprofServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &pprofServer{
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		listener: ln,
	}, nil
}

// start serves until close; nil-safe.
func (p *pprofServer) start() {
	if p == nil {
		return
	}
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		_ = p.http.Serve(p.listener)
	}()
}

// close stops serving at once (a profile in progress is cut) and waits
// for the serving goroutine; nil-safe.
func (p *pprofServer) close() {
	if p == nil {
		return
	}
	_ = p.http.Close()
	_ = p.listener.Close()
	if p.done != nil {
		<-p.done
	}
}
