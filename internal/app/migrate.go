package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// NewMigration wires a migration of the blobs of cfg's deployment: its
// metadata database, its backends (STORAGE_BACKEND and READ_BACKENDS) as
// sources, and the backend target configures (see [config.LoadBackend]) as
// the target; the database backend stores in the same database. The
// master keys of encryption at rest are cfg's. The returned function
// releases them all.
func NewMigration(ctx context.Context, cfg, target config.Config, log *slog.Logger) (*blob.Migration, func() error, error) {
	d, err := db.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	var buckets []*storage.Bucket
	closeAll := func() error { return errors.Join(closeBuckets(buckets), d.Close()) }
	sources := map[string]*storage.Bucket{}
	for _, name := range append([]string{cfg.StorageBackend}, cfg.ReadBackends...) {
		if _, ok := sources[name]; ok || name == target.StorageBackend {
			continue
		}
		b, err := OpenBucket(ctx, name, cfg, d)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("app: source backend %s: %w", name, err)
		}
		buckets = append(buckets, b)
		sources[name] = b
	}
	t, err := OpenBucket(ctx, target.StorageBackend, target, d)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("app: target backend %s: %w", target.StorageBackend, err)
	}
	buckets = append(buckets, t)
	store := sqlmeta.New(d)
	var keys crypt.KeyProvider
	if cfg.EncryptionKeys != nil {
		keys = cfg.EncryptionKeys
	}
	if err := checkKeys(ctx, store, keys); err != nil {
		closeAll()
		return nil, nil, err
	}
	m := &blob.Migration{
		Meta:        store,
		Keys:        keys,
		Sources:     sources,
		Target:      t,
		DeleteGrace: cfg.DeleteGrace,
		Timeout:     cfg.RequestTimeout,
		InlineMax:   cfg.InlineMaxBytes,
		Log:         log,
	}
	return m, closeAll, nil
}
