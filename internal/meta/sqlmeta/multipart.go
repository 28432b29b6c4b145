package sqlmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

var _ meta.MultipartStore = (*Store)(nil)

// S3 multipart uploads are rows of uploads of kind 's3' (migration 0070);
// their parts, rows of multipart_parts. A part is committed by one
// transaction that first updates the upload's row, which takes its lock:
// a completion leases that row, and a part either commits before the
// lease is taken, and the completion sees it, or finds the row leased
// and commits nothing.

const partColumns = `part_number, storage_key, size, md5, checksum, created_at, key_id, wrapped_key`

// PutPart implements [meta.MultipartStore].
func (s *Store) PutPart(ctx context.Context, id string, p meta.MultipartPart, now, expiresAt, notBefore time.Time) (bool, error) {
	return s.inTx(ctx, "put part", func(tx *sql.Tx) (bool, error) {
		var backend string
		err := tx.QueryRowContext(ctx,
			`UPDATE uploads SET expires_at = $3, upload_offset = upload_offset + $4
			 WHERE upload_id = $1 AND kind = 's3' AND finished = 0 AND expires_at > $2 AND (lease_owner = '' OR lease_until < $2)
			 RETURNING backend`, id, now.UnixMicro(), expiresAt.UnixMicro(), p.Size).Scan(&backend)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		var old meta.MultipartPart
		err = tx.QueryRowContext(ctx, `DELETE FROM multipart_parts WHERE upload_id = $1 AND part_number = $2 RETURNING storage_key, size`,
			id, p.Number).Scan(&old.StorageKey, &old.Size)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return false, err
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE uploads SET upload_offset = upload_offset - $2 WHERE upload_id = $1`, id, old.Size); err != nil {
				return false, err
			}
			if err := addGarbage(ctx, tx, meta.Garbage{Backend: backend, StorageKey: old.StorageKey, NotBefore: notBefore}); err != nil {
				return false, err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO multipart_parts (upload_id, `+partColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			id, p.Number, p.StorageKey, p.Size, p.MD5, p.Checksum, p.CreatedAt.UnixMicro(), partKeyID(p.KeyID), partWrapped(p.KeyID, p.WrappedKey))
		return err == nil, err
	})
}

// MultipartParts implements [meta.MultipartStore].
func (s *Store) MultipartParts(ctx context.Context, id string, after, limit int) ([]meta.MultipartPart, error) {
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT `+partColumns+` FROM multipart_parts WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT `+fmt.Sprint(limit),
		id, after)
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: multipart parts: %w", mapError(err))
	}
	defer rows.Close()
	var out []meta.MultipartPart
	for rows.Next() {
		var p meta.MultipartPart
		var created int64
		var kid sql.NullString
		var wrapped []byte
		if err := rows.Scan(&p.Number, &p.StorageKey, &p.Size, &p.MD5, &p.Checksum, &created, &kid, &wrapped); err != nil {
			return nil, fmt.Errorf("sqlmeta: multipart parts: %w", mapError(err))
		}
		p.KeyID, p.WrappedKey = kid.String, string(wrapped)
		p.CreatedAt = time.UnixMicro(created).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: multipart parts: %w", mapError(err))
	}
	return out, nil
}

// ListMultipart implements [meta.MultipartStore]: one range scan of the
// index uploads_multipart.
func (s *Store) ListMultipart(ctx context.Context, q meta.MultipartQuery) ([]meta.Upload, error) {
	within, args := s.prefixRange("blob_id", q.Prefix)
	conds := []string{`kind = 's3'`, `finished = 0`, within}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	c := s.collate
	conds = append(conds, "expires_at > "+arg(q.Now.UnixMicro()))
	if q.StartAt != "" {
		conds = append(conds, "blob_id"+c+" >= "+arg(q.StartAt))
	}
	switch {
	case q.AfterKey != "" && q.AfterUploadID == "":
		conds = append(conds, "blob_id"+c+" > "+arg(q.AfterKey))
	case q.AfterKey != "":
		k := arg(q.AfterKey)
		conds = append(conds, fmt.Sprintf("(blob_id%[1]s > %[2]s OR blob_id = %[2]s AND upload_id > %[3]s)", c, k, arg(q.AfterUploadID)))
	}
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT `+uploadColumns+`, lease_owner FROM uploads WHERE `+strings.Join(conds, " AND ")+
			` ORDER BY blob_id`+c+`, upload_id LIMIT `+fmt.Sprint(q.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: list multipart: %w", mapError(err))
	}
	defer rows.Close()
	var out []meta.Upload
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlmeta: list multipart: %w", mapError(err))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: list multipart: %w", mapError(err))
	}
	return out, nil
}
