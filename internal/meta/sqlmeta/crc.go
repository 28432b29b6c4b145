package sqlmeta

import (
	"context"
	"database/sql"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// crc32c is the crc32c column's value for r: NULL when r has none.
func crc32c(r meta.Record) sql.Null[int64] {
	return sql.Null[int64]{V: int64(r.CRC32C), Valid: r.HasCRC32C}
}

// s3Headers is the s3_headers column's value for r: NULL when r has none.
func s3Headers(r meta.Record) sql.NullString {
	return sql.NullString{String: r.S3Headers, Valid: r.S3Headers != ""}
}

// md5 is the md5 column's value for r: NULL when r has none.
func md5(r meta.Record) sql.NullString {
	return sql.NullString{String: r.MD5, Valid: r.MD5 != ""}
}

// SetCRC32C implements [meta.Store]: one UPDATE whose WHERE clause is the
// compare (id, storage_key, no CRC-32C yet).
func (s *Store) SetCRC32C(ctx context.Context, id, storageKey string, crc uint32) (bool, error) {
	res, err := s.db.Writer().ExecContext(ctx,
		`UPDATE blob_metadata SET crc32c = $1 WHERE id = $2 AND storage_key = $3 AND crc32c IS NULL`,
		int64(crc), id, storageKey)
	if err != nil {
		return false, s.writeError("set crc32c", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.writeError("set crc32c", err)
	}
	return n == 1, nil
}
