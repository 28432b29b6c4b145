package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// openReadBackends opens the backends of READ_BACKENDS other than
// STORAGE_BACKEND, each configured by its usual variables.
func openReadBackends(ctx context.Context, cfg config.Config, d *db.DB) ([]*storage.Bucket, error) {
	var out []*storage.Bucket
	for _, name := range cfg.ReadBackends {
		if name == cfg.StorageBackend {
			continue
		}
		b, err := OpenBucket(ctx, name, cfg, d)
		if err != nil {
			closeBuckets(out)
			return nil, fmt.Errorf("app: READ_BACKENDS: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// OpenBucket opens the backend called name as cfg configures it (its
// StorageBackend is ignored); the database backend stores in d.
func OpenBucket(ctx context.Context, name string, cfg config.Config, d *db.DB) (*storage.Bucket, error) {
	cfg.StorageBackend = name
	drv, err := openBackend(ctx, cfg, d)
	if err != nil {
		return nil, err
	}
	return storage.NewBucket(name, drv), nil
}

func closeBuckets(bs []*storage.Bucket) error {
	var errs []error
	for _, b := range bs {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}
