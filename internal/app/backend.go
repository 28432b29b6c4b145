package app

import (
	"context"
	"fmt"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/ftp"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/storage/s3"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
)

// openBackend builds the storage backend that cfg.StorageBackend names. It
// is the one place where backends are chosen: an explicit switch rather
// than a registry. (It lives here, not in package storage, because every
// backend imports storage.)
func openBackend(ctx context.Context, cfg config.Config, d *db.DB) (storage.Driver, error) {
	switch cfg.StorageBackend {
	case config.BackendLocal:
		st, err := local.New(local.Config{Root: cfg.LocalStoragePath})
		if err != nil {
			return nil, err // not st: a nil *Store would be a non-nil Backend
		}
		return st, nil
	case config.BackendDatabase:
		return sqlstore.New(d), nil
	case config.BackendS3:
		return openS3(ctx, cfg.S3)
	case config.BackendFTP:
		return openFTP(ctx, cfg.FTP)
	}
	return nil, fmt.Errorf("app: unknown STORAGE_BACKEND %q; valid: local, database, s3, ftp", cfg.StorageBackend)
}

// backendCheckTimeout bounds the startup check of a network backend, so a
// hung endpoint cannot stall startup.
const backendCheckTimeout = 15 * time.Second

func openS3(ctx context.Context, c s3.Config) (storage.Driver, error) {
	ctx, cancel := context.WithTimeout(ctx, backendCheckTimeout)
	defer cancel()
	st, err := s3.New(ctx, c)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func openFTP(ctx context.Context, c ftp.Config) (storage.Driver, error) {
	ctx, cancel := context.WithTimeout(ctx, backendCheckTimeout)
	defer cancel()
	st, err := ftp.New(ctx, c)
	if err != nil {
		return nil, err
	}
	return st, nil
}
