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

// Rewrap implements [meta.RecordStore]: one transaction of UPDATEs, each
// with the compare (id, backend, storage_key, key_id, wrapped_key) in its
// WHERE clause.
func (s *Store) Rewrap(ctx context.Context, rs []meta.Rewrapping[meta.Record]) ([]bool, error) {
	return rewrap(ctx, s, "rewrap", rs,
		`UPDATE blob_metadata SET key_id = $1, wrapped_key = $2
		 WHERE id = $3 AND backend = $4 AND storage_key = $5 AND key_id = $6 AND wrapped_key = $7`,
		func(r meta.Record) []any { return []any{r.ID, r.Backend, r.StorageKey, r.KeyID, []byte(r.WrappedKey)} })
}

// RewrapParts implements [meta.RecordStore] as Rewrap does, over the part's
// table.
func (s *Store) RewrapParts(ctx context.Context, rs []meta.Rewrapping[meta.PartKey]) ([]bool, error) {
	var tus, multipart []int // indexes into rs of each table's parts
	for i, r := range rs {
		if r.From.Multipart {
			multipart = append(multipart, i)
		} else {
			tus = append(tus, i)
		}
	}
	const set = ` SET key_id = $1, wrapped_key = $2 WHERE upload_id = $3 AND %s = $4 AND storage_key = $5 AND key_id = $6 AND wrapped_key = $7`
	done := make([]bool, len(rs))
	for _, t := range []struct {
		query string
		idx   []int
	}{
		{`UPDATE upload_parts` + fmt.Sprintf(set, "seq"), tus},
		{`UPDATE multipart_parts` + fmt.Sprintf(set, "part_number"), multipart},
	} {
		if len(t.idx) == 0 {
			continue
		}
		sub := make([]meta.Rewrapping[meta.PartKey], len(t.idx))
		for j, i := range t.idx {
			sub[j] = rs[i]
		}
		ok, err := rewrap(ctx, s, "rewrap parts", sub, t.query, func(p meta.PartKey) []any {
			return []any{p.UploadID, p.Seq, p.StorageKey, p.KeyID, []byte(p.WrappedKey)}
		})
		if err != nil {
			return nil, err
		}
		for j, i := range t.idx {
			done[i] = ok[j]
		}
	}
	return done, nil
}

// rewrap runs query, whose first two parameters are the new key id and
// wrapped key and the others where(r.From), once for each r of rs, in one
// transaction, and reports which updated a row.
func rewrap[T meta.Record | meta.PartKey](ctx context.Context, s *Store, op string, rs []meta.Rewrapping[T], query string, where func(T) []any) ([]bool, error) {
	done := make([]bool, len(rs))
	_, err := s.inTx(ctx, op, func(tx *sql.Tx) (bool, error) {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return false, err
		}
		defer stmt.Close()
		for i, r := range rs {
			if done[i], err = oneRow(stmt.ExecContext(ctx, append([]any{r.ToKeyID, []byte(r.Wrapped)}, where(r.From)...)...)); err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

// PartKeys implements [meta.RecordStore]: the tus parts' table, then the
// multipart parts'.
func (s *Store) PartKeys(ctx context.Context, keyID string, after meta.PartKey, limit int) ([]meta.PartKey, error) {
	var out []meta.PartKey
	if !after.Multipart {
		page, err := s.partKeys(ctx, keyID, after, limit)
		if err != nil {
			return nil, err
		}
		out, after = page, meta.PartKey{Multipart: true}
	}
	if len(out) == limit {
		return out, nil
	}
	page, err := s.partKeys(ctx, keyID, after, limit-len(out))
	if err != nil {
		return nil, err
	}
	return append(out, page...), nil
}

// partKeys is PartKeys over after's table alone.
func (s *Store) partKeys(ctx context.Context, keyID string, after meta.PartKey, limit int) ([]meta.PartKey, error) {
	table, seq := "upload_parts", "seq"
	if after.Multipart {
		table, seq = "multipart_parts", "part_number"
	}
	rows, err := s.db.Reader().QueryContext(ctx, fmt.Sprintf(`SELECT p.upload_id, p.%[1]s, p.storage_key, p.key_id, p.wrapped_key
		 FROM %[2]s p JOIN uploads u ON u.upload_id = p.upload_id
		 WHERE u.finished = 0 AND p.key_id IS NOT NULL AND p.key_id <> $1
		   AND (p.upload_id > $2 OR (p.upload_id = $2 AND p.%[1]s > $3))
		 ORDER BY p.upload_id, p.%[1]s LIMIT $4`, seq, table), keyID, after.UploadID, after.Seq, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: part keys: %w", mapError(err))
	}
	defer rows.Close()
	var out []meta.PartKey
	for rows.Next() {
		p := meta.PartKey{Multipart: after.Multipart}
		var wrapped []byte
		if err := rows.Scan(&p.UploadID, &p.Seq, &p.StorageKey, &p.KeyID, &wrapped); err != nil {
			return nil, fmt.Errorf("sqlmeta: part keys: %w", mapError(err))
		}
		p.WrappedKey = string(wrapped)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: part keys: %w", mapError(err))
	}
	return out, nil
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
