package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
)

var _ storage.Composer = (*Store)(nil)

const (
	// partQuery reads the size and chunk size of a published blob.
	partQuery = `SELECT size, chunk_size FROM blob_data_index WHERE key = $1`
	// copyChunksQuery copies the chunks $5 to $6-1 of blob $4 as the chunks
	// from $2 on of blob $1, created at $3, inside the database.
	copyChunksQuery = `INSERT INTO blob_data (key, seq, data, created_at)
SELECT $1, seq + CAST($2 AS BIGINT), data, $3 FROM blob_data WHERE key = $4 AND seq >= $5 AND seq < $6`
)

// copyBatch is the number of chunks one copy statement copies.
const copyBatch = 16

// Compose implements [storage.Composer] inside the database: when every
// part but the last is whole chunks of the Store's chunk size (the parts a
// resumable upload of whole MiBs leaves), the chunks of the parts are
// copied by INSERT ... SELECT statements as the chunks of dst, renumbered,
// copyBatch per statement, and dst is published as a Put publishes its
// blob, so no byte leaves the database and dst is invisible until whole.
// A failure deletes the chunks copied so far, as a failed Put deletes
// its own. Other parts give [errors.ErrUnsupported]: the Bucket streams
// them.
func (s *Store) Compose(ctx context.Context, dst string, parts []string, size int64) error {
	if err := storage.CheckCall(ctx, dst); err != nil {
		return err
	}
	sizes := make([]int64, len(parts))
	var total int64
	aligned := true
	for i, part := range parts {
		if err := storage.ValidateKey(part); err != nil {
			return err
		}
		var chunk int64
		if err := s.db.Reader().QueryRowContext(ctx, partQuery, part).Scan(&sizes[i], &chunk); err != nil {
			return fmt.Errorf("part %q: %w", part, mapError(err))
		}
		total += sizes[i]
		aligned = aligned && chunk == int64(s.chunk) && (i == len(parts)-1 || sizes[i]%chunk == 0)
	}
	switch {
	case total != size:
		return fmt.Errorf("%w: the parts hold %d bytes, want %d", storage.ErrSizeMismatch, total, size)
	case size > s.maxSize():
		return fmt.Errorf("size %d over %d, the most the database backend stores", size, s.maxSize())
	case !aligned:
		return fmt.Errorf("sqlstore: parts not made of whole chunks: %w", errors.ErrUnsupported)
	}
	p := &put{s: s, ctx: ctx, key: dst, at: time.Now().UTC()}
	return p.settle(p.compose(parts, sizes))
}

// compose copies the chunks of parts, whose sizes are given, as p's
// chunks, then publishes p's blob.
func (p *put) compose(parts []string, sizes []int64) error {
	chunk := int64(p.s.chunk)
	var total int64
	for i, part := range parts {
		n := int((sizes[i] + chunk - 1) / chunk)
		base := p.written
		for lo := 0; lo < n; lo += copyBatch {
			hi := min(lo+copyBatch, n)
			res, err := p.s.db.Writer().ExecContext(p.ctx, copyChunksQuery, p.key, base, p.at, part, lo, hi)
			if err == nil || p.s.db.MaybeCommitted(err) {
				p.written = base + hi
			}
			if err := cancelled(p.ctx, err); err != nil {
				return err
			}
			if copied, err := res.RowsAffected(); err != nil || copied != int64(hi-lo) {
				return fmt.Errorf("part %q: copied %d of its chunks %d-%d (%v)", part, copied, lo, hi-1, err)
			}
		}
		total += sizes[i]
	}
	return p.publish(nil, total)
}
