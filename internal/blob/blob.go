// Package blob is the Simple Drive service: it stores client blobs under
// client-chosen ids and serves them back, keeping metadata and bytes
// consistent.
//
// # Write protocol
//
// A metadata row exists only for bytes that are completely stored. Create
// streams the bytes to the backend under a fresh, never-reused key while
// hashing them, then inserts the metadata row with INSERT ... ON CONFLICT (id)
// DO NOTHING. The database is the arbiter: of concurrent creates of one id,
// from one process or from replicas sharing PostgreSQL, exactly one inserts
// its row; every loser, and every create that fails after its bytes were
// stored, deletes its own bytes. The one exception is an insert whose
// outcome is unknown (the connection to PostgreSQL failed after the
// statement was sent): its row may have been committed, so its bytes are
// kept. A crash between the two steps likewise leaves only unreferenced
// bytes, never a visible half-blob or metadata without bytes.
//
// # Reads
//
// Get reads the metadata row, then the bytes under its key, and verifies
// their length and SHA-256 as they stream. Metadata without bytes is an
// integrity fault ([ErrDataMissing]), never reported as not found.
package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
)

// Errors returned by the [Service]. Storage and database failures come
// back wrapping [storage.ErrUnavailable] or [storage.ErrInsufficientStorage].
var (
	// ErrInvalidID means the id breaks the rules of [ValidateID].
	ErrInvalidID = errors.New("blob: invalid id")
	// ErrExists means a blob with the id is already stored.
	ErrExists = errors.New("blob: id already exists")
	// ErrNotFound means no blob has the id.
	ErrNotFound = errors.New("blob: not found")
	// ErrDataMissing means metadata exists but its bytes cannot be found.
	ErrDataMissing = errors.New("blob: metadata without data")
	// ErrCorrupt means the stored bytes do not match the recorded size or
	// checksum.
	ErrCorrupt = errors.New("blob: data does not match its checksum")
)

// MaxIDLen is the longest valid id, in bytes.
const MaxIDLen = 1024

// Blob describes a stored blob.
type Blob struct {
	// ID is the client's id, exactly as sent.
	ID string
	// Size is the number of bytes.
	Size int64
	// SHA256 is the lowercase hex SHA-256 of the bytes.
	SHA256 string
	// CreatedAt is when the blob was stored, in UTC, to the microsecond.
	CreatedAt time.Time
}

// Service stores and serves blobs. It is safe for concurrent use.
type Service struct {
	db          *db.DB
	backend     *storage.Bucket
	backendName string
	log         *slog.Logger
}

// New returns a Service keeping metadata in d and bytes in backend, whose
// name (the STORAGE_BACKEND value) is recorded in each metadata row.
func New(d *db.DB, backend *storage.Bucket, log *slog.Logger) *Service {
	return &Service{db: d, backend: backend, backendName: backend.Name(), log: log}
}

// ValidateID returns an error wrapping [ErrInvalidID] unless id is 1 to
// [MaxIDLen] bytes of valid UTF-8 without control characters.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidID, MaxIDLen)
	}
	for i, r := range id {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(id[i:]); size == 1 {
				return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrInvalidID, i)
			}
		}
		if r < 0x20 || 0x7f <= r && r <= 0x9f {
			return fmt.Errorf("%w: control character U+%04X at byte %d", ErrInvalidID, r, i)
		}
	}
	return nil
}

// Create stores size bytes read from data under id. It returns
// [ErrExists] when id is taken, even when another process takes it while the
// bytes are being stored.
func (s *Service) Create(ctx context.Context, id string, data io.Reader, size int64) (Blob, error) {
	if err := ValidateID(id); err != nil {
		return Blob{}, err
	}
	if ok, err := s.Exists(ctx, id); err != nil {
		return Blob{}, err
	} else if ok {
		return Blob{}, fmt.Errorf("%w: %q", ErrExists, id)
	}

	key := newKey(id)
	h := sha256.New()
	if err := s.backend.Put(ctx, key, io.TeeReader(data, h), size); err != nil {
		return Blob{}, fmt.Errorf("blob: storing bytes: %w", err)
	}
	b := Blob{
		ID:        id,
		Size:      size,
		SHA256:    hex.EncodeToString(h.Sum(nil)),
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	}
	// Once the bytes are stored the insert decides the create, so it runs to
	// completion even if the client leaves: its outcome must be known.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metadataTimeout)
	defer cancel()
	inserted, err := s.insert(ictx, b, key)
	if err != nil && s.db.MaybeCommitted(err) {
		committed, known := s.settle(ctx, id, key)
		if !known {
			// The row may exist: deleting the bytes could leave metadata
			// without bytes. Keep them; at worst they are unreferenced.
			s.log.LogAttrs(ctx, slog.LevelWarn, "metadata insert outcome unknown; keeping the bytes",
				slog.String("storage_key", key), slog.String("error", err.Error()))
			return Blob{}, err
		}
		inserted, err = committed, nil
	}
	switch {
	case err != nil:
		s.deleteBytes(ctx, key)
		return Blob{}, err
	case !inserted:
		s.deleteBytes(ctx, key)
		return Blob{}, fmt.Errorf("%w: %q", ErrExists, id)
	}
	return b, nil
}

