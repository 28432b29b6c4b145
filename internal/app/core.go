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
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Core is what the server and the maintenance commands (gc, fsck) share:
// the metadata database, the storage backend and the service over them,
// wired exactly as the server wires them, without HTTP.
type Core struct {
	// DB is the open, migrated metadata database.
	DB *db.DB
	// Meta is the metadata store over DB.
	Meta *sqlmeta.Store
	// Backend is the storage backend cfg names, where new blobs go.
	Backend *storage.Bucket
	// Reads are the other backends of READ_BACKENDS, whose blobs the
	// service reads and whose garbage it collects.
	Reads []*storage.Bucket
	// Service is the blob service over Meta and Backend.
	Service *blob.Service
}

// OpenCore opens the database (running migrations) and the storage backend
// that cfg names, and builds the service over them. Call Close when done.
func OpenCore(ctx context.Context, cfg config.Config, log *slog.Logger) (*Core, error) {
	return openCore(ctx, cfg, log, nil)
}

// Observer is told of what the core's backends and service do: the
// server's metrics.
type Observer interface {
	storage.Observer
	blob.Observer
}

// openCore is [OpenCore] reporting to obs, when not nil.
func openCore(ctx context.Context, cfg config.Config, log *slog.Logger, obs Observer) (*Core, error) {
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
	reads, err := openReadBackends(ctx, cfg, d)
	if err != nil {
		backend.Close()
		d.Close()
		return nil, err
	}
	opts := blob.Options{
		Timeout:        cfg.RequestTimeout,
		DeleteGrace:    cfg.DeleteGrace,
		OrphanGrace:    cfg.GCGrace,
		ReadBackends:   reads,
		InlineMax:      cfg.InlineMaxBytes,
		ReadCacheBytes: cfg.ReadCacheBytes,
	}
	if obs != nil {
		for _, b := range append([]*storage.Bucket{backend}, reads...) {
			b.SetObserver(obs)
		}
		opts.Observer = obs
	}
	m := sqlmeta.New(d)
	if cfg.EncryptionKeys != nil {
		opts.Keys = cfg.EncryptionKeys
	}
	if err := checkKeys(ctx, m, opts.Keys); err != nil {
		closeBuckets(reads)
		backend.Close()
		d.Close()
		return nil, err
	}
	svc := blob.New(m, backend, opts, log)
	return &Core{DB: d, Meta: m, Backend: backend, Reads: reads, Service: svc}, nil
}

// checkKeys refuses to start when a record, or a part of an open upload,
// references a master key that keys (nil: none configured) does not hold:
// its bytes could not be read.
func checkKeys(ctx context.Context, m meta.RecordStore, keys crypt.KeyProvider) error {
	ids, err := m.KeyIDs(ctx)
	if err != nil {
		return fmt.Errorf("app: checking encryption keys: %w", err)
	}
	var missing []string
	for _, id := range ids {
		if keys == nil {
			missing = append(missing, id)
		} else if _, err := keys.Key(id); err != nil {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("app: stored blobs or parts of open uploads are encrypted under master keys %q, which ENCRYPTION_KEYS (or ENCRYPTION_KEYS_FILE) does not hold: "+
			"add them back (run `simpledrive rekey` to move blobs and parts to the current key before dropping one)", missing)
	}
	return nil
}

// Close releases the backends and the database.
func (c *Core) Close() error {
	return errors.Join(closeBuckets(c.Reads), c.Backend.Close(), c.DB.Close())
}
