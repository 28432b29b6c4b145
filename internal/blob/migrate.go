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

	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Migration copies blobs from the backends they are on to another one.
//
// It puts each blob where a create would put it now: in its record
// ([meta.InlineBackend]) when InlineMax is positive and the blob is no
// larger, else on the target. So blobs kept in their records move out to
// the target once InlineMax is lowered (or zero), and small blobs on a
// backend, the target included, move into their records once it is
// raised. With Encrypt it also stores anew, encrypted, the blobs kept in
// clear, and with Decrypt the encrypted ones in clear; an encrypted blob
// moved without either keeps its data key and stored bytes.
type Migration struct {
	// Meta holds the records of the blobs.
	Meta MigrationStore
	// Sources are the backends blobs are read from, by name, besides the
	// target.
	Sources map[string]*storage.Bucket
	// Target is where the blobs go.
	Target *storage.Bucket
	// Keys holds the master keys of encrypted blobs (ENCRYPTION_KEYS), nil
	// when none are configured; with Encrypt, blobs are encrypted under
	// its current key.
	Keys crypt.KeyProvider
	// Encrypt and Decrypt convert the blobs kept in clear, or the
	// encrypted ones, wherever they are, by the same compare-and-swap.
	Encrypt, Decrypt bool
	// DeleteGrace is how long the old bytes are kept after a blob moved,
	// so reads already streaming them finish.
	DeleteGrace time.Duration
	// Concurrency is how many blobs are copied at once (default 4).
	Concurrency int
	// Timeout bounds the work that finishes a copy once its bytes are
	// stored (the metadata switch, cleanup), whatever ctx does.
	Timeout time.Duration
	// InlineMax is INLINE_MAX_BYTES: see [Options.InlineMax].
	InlineMax int64
	// Progress, when set, is called after each blob with the totals.
	Progress func(MigrationStats)
	Log      *slog.Logger
}

// MigrationStore is what a [Migration] needs of the metadata: the records,
// and Replace, by which a blob moves into its record.
type MigrationStore interface {
	meta.RecordStore
	Replace(ctx context.Context, old, r meta.Record, notBefore time.Time) (bool, error)
}

// MigrationStats counts what a migration did.
type MigrationStats struct {
	// Scanned counts the records listed; Moved the blobs copied and
	// switched to the target (or into their records, or converted);
	// Already those where and as they belong before (on the target, or
	// in their records, encrypted or not as Encrypt and Decrypt want);
	// Changed
	// those deleted or replaced while they were copied (left alone).
	Scanned, Moved, Already, Changed int64
	// Bytes is the size of the blobs moved.
	Bytes int64
}

const migrateBatch = 500

