package sqlmeta

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// Referenced implements [meta.GarbageStore]: one query over the four
// tables that hold storage keys (records, garbage, tus and S3 multipart
// upload parts).
func (s *Store) Referenced(ctx context.Context, backend string, keys []string) (map[string]bool, error) {
	out := make(map[string]bool)
	if len(keys) == 0 {
		return out, nil
	}
	if len(keys) > meta.MaxReferencedKeys {
		return nil, fmt.Errorf("sqlmeta: referenced: %d keys, more than %d", len(keys), meta.MaxReferencedKeys)
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, backend)
	marks := make([]string, len(keys))
	for i, k := range keys {
		args = append(args, k)
		marks[i] = fmt.Sprintf("$%d", i+2)
	}
	in := strings.Join(marks, ", ")
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT storage_key FROM blob_metadata WHERE backend = $1 AND storage_key IN (`+in+`)
		 UNION
		 SELECT storage_key FROM blob_garbage WHERE backend = $1 AND storage_key IN (`+in+`)
		 UNION
		 SELECT p.storage_key FROM upload_parts p JOIN uploads u ON u.upload_id = p.upload_id
		 WHERE u.backend = $1 AND p.storage_key IN (`+in+`)
		 UNION
		 SELECT p.storage_key FROM multipart_parts p JOIN uploads u ON u.upload_id = p.upload_id
		 WHERE u.backend = $1 AND p.storage_key IN (`+in+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: referenced: %w", mapError(err))
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("sqlmeta: referenced: %w", mapError(err))
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: referenced: %w", mapError(err))
	}
	return out, nil
}

// DeleteStale implements [meta.RecordStore].
func (s *Store) DeleteStale(ctx context.Context, id, storageKey string) (bool, error) {
	res, err := s.db.Writer().ExecContext(ctx,
		`DELETE FROM blob_metadata WHERE id = $1 AND storage_key = $2`, id, storageKey)
	if err != nil {
		return false, s.writeError("delete stale", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.writeError("delete stale", err)
	}
	return n == 1, nil
}

// AcquireLease implements [meta.LeaseStore] with one statement, atomic on both
// engines: an insert that, when the lease exists, updates it only if it
// has expired or is the holder's own. Zero rows affected means another
// holder has it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (bool, error) {
	res, err := s.db.Writer().ExecContext(ctx,
		`INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
		 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		 WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder`,
		name, holder, expires.UnixMicro(), now.UnixMicro())
	if err != nil {
		return false, s.writeError("acquire lease", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.writeError("acquire lease", err)
	}
	return n == 1, nil
}

// ReleaseLease implements [meta.LeaseStore].
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.Writer().ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	if err != nil {
		return s.writeError("release lease", err)
	}
	return nil
}
