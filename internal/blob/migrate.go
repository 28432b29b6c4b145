package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Migration copies blobs from the backends they are on to another one.
type Migration struct {
	// Meta holds the records of the blobs.
	Meta meta.RecordStore
	// Sources are the backends blobs are read from, by name.
	Sources map[string]*storage.Bucket
	// Target is where the blobs go.
	Target *storage.Bucket
	// DeleteGrace is how long the old bytes are kept after a blob moved,
	// so reads already streaming them finish.
	DeleteGrace time.Duration
	// Concurrency is how many blobs are copied at once (default 4).
	Concurrency int
	// Timeout bounds the work that finishes a copy once its bytes are
	// stored (the metadata switch, cleanup), whatever ctx does.
	Timeout time.Duration
	// Progress, when set, is called after each blob with the totals.
	Progress func(MigrationStats)
	Log      *slog.Logger
}

// MigrationStats counts what a migration did.
type MigrationStats struct {
	// Scanned counts the records listed; Moved the blobs copied and
	// switched to the target; Already those on the target before; Changed
	// those deleted or replaced while they were copied (left alone).
	Scanned, Moved, Already, Changed int64
	// Bytes is the size of the blobs moved.
	Bytes int64
}

const migrateBatch = 500

// Run copies every blob not on the target to it, verifying size,
// SHA-256 and CRC-32C (when recorded) while copying, then switches its
// record to the copy with [meta.RecordStore.Move] (which records the old
// bytes as garbage) and goes on.
// Run is resumable: the records already switched are on the target and
// skipped, so running it again after it was stopped continues. Bytes
// copied by a run stopped before its switch are left unreferenced on the
// target (for fsck). It returns the first failure after the blobs in
// flight are done.
func (m *Migration) Run(ctx context.Context) (MigrationStats, error) {
	if m.Concurrency <= 0 {
		m.Concurrency = 4
	}
	if m.Timeout <= 0 {
		m.Timeout = 2 * time.Minute
	}
	if m.Log == nil {
		m.Log = slog.New(slog.DiscardHandler)
	}
	var (
		st       MigrationStats
		mu       sync.Mutex
		firstErr error
		failed   atomic.Bool
	)
	report := func(f func(*MigrationStats)) {
		mu.Lock()
		f(&st)
		s := st
		mu.Unlock()
		if m.Progress != nil {
			m.Progress(s)
		}
	}
	sem := make(chan struct{}, m.Concurrency)
	var wg sync.WaitGroup
	after := ""
	for !failed.Load() && ctx.Err() == nil {
		page, err := m.Meta.List(ctx, meta.ListQuery{StartAfter: after, Limit: migrateBatch})
		if err != nil {
			wg.Wait()
			return st, fmt.Errorf("blob: migrate: listing: %w", Classify(err))
		}
		for _, rec := range page {
			report(func(s *MigrationStats) { s.Scanned++ })
			if rec.Backend == m.Target.Name() {
				report(func(s *MigrationStats) { s.Already++ })
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil || failed.Load() {
				break
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				moved, err := m.move(ctx, rec)
				switch {
				case err != nil:
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					failed.Store(true)
				case moved:
					report(func(s *MigrationStats) { s.Moved++; s.Bytes += rec.Size })
				default:
					report(func(s *MigrationStats) { s.Changed++ })
				}
			}()
		}
		if len(page) < migrateBatch {
			break
		}
		after = page[len(page)-1].ID
	}
	wg.Wait()
	if firstErr != nil {
		return st, firstErr
	}
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("blob: migrate: %w", err)
	}
	return st, nil
}

// move copies the bytes of rec to the target and switches the record; it
// reports false when the record changed meanwhile (its copy is deleted).
func (m *Migration) move(ctx context.Context, rec meta.Record) (bool, error) {
	src, ok := m.Sources[rec.Backend]
	if !ok {
		return false, fmt.Errorf("blob: migrate %q: it is on backend %q, which is not configured (STORAGE_BACKEND or READ_BACKENDS)", rec.ID, rec.Backend)
	}
	rc, err := src.Get(ctx, rec.StorageKey)
	if errors.Is(err, storage.ErrNotFound) {
		// Deleted (or moved by another run) since it was listed?
		if cur, gerr := m.Meta.Get(ctx, rec.ID); errors.Is(gerr, meta.ErrNotFound) || (gerr == nil && cur.StorageKey != rec.StorageKey) {
			return false, nil
		}
		return false, fmt.Errorf("blob: migrate %q: %w: %w", rec.ID, ErrDataMissing, err)
	}
	if err != nil {
		return false, fmt.Errorf("blob: migrate %q: reading: %w", rec.ID, Classify(err))
	}
	defer rc.Close()
	key := newKey(rec.ID)
	h := NewDigest()
	if err := m.Target.Put(ctx, key, io.TeeReader(rc, h), rec.Size); err != nil {
		return false, fmt.Errorf("blob: migrate %q: writing: %w", rec.ID, Classify(err))
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.Timeout)
	defer cancel()
	if sum := hex.EncodeToString(h.sha.Sum(nil)); h.n != rec.Size || sum != rec.SHA256 || rec.HasCRC32C && h.crc != rec.CRC32C {
		m.Target.Delete(dctx, key)
		return false, fmt.Errorf("blob: migrate %q: %w: read %d bytes with SHA-256 %s; the record says %d bytes, %s",
			rec.ID, ErrCorrupt, h.n, sum, rec.Size, rec.SHA256)
	}
	// The bytes are stored: the switch runs to completion even if ctx ends.
	ok, err = m.Meta.Move(dctx, rec.ID, rec, m.Target.Name(), key, time.Now().Add(m.DeleteGrace))
	if errors.Is(err, meta.ErrOutcomeUnknown) {
		if cur, gerr := m.Meta.Get(dctx, rec.ID); gerr == nil {
			ok, err = cur.StorageKey == key && cur.Backend == m.Target.Name(), nil
		}
	}
	if err != nil {
		if !errors.Is(err, meta.ErrOutcomeUnknown) {
			m.Target.Delete(dctx, key)
		}
		return false, fmt.Errorf("blob: migrate %q: switching the record: %w", rec.ID, Classify(err))
	}
	if !ok {
		m.Target.Delete(dctx, key)
	}
	return ok, nil
}
