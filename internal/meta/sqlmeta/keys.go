package sqlmeta

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// keyID is the key_id column's value for r: NULL for bytes in clear.
func keyID(r meta.Record) sql.NullString { return partKeyID(r.KeyID) }

// wrappedKey is the wrapped_key column's value for r: NULL for bytes in clear.
func wrappedKey(r meta.Record) []byte { return partWrapped(r.KeyID, r.WrappedKey) }

// partKeyID is the key_id column's value for master key id: NULL for bytes
// in clear (id "").
func partKeyID(id string) sql.NullString {
	return sql.NullString{String: id, Valid: id != ""}
}

// partWrapped is the wrapped_key column's value for wrapped under master
// key id: NULL for bytes in clear (id "").
func partWrapped(id, wrapped string) []byte {
	if id == "" {
		return nil
	}
	return []byte(wrapped)
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

// KeyIDs implements [meta.RecordStore] over the partial index of key_id,
// and the parts of uploads not yet finished (few rows: they expire).
func (s *Store) KeyIDs(ctx context.Context) ([]string, error) {
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT key_id FROM blob_metadata WHERE key_id IS NOT NULL
		 UNION SELECT p.key_id FROM upload_parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE p.key_id IS NOT NULL AND u.finished = 0
		 UNION SELECT p.key_id FROM multipart_parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE p.key_id IS NOT NULL AND u.finished = 0`)
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
