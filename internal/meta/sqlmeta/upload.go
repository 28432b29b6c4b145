package sqlmeta

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
)

var _ meta.UploadStore = (*Store)(nil)

// The state of resumable uploads lives in the uploads and upload_parts
// tables (migration 0020), S3 multipart uploads' parts in multipart_parts
// (migration 0070). The per-upload lock is a lease row
// (lease_owner, lease_until) taken by a conditional UPDATE, the same
// statement on both engines: it holds across replicas sharing PostgreSQL,
// ties up no connection while a client streams its bytes, and dies with its
// owner by expiring. Writes of an upload's bytes are fenced by the owner and
// the offset (see [meta.UploadStore]), so a lease that outlived a paused
// process cannot make them interleave.

const uploadColumns = `upload_id, kind, blob_id, content_type, upload_length, upload_offset, metadata, backend, creator, finished, created_at, expires_at`

// CreateUpload implements [meta.UploadStore].
func (s *Store) CreateUpload(ctx context.Context, u meta.Upload, owner string, leaseUntil time.Time) error {
	if err := insertUpload(ctx, s.db.Writer(), u, owner, leaseUntil); err != nil {
		return s.writeError("create upload", err)
	}
	return nil
}

// insertUpload inserts the row of u, leased to owner until leaseUntil.
func insertUpload(ctx context.Context, e interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, u meta.Upload, owner string, leaseUntil time.Time) error {
	until := int64(0)
	if owner != "" {
		until = leaseUntil.UnixMicro()
	}
	_, err := e.ExecContext(ctx,
		`INSERT INTO uploads (`+uploadColumns+`, lease_owner, lease_until)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		u.ID, cmp.Or(u.Kind, meta.KindTus), u.BlobID, u.ContentType, u.Length, u.Offset, u.Metadata, u.Backend, u.Creator, boolInt(u.Finished),
		u.CreatedAt.UnixMicro(), u.ExpiresAt.UnixMicro(), owner, until)
	return err
}

// GetUpload implements [meta.UploadStore].
func (s *Store) GetUpload(ctx context.Context, id string) (meta.Upload, error) {
	u, err := scanUpload(s.db.Reader().QueryRowContext(ctx, `SELECT `+uploadColumns+`, lease_owner FROM uploads WHERE upload_id = $1`, id))
	if err != nil {
		return meta.Upload{}, fmt.Errorf("sqlmeta: get upload: %w", mapError(err))
	}
	return u, nil
}

// scanUpload reads an upload's columns and lease owner from a row.
func scanUpload(row interface{ Scan(...any) error }) (meta.Upload, error) {
	var u meta.Upload
	var finished int
	var created, expires int64
	err := row.Scan(&u.ID, &u.Kind, &u.BlobID, &u.ContentType, &u.Length, &u.Offset, &u.Metadata, &u.Backend, &u.Creator, &finished, &created, &expires, &u.LeaseOwner)
	if err != nil {
		return meta.Upload{}, err
	}
	u.Finished = finished != 0
	u.CreatedAt = time.UnixMicro(created).UTC()
	u.ExpiresAt = time.UnixMicro(expires).UTC()
	return u, nil
}

// CreateUploadWithin implements [meta.UploadStore]: the counts and the
// INSERT are one transaction. On SQLite it begins IMMEDIATE on the single
// writer connection, so creations run one after another. On PostgreSQL,
// where READ COMMITTED would let two transactions count the same rows, it
// first takes a transaction-scoped advisory lock: one shared by every
// creation when total is set (the total concerns them all), else one per
// creator. Creations wait for each other instead of failing and retrying
// as SERIALIZABLE would make them; each holds the lock for two index range
// scans stopped at the bounds and one INSERT, and the lock dies with the
// transaction, so a crashed replica cannot keep it.
func (s *Store) CreateUploadWithin(ctx context.Context, u meta.Upload, perCreator, total int) error {
	_, err := s.inTx(ctx, "create upload", func(tx *sql.Tx) (bool, error) {
		if s.db.Dialect() == db.Postgres {
			key := u.Creator
			if total > 0 {
				key = ""
			}
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, uploadLockClass, key); err != nil {
				return false, err
			}
		}
		if perCreator > 0 && u.Creator != "" {
			if n, err := countOpen(ctx, tx, u.Creator, u.CreatedAt, perCreator); err != nil || n >= perCreator {
				return false, cmp.Or(err, error(&meta.LimitError{Creator: u.Creator, Limit: perCreator}))
			}
		}
		if total > 0 {
			if n, err := countOpen(ctx, tx, "", u.CreatedAt, total); err != nil || n >= total {
				return false, cmp.Or(err, error(&meta.LimitError{Limit: total}))
			}
		}
		return true, insertUpload(ctx, tx, u, "", time.Time{})
	})
	var limit *meta.LimitError
	if errors.As(err, &limit) {
		return limit
	}
	return err
}

// uploadLockClass is the first key of the PostgreSQL advisory locks of
// [Store.CreateUploadWithin] (the second is a hash of the creator).
const uploadLockClass = 0x5d0a

// countOpen counts the uploads open at now, of creator unless it is "", no
// further than limit: one range scan of an index (uploads_open_by_creator,
// or uploads_expires_at for all).
func countOpen(ctx context.Context, tx *sql.Tx, creator string, now time.Time, limit int) (int, error) {
	query := `SELECT count(*) FROM (SELECT 1 FROM uploads WHERE finished = 0 AND expires_at > $1 LIMIT $2) AS open`
	args := []any{now.UnixMicro(), limit}
	if creator != "" {
		query = `SELECT count(*) FROM (SELECT 1 FROM uploads WHERE creator = $3 AND finished = 0 AND expires_at > $1 LIMIT $2) AS open`
		args = append(args, creator)
	}
	var n int
	err := tx.QueryRowContext(ctx, query, args...).Scan(&n)
	return n, err
}

// leaseFree is the condition under which owner ($2) may take the lease at
// now ($3): it holds it already, or nobody does, or the holder's lease ran
// out.
const leaseFree = `(lease_owner = $2 OR lease_owner = '' OR lease_until < $3)`

// LeaseUpload implements [meta.UploadStore].
func (s *Store) LeaseUpload(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	res, err := s.db.Writer().ExecContext(ctx,
		`UPDATE uploads SET lease_owner = $2, lease_until = $4 WHERE upload_id = $1 AND `+leaseFree,
		id, owner, now.UnixMicro(), until.UnixMicro())
	if err != nil {
		return false, s.writeError("lease upload", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, s.writeError("lease upload", err)
	} else if n == 1 {
		return true, nil
	}
	if _, err := s.GetUpload(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}

// ReleaseUpload implements [meta.UploadStore].
func (s *Store) ReleaseUpload(ctx context.Context, id, owner string) error {
	_, err := s.db.Writer().ExecContext(ctx,
		`UPDATE uploads SET lease_owner = '', lease_until = 0 WHERE upload_id = $1 AND lease_owner = $2`, id, owner)
	if err != nil {
		return s.writeError("release upload", err)
	}
	return nil
}

// UploadParts implements [meta.UploadStore].
func (s *Store) UploadParts(ctx context.Context, id string) ([]meta.Part, error) {
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT seq, storage_key, size, digest, key_id, wrapped_key FROM upload_parts WHERE upload_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: upload parts: %w", mapError(err))
	}
	defer rows.Close()
	var out []meta.Part
	for rows.Next() {
		var p meta.Part
		var kid sql.NullString
		var wrapped []byte
		if err := rows.Scan(&p.Seq, &p.StorageKey, &p.Size, &p.Digest, &kid, &wrapped); err != nil {
			return nil, fmt.Errorf("sqlmeta: upload parts: %w", mapError(err))
		}
		p.KeyID, p.WrappedKey = kid.String, string(wrapped)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: upload parts: %w", mapError(err))
	}
	return out, nil
}

// AppendPart implements [meta.UploadStore].
func (s *Store) AppendPart(ctx context.Context, id, owner string, offset, length int64, p meta.Part, expiresAt time.Time) (bool, error) {
	ok, err := s.inTx(ctx, "append part", func(tx *sql.Tx) (bool, error) {
		res, err := tx.ExecContext(ctx,
			`UPDATE uploads SET upload_offset = $4, expires_at = $5,
			        upload_length = CASE WHEN CAST($6 AS BIGINT) >= 0 THEN CAST($6 AS BIGINT) ELSE upload_length END
			 WHERE upload_id = $1 AND lease_owner = $2 AND upload_offset = $3 AND finished = 0`,
			id, owner, offset, offset+p.Size, expiresAt.UnixMicro(), length)
		if ok, err := oneRow(res, err); !ok || err != nil || p.StorageKey == "" {
			return ok, err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO upload_parts (upload_id, seq, storage_key, size, digest, key_id, wrapped_key) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, p.Seq, p.StorageKey, p.Size, p.Digest, partKeyID(p.KeyID), partWrapped(p.KeyID, p.WrappedKey))
		return err == nil, err
	})
	return ok, err
}

// FinishUpload implements [meta.UploadStore].
func (s *Store) FinishUpload(ctx context.Context, id, owner string, length int64, extra []string, notBefore time.Time) (bool, error) {
	return s.inTx(ctx, "finish upload", func(tx *sql.Tx) (bool, error) {
		var backend string
		err := tx.QueryRowContext(ctx,
			`UPDATE uploads SET finished = 1, upload_offset = $3, upload_length = $3, lease_owner = '', lease_until = 0
			 WHERE upload_id = $1 AND lease_owner = $2 AND finished = 0 RETURNING backend`, id, owner, length).Scan(&backend)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return true, s.dropParts(ctx, tx, id, backend, extra, notBefore)
	})
}

// DeleteUpload implements [meta.UploadStore].
func (s *Store) DeleteUpload(ctx context.Context, id, owner string, now, notBefore time.Time) (bool, error) {
	ok, err := s.inTx(ctx, "delete upload", func(tx *sql.Tx) (bool, error) {
		// The UPDATE takes the row's lock first, so a concurrent append
		// waits for this transaction and then finds no row to update.
		var backend string
		err := tx.QueryRowContext(ctx,
			`UPDATE uploads SET lease_owner = $2 WHERE upload_id = $1 AND `+leaseFree+` RETURNING backend`,
			id, owner, now.UnixMicro()).Scan(&backend)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if err := s.dropParts(ctx, tx, id, backend, nil, notBefore); err != nil {
			return false, err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM uploads WHERE upload_id = $1`, id)
		return err == nil, err
	})
	if err != nil || ok {
		return ok, err
	}
	if _, err := s.GetUpload(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}

