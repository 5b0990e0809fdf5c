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
	log := newLogger(cfg)
	srv, err := server.New(cfg, log, os.Stdout)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx)
}

func newLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
