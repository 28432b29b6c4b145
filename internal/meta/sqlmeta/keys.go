package sqlmeta

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// keyID is the key_id column's value for r: NULL for bytes in clear.
func keyID(r meta.Record) sql.NullString {
	return sql.NullString{String: r.KeyID, Valid: r.KeyID != ""}
}

// wrappedKey is the wrapped_key column's value for r: NULL for bytes in clear.
func wrappedKey(r meta.Record) []byte {
	if r.KeyID == "" {
		return nil
	}
	return []byte(r.WrappedKey)
}

// Rewrap implements [meta.RecordStore]: one UPDATE whose WHERE clause is
// the compare (id, backend, storage_key, key_id).
func (s *Store) Rewrap(ctx context.Context, r meta.Record, toKeyID, wrapped string) (bool, error) {
	res, err := s.db.Writer().ExecContext(ctx,
		`UPDATE blob_metadata SET key_id = $1, wrapped_key = $2
		 WHERE id = $3 AND backend = $4 AND storage_key = $5 AND key_id = $6`,
		toKeyID, []byte(wrapped), r.ID, r.Backend, r.StorageKey, r.KeyID)
	if err != nil {
		return false, s.writeError("rewrap", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.writeError("rewrap", err)
	}
	return n == 1, nil
}

// KeyIDs implements [meta.RecordStore] over the partial index of key_id.
func (s *Store) KeyIDs(ctx context.Context) ([]string, error) {
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT DISTINCT key_id FROM blob_metadata WHERE key_id IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: key ids: %w", mapError(err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlmeta: key ids: %w", mapError(err))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: key ids: %w", mapError(err))
	}
	slices.Sort(ids)
	return ids, nil
}
