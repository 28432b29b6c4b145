// Package app wires Simple Drive together from a [config.Config]: the
// metadata database, the storage backend, the service and the HTTP API, and
// serves it until its context ends.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// App is a wired Simple Drive: every part built once at startup and shared.
type App struct {
	cfg     config.Config
	log     *slog.Logger
	db      *db.DB
	backend *storage.Bucket
	handler http.Handler
}

// New opens the database (running migrations) and the storage backend that
// cfg names. Call Close when done.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	d, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	drv, err := openBackend(ctx, cfg, d)
	if err != nil {
		d.Close()
		return nil, err
	}
	backend := storage.NewBucket(cfg.StorageBackend, drv)
	svc := blob.New(sqlmeta.New(d), backend, blob.Options{
		Timeout:     cfg.RequestTimeout,
		DeleteGrace: cfg.DeleteGrace,
	}, log)
	api := httpapi.New(svc, httpapi.Config{
		Token:          cfg.APIToken,
		MaxBlobBytes:   cfg.MaxBlobBytes,
		MaxUploadBytes: maxUpload(cfg, d),
		RequestTimeout: cfg.RequestTimeout,
		Ping:           d.Ping,
		Logger:         log,
	})
	return &App{cfg: cfg, log: log, db: d, backend: backend, handler: api}, nil
}

// Handler returns the HTTP handler of the API.
func (a *App) Handler() http.Handler { return a.handler }

// Close releases the backend and the database.
func (a *App) Close() error {
	return errors.Join(a.backend.Close(), a.db.Close())
}

// Serve answers HTTP requests on ln until ctx ends, then shuts down
// gracefully: it stops accepting connections and waits up to the configured
// shutdown timeout for in-flight requests to finish.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.HTTP.ReadTimeout,
		WriteTimeout:      a.cfg.HTTP.WriteTimeout,
		IdleTimeout:       a.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.log.Info("serving", "addr", ln.Addr().String(), "storage_backend", a.cfg.StorageBackend, "database", string(a.db.Dialect()))

	select {
	case err := <-errc:
		return fmt.Errorf("app: serving: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down: waiting for in-flight requests", "timeout", a.cfg.HTTP.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still running must not outlive the database and
		// backend they use, which the caller closes next.
		srv.Close()
		return fmt.Errorf("app: shutdown after SHUTDOWN_TIMEOUT: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("app: serving: %w", err)
	}
	a.log.Info("stopped")
	return nil
}

// Run builds the App from cfg, listens on cfg.ListenAddr and serves until
// ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("app: LISTEN_ADDR: %w", err)
	}
	return a.Serve(ctx, ln)
}
