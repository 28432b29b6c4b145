// Command simpledrive runs the Simple Drive blob-storage server.
//
// It is configured entirely by environment variables (see the README);
// API_TOKEN is required. With no other settings it stores metadata in the
// SQLite file ./data/simpledrive.db and blobs under ./data/blobs, and listens
// on :8080. SIGINT or SIGTERM shut it down gracefully; with TLS_CERT_FILE
// and TLS_KEY_FILE set, SIGHUP reloads the certificate (see app.App.Serve).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
)

func main() {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "simpledrive: invalid configuration:\n%v\n", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("simpledrive stopped", "error", err.Error())
		os.Exit(1)
	}
}