// ExpireUploads implements [meta.UploadStore].
func (s *Store) ExpireUploads(ctx context.Context, now time.Time, limit int) (int, error) {
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT upload_id FROM uploads WHERE expires_at <= $1 AND lease_until < $1 ORDER BY expires_at LIMIT `+fmt.Sprint(limit),
		now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("sqlmeta: expire uploads: %w", mapError(err))
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlmeta: expire uploads: %w", mapError(err))
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlmeta: expire uploads: %w", mapError(err))
	}
	removed := 0
	for _, id := range ids {
		ok, err := s.DeleteUpload(ctx, id, "", now, now)
		if errors.Is(err, meta.ErrNotFound) {
			continue // removed by another replica meanwhile
		}
		if err != nil {
			return removed, err
		}
		if ok {
			removed++
		}
	}
	return removed, nil
}

// dropParts deletes the part rows of upload id, tus's and S3 multipart's,
// and records their keys, and extra, as garbage of backend.
func (s *Store) dropParts(ctx context.Context, tx *sql.Tx, id, backend string, extra []string, notBefore time.Time) error {
	keys := extra
	for _, table := range []string{"upload_parts", "multipart_parts"} {
		rows, err := tx.QueryContext(ctx, `DELETE FROM `+table+` WHERE upload_id = $1 RETURNING storage_key`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			keys = append(keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := addGarbage(ctx, tx, meta.Garbage{Backend: backend, StorageKey: k, NotBefore: notBefore}); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a write transaction and commits it when fn reports true.
func (s *Store) inTx(ctx context.Context, op string, fn func(*sql.Tx) (bool, error)) (bool, error) {
	tx, err := s.db.Writer().BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlmeta: %s: %w", op, mapError(err))
	}
	defer tx.Rollback()
	ok, err := fn(tx)
	if err != nil {
		return false, s.writeError(op, err)
	}
	if !ok {
		return false, nil
	}
	if err := tx.Commit(); err != nil {
		return false, s.writeError(op, err)
	}
	return true, nil
}

// oneRow reports whether a statement's result affected exactly one row.
func oneRow(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
