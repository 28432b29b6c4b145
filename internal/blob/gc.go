package blob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// collectBatch is how many recorded keys one round of [Service.CollectGarbage]
// reads at a time.
const collectBatch = 100

// CollectGarbage deletes the bytes of deleted blobs whose grace period has
// passed at now, and forgets their keys; it returns how many it removed.
// First it removes the resumable uploads expired at now, recording their
// parts as garbage due at once, so the same run deletes those too.
// It collects in every backend the service reads; keys of another backend
// are left for a server of that backend. Bytes already gone count as
// removed. It stops at the first failure, which it returns: the keys not
// yet removed stay recorded for the next run.
func (s *Service) CollectGarbage(ctx context.Context, now time.Time) (int, error) {
	for {
		n, err := s.meta.ExpireUploads(ctx, now, collectBatch)
		if err != nil {
			return 0, fmt.Errorf("blob: expiring uploads: %w", Classify(err))
		}
		if n < collectBatch {
			break
		}
	}
	names := slices.Sorted(maps.Keys(s.buckets))
	removed := 0
	for _, name := range names {
		n, err := s.collect(ctx, s.buckets[name], now)
		removed += n
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// collect is [Service.CollectGarbage] in one backend.
func (s *Service) collect(ctx context.Context, b *storage.Bucket, now time.Time) (int, error) {
	removed := 0
	for {
		due, err := s.meta.DueGarbage(ctx, b.Name(), now, collectBatch)
		if err != nil {
			return removed, fmt.Errorf("blob: reading garbage: %w", Classify(err))
		}
		for _, g := range due {
			if err := b.Delete(ctx, g.StorageKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return removed, fmt.Errorf("blob: collecting garbage: %w", Classify(err))
			}
			if err := s.meta.ForgetGarbage(ctx, g.Backend, g.StorageKey); err != nil {
				return removed, fmt.Errorf("blob: collecting garbage: %w", Classify(err))
			}
			removed++
		}
		if len(due) < collectBatch {
			return removed, nil
		}
	}
}

// CollectEvery collects garbage every interval until ctx ends: the
// recorded keys due, then the orphans older than the OrphanGrace option
// (none when it is zero). Replicas sharing a database take turns through a
// lease in it, so one collects per interval. It logs what each run removed
// and any failure, and gives the lease up when it stops.
func (s *Service) CollectEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	holder := leaseHolder()
	defer s.releaseLease(ctx, holder)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r, collected, err := s.collectLeased(ctx, now, interval, holder)
			if err != nil && ctx.Err() == nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "garbage collection failed", slog.Int("removed", r.Garbage+r.Removed), slog.String("error", err.Error()))
			} else if collected && r.Garbage+r.Removed > 0 {
				s.log.LogAttrs(ctx, slog.LevelInfo, "garbage collected", slog.Int("removed", r.Garbage+r.Removed),
					slog.Int("garbage", r.Garbage), slog.Int("orphans", r.Removed), slog.Int64("orphan_bytes", r.RemovedBytes))
			}
		}
	}
}
