package sqlmeta

import (
	"context"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// Move implements [meta.RecordStore]: one UPDATE whose WHERE clause is the
// compare (id, backend, storage_key), which also drops inline data, and
// the garbage record of the old key in the same transaction.
func (s *Store) Move(ctx context.Context, id string, from meta.Record, toBackend, toKey string, notBefore time.Time) (bool, error) {
	return s.switchBytes(ctx, "move", from, notBefore,
		`UPDATE blob_metadata SET backend = $1, storage_key = $2, data = NULL WHERE id = $3 AND backend = $4 AND storage_key = $5`,
		toBackend, toKey, id, from.Backend, from.StorageKey)
}
