package app

import (
	"context"
	"fmt"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/storage/s3"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
)

// openBackend builds the storage backend that cfg.StorageBackend names. It
// is the one place where backends are chosen: an explicit switch rather
// than a registry. (It lives here, not in package storage, because every
// backend imports storage.)
func openBackend(ctx context.Context, cfg config.Config, d *db.DB) (storage.Backend, error) {
	switch cfg.StorageBackend {
	case config.BackendLocal:
		return local.New(local.Config{Root: cfg.LocalStoragePath})
	case config.BackendDatabase:
		if limit := sqlstore.MaxBlobSize(d.Dialect()); cfg.MaxBlobBytes > limit {
			return nil, fmt.Errorf("app: MAX_BLOB_BYTES is %d, above the %d bytes a blob can hold in %s with STORAGE_BACKEND=database",
				cfg.MaxBlobBytes, limit, d.Dialect())
		}
		return sqlstore.New(d), nil
	case config.BackendS3:
		return openS3(ctx, cfg.S3)
	case config.BackendFTP:
		return nil, fmt.Errorf("app: STORAGE_BACKEND=%s is not available yet in this build", cfg.StorageBackend)
	}
	return nil, fmt.Errorf("app: unknown STORAGE_BACKEND %q; valid: local, database, s3, ftp", cfg.StorageBackend)
}

// backendCheckTimeout bounds the startup check of a network backend, so a
// hung endpoint cannot stall startup.
const backendCheckTimeout = 15 * time.Second

func openS3(ctx context.Context, c config.S3) (storage.Backend, error) {
	ctx, cancel := context.WithTimeout(ctx, backendCheckTimeout)
	defer cancel()
	st, err := s3.New(ctx, s3.Config{
		Endpoint:        c.Endpoint,
		Region:          c.Region,
		Bucket:          c.Bucket,
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		SessionToken:    c.SessionToken,
		ForcePathStyle:  c.ForcePathStyle,
		Prefix:          c.Prefix,
		PartSize:        c.PartSize,
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}
