package blob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// collectBatch is how many recorded keys one round of [Service.CollectGarbage]
// reads at a time.
const collectBatch = 100

// CollectGarbage deletes the bytes of deleted blobs whose grace period has
// passed at now, and forgets their keys; it returns how many it removed.
// First, when the metadata store keeps resumable uploads
// ([meta.UploadStore]), it removes the uploads expired at now, recording
// their parts as garbage due at once, so the same run deletes those too.
// Keys of another backend are left for a server of that backend. Bytes
// already gone count as removed. It stops at the first failure, which it
// returns: the keys not yet removed stay recorded for the next run.
func (s *Service) CollectGarbage(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	if us, ok := s.meta.(meta.UploadStore); ok {
		for {
			n, err := us.ExpireUploads(ctx, now, collectBatch)
			if err != nil {
				return removed, fmt.Errorf("blob: expiring uploads: %w", classify(err))
			}
			if n < collectBatch {
				break
			}
		}
	}
	for {
		due, err := s.meta.DueGarbage(ctx, s.backend.Name(), now, collectBatch)
		if err != nil {
			return removed, fmt.Errorf("blob: reading garbage: %w", classify(err))
		}
		for _, g := range due {
			if err := s.backend.Delete(ctx, g.StorageKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return removed, fmt.Errorf("blob: collecting garbage: %w", classify(err))
			}
			if err := s.meta.ForgetGarbage(ctx, g.Backend, g.StorageKey); err != nil {
				return removed, fmt.Errorf("blob: collecting garbage: %w", classify(err))
			}
			removed++
		}
		if len(due) < collectBatch {
			return removed, nil
		}
	}
}

// CollectEvery runs [Service.CollectGarbage] every interval until ctx ends,
// logging what each run removed and any failure.
func (s *Service) CollectEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n, err := s.CollectGarbage(ctx, now)
			if err != nil && ctx.Err() == nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "garbage collection failed", slog.Int("removed", n), slog.String("error", err.Error()))
			} else if n > 0 {
				s.log.LogAttrs(ctx, slog.LevelInfo, "garbage collected", slog.Int("removed", n))
			}
		}
	}
}
