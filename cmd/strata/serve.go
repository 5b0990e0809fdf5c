package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/strata-storage/strata/internal/config"
	"github.com/strata-storage/strata/internal/server"
)

func runServe(args []string) error {
	cfg := config.Default()
	if err := cfg.Load(flag.NewFlagSet("serve", flag.ContinueOnError), args, nil); err != nil {
		return err
	}
	// The access log writes a line per request: batch them, and flush on
	// the way out (after Serve, or a failed New).
	lw := server.NewLogWriter(os.Stderr)
	defer lw.Close()
	log := newLogger(cfg, lw)
	srv, err := server.New(cfg, log, os.Stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx)
}

func newLogger(cfg config.Config, lw *server.LogWriter) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(lw, opts)
	if cfg.LogJSON {
		h = slog.NewJSONHandler(lw, opts)
	}
	return slog.New(lw.Handler(h))
}
