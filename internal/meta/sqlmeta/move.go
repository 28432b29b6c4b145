package sqlmeta

import (
	"context"
	"fmt"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// Move implements [meta.RecordStore]: one UPDATE whose WHERE clause is the
// compare (id, backend, storage_key), and the garbage record of the old
// key in the same transaction.
func (s *Store) Move(ctx context.Context, id string, from meta.Record, toBackend, toKey string, notBefore time.Time) (bool, error) {
	tx, err := s.db.Writer().BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlmeta: move: %w", mapError(err))
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx,
		`UPDATE blob_metadata SET backend = $1, storage_key = $2 WHERE id = $3 AND backend = $4 AND storage_key = $5`,
		toBackend, toKey, id, from.Backend, from.StorageKey)
	if err != nil {
		return false, fmt.Errorf("sqlmeta: move: %w", mapError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlmeta: move: %w", mapError(err))
	}
	if n != 1 {
		return false, nil
	}
	if err := addGarbage(ctx, tx, meta.Garbage{Backend: from.Backend, StorageKey: from.StorageKey, NotBefore: notBefore}); err != nil {
		return false, fmt.Errorf("sqlmeta: move: %w", mapError(err))
	}
	if err := tx.Commit(); err != nil {
		return false, s.writeError("move", err)
	}
	return true, nil
}