// Run copies every blob not where it belongs (see [Migration]) there,
// verifying size, SHA-256 and CRC-32C (when recorded) while copying, then
// switches its record to the copy with [meta.RecordStore.Move] (or
// Replace, into the record), which records the old bytes as garbage, and
// goes on.
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
			if !m.needs(rec) {
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

// destination is the backend rec belongs on: [meta.InlineBackend] when
// it fits in its record, else the target.
func (m *Migration) destination(rec meta.Record) string {
	if m.InlineMax > 0 && rec.Size <= m.InlineMax {
		return meta.InlineBackend
	}
	return m.Target.Name()
}

// needs reports whether rec is to be copied.
func (m *Migration) needs(rec meta.Record) bool {
	return rec.Backend != m.destination(rec) || m.Encrypt && rec.KeyID == "" || m.Decrypt && rec.KeyID != ""
}

// reseal returns what to store for the plaintext of rec (read from
// plain), its stored size, and next with the key that seals it: none
// with Decrypt, a fresh data key with Encrypt for a blob kept in clear,
// else rec's own (dk; nil for a blob in clear), which seals the same bytes
// again, verified on the way.
func (m *Migration) reseal(rec meta.Record, dk *crypt.DataKey, plain io.Reader, next meta.Record) (io.Reader, int64, meta.Record) {
	switch {
	case m.Decrypt:
		next.KeyID, next.WrappedKey = "", ""
		return plain, rec.Size, next
	case dk == nil && m.Encrypt:
		mk := m.Keys.Current()
		var wrapped []byte
		dk, wrapped = mk.NewDataKey()
		next.KeyID, next.WrappedKey = mk.ID(), string(wrapped)
	case dk == nil:
		return plain, rec.Size, next
	}
	return dk.EncryptReader(plain), crypt.CiphertextSize(rec.Size), next
}

// move copies the bytes of rec where they belong and switches the record;
// it reports false when the record changed meanwhile (its copy is
// deleted).
func (m *Migration) move(ctx context.Context, rec meta.Record) (bool, error) {
	rc, err := m.open(ctx, rec)
	if rc == nil || err != nil {
		return false, err
	}
	defer rc.Close()
	var dk *crypt.DataKey
	var plain io.Reader = rc
	if rec.KeyID != "" {
		if dk, err = unwrap(m.Keys, rec); err != nil {
			return false, fmt.Errorf("blob: migrate %q: %w", rec.ID, err)
		}
		plain = dk.DecryptReader(rc, rec.Size)
	}
	to, key := m.destination(rec), newKey(rec.ID, nil)
	if to == meta.InlineBackend {
		key = newInlineKey()
	}
	h := NewDigest()
	next := rec
	next.Backend, next.StorageKey = to, key
	body, size, next := m.reseal(rec, dk, io.TeeReader(plain, h), next)
	var data []byte
	if to == meta.InlineBackend {
		// rec.Size is at most InlineMax, itself bounded by the
		// configuration: one more byte tells a longer source.
		data = make([]byte, size+1)
		n, err := readAll(body, data)
		if err != nil {
			return false, fmt.Errorf("blob: migrate %q: reading: %w", rec.ID, Classify(corrupt(err)))
		}
		data = data[:n]
	} else if err := m.Target.Put(ctx, key, body, size); err != nil {
		return false, fmt.Errorf("blob: migrate %q: writing: %w", rec.ID, Classify(corrupt(err)))
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.Timeout)
	defer cancel()
	drop := func() {
		if to != meta.InlineBackend {
			m.Target.Delete(dctx, key)
		}
	}
	if sum := hex.EncodeToString(h.sha.Sum(nil)); h.n != rec.Size || sum != rec.SHA256 || rec.HasCRC32C && h.crc != rec.CRC32C {
		drop()
		return false, fmt.Errorf("blob: migrate %q: %w: read %d bytes with SHA-256 %s; the record says %d bytes, %s",
			rec.ID, ErrCorrupt, h.n, sum, rec.Size, rec.SHA256)
	}
	// The bytes are stored: the switch runs to completion even if ctx ends.
	notBefore := time.Now().Add(m.DeleteGrace)
	var ok bool
	switch {
	case to == meta.InlineBackend:
		next.CRC32C, next.HasCRC32C = h.crc, true
		ok, err = m.Meta.Replace(dctx, rec, inlined(next, data), notBefore)
	case next.KeyID != rec.KeyID:
		ok, err = m.Meta.Replace(dctx, rec, next, notBefore)
	default:
		ok, err = m.Meta.Move(dctx, rec.ID, rec, to, key, notBefore)
	}
	if errors.Is(err, meta.ErrOutcomeUnknown) {
		if cur, gerr := m.Meta.Get(dctx, rec.ID); gerr == nil {
			ok, err = cur.StorageKey == key && cur.Backend == to, nil
		}
	}
	if err != nil {
		if !errors.Is(err, meta.ErrOutcomeUnknown) {
			drop()
		}
		return false, fmt.Errorf("blob: migrate %q: switching the record: %w", rec.ID, Classify(err))
	}
	if !ok {
		drop()
	}
	return ok, nil
}

// open opens the bytes of rec, wherever they are; a nil reader and no
// error mean the record changed since it was listed.
func (m *Migration) open(ctx context.Context, rec meta.Record) (io.ReadCloser, error) {
	if rec.Backend == meta.InlineBackend {
		// A listing leaves the bytes out: read them with the row again.
		cur, err := m.Meta.Get(ctx, rec.ID)
		switch {
		case errors.Is(err, meta.ErrNotFound), err == nil && cur.StorageKey != rec.StorageKey:
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("blob: migrate %q: reading: %w", rec.ID, Classify(err))
		}
		return inlineReader(cur), nil
	}
	src, ok := m.Sources[rec.Backend]
	if rec.Backend == m.Target.Name() {
		src, ok = m.Target, true // moving into its record
	}
	if !ok {
		return nil, fmt.Errorf("blob: migrate %q: it is on backend %q, which is not configured (STORAGE_BACKEND or READ_BACKENDS)", rec.ID, rec.Backend)
	}
	rc, err := src.Get(ctx, rec.StorageKey)
	if errors.Is(err, storage.ErrNotFound) {
		// Deleted (or moved by another run) since it was listed?
		if cur, gerr := m.Meta.Get(ctx, rec.ID); errors.Is(gerr, meta.ErrNotFound) || (gerr == nil && cur.StorageKey != rec.StorageKey) {
			return nil, nil
		}
		return nil, fmt.Errorf("blob: migrate %q: %w: %w", rec.ID, ErrDataMissing, err)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: migrate %q: reading: %w", rec.ID, Classify(err))
	}
	return rc, nil
}

// corrupt marks stored bytes that failed authentication as [ErrCorrupt].
func corrupt(err error) error {
	if errors.Is(err, crypt.ErrAuthentication) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}