// metadataTimeout bounds the metadata insert of a create, and the reading
// back of its outcome when the insert's answer was lost.
const metadataTimeout = 30 * time.Second

// settle reads back the row of id after an insert whose outcome is unknown.
// known is false when the row cannot be read or is absent: on PostgreSQL a
// commit may still land after the connection was lost.
func (s *Service) settle(ctx context.Context, id, key string) (committed, known bool) {
	// A context of its own: the insert's may be what expired.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metadataTimeout)
	defer cancel()
	var owner string
	err := s.db.Reader().QueryRowContext(ctx, `SELECT storage_key FROM blob_metadata WHERE id = $1`, id).Scan(&owner)
	if err != nil {
		return false, false
	}
	return owner == key, true
}

// insert records b, reporting false when another writer holds the id.
func (s *Service) insert(ctx context.Context, b Blob, key string) (bool, error) {
	res, err := s.db.Writer().ExecContext(ctx,
		`INSERT INTO blob_metadata (id, size, sha256, backend, storage_key, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6)
		 ON CONFLICT (id) DO NOTHING`,
		b.ID, b.Size, b.SHA256, s.backendName, key, b.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("blob: recording metadata: %w", db.MapError(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("blob: recording metadata: %w", db.MapError(err))
	}
	return n == 1, nil
}

// deleteBytes removes the bytes of a create that did not complete. It runs
// even when ctx is cancelled, since cancellation is a common reason to be
// here; a failure leaves unreferenced bytes, which is logged.
func (s *Service) deleteBytes(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.backend.Delete(ctx, key); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "orphaned blob bytes after a failed create",
			slog.String("storage_key", key), slog.String("error", err.Error()))
	}
}

// Stat returns the metadata of id, or [ErrNotFound].
func (s *Service) Stat(ctx context.Context, id string) (Blob, error) {
	b, _, err := s.lookup(ctx, id)
	return b, err
}

// Exists reports whether a blob with id is stored.
func (s *Service) Exists(ctx context.Context, id string) (bool, error) {
	if err := ValidateID(id); err != nil {
		return false, err
	}
	var one int
	err := s.db.Reader().QueryRowContext(ctx, `SELECT 1 FROM blob_metadata WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob: reading metadata: %w", db.MapError(err))
	}
	return true, nil
}

// Get returns the metadata of id and a reader of its bytes, which the caller
// must close. The reader fails with [ErrCorrupt] at the end of the data if
// the bytes do not match the recorded size and checksum.
func (s *Service) Get(ctx context.Context, id string) (Blob, io.ReadCloser, error) {
	b, key, err := s.lookup(ctx, id)
	if err != nil {
		return Blob{}, nil, err
	}
	rc, err := s.backend.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.LogAttrs(ctx, slog.LevelError, "integrity fault: metadata without bytes",
			slog.String("storage_key", key), slog.String("error", err.Error()))
		return Blob{}, nil, fmt.Errorf("%w: %w", ErrDataMissing, err)
	}
	if err != nil {
		return Blob{}, nil, fmt.Errorf("blob: reading bytes: %w", err)
	}
	return b, newVerifier(rc, b, key, s.log), nil
}

// lookup reads the metadata row of id and the storage key of its bytes.
func (s *Service) lookup(ctx context.Context, id string) (Blob, string, error) {
	if err := ValidateID(id); err != nil {
		return Blob{}, "", err
	}
	b := Blob{ID: id}
	var backend, key string
	err := s.db.Reader().QueryRowContext(ctx,
		`SELECT size, sha256, backend, storage_key, created_at FROM blob_metadata WHERE id = $1`, id,
	).Scan(&b.Size, &b.SHA256, &backend, &key, &b.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Blob{}, "", fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Blob{}, "", fmt.Errorf("blob: reading metadata: %w", db.MapError(err))
	}
	if backend != s.backendName {
		return Blob{}, "", fmt.Errorf("%w: stored on backend %q, but this server uses %q", ErrDataMissing, backend, s.backendName)
	}
	b.CreatedAt = b.CreatedAt.UTC()
	return b, key, nil
}

// newKey returns a fresh storage key for id: the hex SHA-256 of the id,
// sharded two levels deep, plus a random suffix so that no two uploads, even
// of one id, share a key.
func newKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:])
	var suffix [8]byte
	rand.Read(suffix[:])
	return fmt.Sprintf("%s/%s/%s-%x", h[0:2], h[2:4], h, suffix)
}
