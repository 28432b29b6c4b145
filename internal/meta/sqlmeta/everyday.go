package sqlmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/simpledrive/simpledrive/internal/bytewise"
	"github.com/simpledrive/simpledrive/internal/meta"
)

// Replace implements [meta.Everyday]: one UPDATE whose WHERE clause is the
// compare (id, backend, storage_key), and the garbage record of the old
// key in the same transaction.
func (s *Store) Replace(ctx context.Context, old, r meta.Record, notBefore time.Time) (bool, error) {
	return s.switchBytes(ctx, "replace", old, notBefore,
		`UPDATE blob_metadata SET size = $1, sha256 = $2, crc32c = $3, content_type = $4, backend = $5, storage_key = $6, created_at = $7, md5 = $8,
		 key_id = $9, wrapped_key = $10, data = $11, s3_headers = $15
		 WHERE id = $12 AND backend = $13 AND storage_key = $14`,
		r.Size, r.SHA256, crc32c(r), r.ContentType, r.Backend, r.StorageKey, r.CreatedAt.UTC(), md5(r), keyID(r), wrappedKey(r), inlineData(r),
		old.ID, old.Backend, old.StorageKey, s3Headers(r))
}

// switchBytes runs update, which points one record away from old's bytes
// only if it still references them, and in the same transaction records
// old's key as garbage. It reports whether update changed a row.
func (s *Store) switchBytes(ctx context.Context, op string, old meta.Record, notBefore time.Time, update string, args ...any) (bool, error) {
	tx, err := s.db.Writer().BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlmeta: %s: %w", op, mapError(err))
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, update, args...)
	if err != nil {
		return false, fmt.Errorf("sqlmeta: %s: %w", op, mapError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("sqlmeta: %s: %w", op, mapError(err))
	} else if n != 1 {
		return false, nil
	}
	if err := addGarbage(ctx, tx, meta.Garbage{Backend: old.Backend, StorageKey: old.StorageKey, NotBefore: notBefore}); err != nil {
		return false, fmt.Errorf("sqlmeta: %s: %w", op, mapError(err))
	}
	if err := tx.Commit(); err != nil {
		return false, s.writeError(op, err)
	}
	return true, nil
}

// Rename implements [meta.Everyday] in one transaction: read the record of
// from, insert its copy under to unless to is taken, then delete from's
// row only if it still references the same bytes. A concurrent replace or
// rename of from makes that delete remove nothing, and the transaction is
// rolled back: no two ids ever share one storage key.
func (s *Store) Rename(ctx context.Context, from, to string) (meta.Record, error) {
	tx, err := s.db.Writer().BeginTx(ctx, nil)
	if err != nil {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", mapError(err))
	}
	defer tx.Rollback()
	r, err := scanWithData(tx.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM blob_metadata WHERE id = $1`, from))
	if err != nil {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", mapError(err))
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO blob_metadata (`+recordColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`,
		to, r.Size, r.SHA256, crc32c(r), r.ContentType, r.Backend, r.StorageKey, r.CreatedAt.UTC(), md5(r), keyID(r), wrappedKey(r), s3Headers(r), inlineData(r))
	if err != nil {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", mapError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", mapError(err))
	} else if n != 1 {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", meta.ErrExists)
	}
	res, err = tx.ExecContext(ctx, `DELETE FROM blob_metadata WHERE id = $1 AND backend = $2 AND storage_key = $3`,
		from, r.Backend, r.StorageKey)
	if err != nil {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", mapError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", mapError(err))
	} else if n != 1 {
		return meta.Record{}, fmt.Errorf("sqlmeta: rename: %w", meta.ErrNotFound)
	}
	if err := tx.Commit(); err != nil {
		return meta.Record{}, s.writeError("rename", err)
	}
	r.ID = to
	return r, nil
}

// Usage implements [meta.Everyday]: three aggregate queries, the first two
// over the id index's range for prefix.
func (s *Store) Usage(ctx context.Context, prefix string) (meta.Usage, error) {
	var u meta.Usage
	blobs, args := s.prefixRange("id", prefix)
	uploads, _ := s.prefixRange("blob_id", prefix)
	queries := []struct {
		sql  string
		args []any
		dest []any
	}{
		{`SELECT count(*), coalesce(sum(size), 0) FROM blob_metadata WHERE ` + blobs, args, []any{&u.Blobs, &u.Bytes}},
		{`SELECT count(*), coalesce(sum(upload_offset), 0) FROM uploads WHERE finished = 0 AND ` + uploads, args, []any{&u.Uploads, &u.UploadBytes}},
		{`SELECT count(*) FROM blob_garbage`, nil, []any{&u.GarbageKeys}},
	}
	for _, q := range queries {
		if err := s.db.Reader().QueryRowContext(ctx, q.sql, q.args...).Scan(q.dest...); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return meta.Usage{}, fmt.Errorf("sqlmeta: usage: %w", mapError(err))
		}
	}
	return u, nil
}

// prefixRange returns the condition that column starts with prefix, as a
// range the index answers (see [Store.List]), and its arguments.
func (s *Store) prefixRange(column, prefix string) (string, []any) {
	if end, ok := bytewise.PrefixEnd(prefix); ok {
		return fmt.Sprintf("%[1]s%[2]s >= $1 AND %[1]s%[2]s < $2", column, s.collate), []any{prefix, end}
	}
	// No upper bound: the empty prefix, or one ending in U+10FFFF.
	return fmt.Sprintf("%[1]s%[2]s >= $1 AND substr(%[1]s, 1, length(CAST($2 AS TEXT))) = $2", column, s.collate), []any{prefix, prefix}
}
