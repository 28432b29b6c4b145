// Package sqlstore is the "database" [storage.Driver]: blob bytes live in the
// blob_data table of the database that also holds blob_metadata, SQLite or
// PostgreSQL, so operators have one thing to back up.
//
// The store runs on the shared [db.DB] (no pool of its own): writes go
// through [db.DB.Writer], reads through [db.DB.Reader]. It is always used
// through a [storage.Bucket], which validates keys, checks the context,
// hands Put a reader of exactly the declared size and names the backend,
// operation and key in errors; this package does only the database work.
// Both engines run the same SQL text, except that a listing orders keys
// COLLATE "C" (bytewise) on PostgreSQL; the other difference between them is
// how large a slice Get fetches per query (see Get below).
//
// # Guarantees
//
//   - Atomic Put: Put reads the blob whole into memory, to the end of the
//     reader, before it touches the database, so a failing reader, a size
//     mismatch (which the Bucket's reader reports) or a context cancelled
//     while reading never reaches the database. The row is then written by
//     an INSERT in a transaction of its own, which commits all of the row or
//     none of it. Cancelling the context ends Put, with an error and without
//     a row, at any moment until the COMMIT is sent; from then on Put
//     ignores the cancellation and waits, at most [CommitTimeout], for the
//     COMMIT's answer, so a Put whose row committed never reports failure
//     (a single autocommit INSERT could not promise that: the drivers
//     report a cancellation even when the statement committed just
//     before). One case stays in doubt, as with any remote database: when
//     the connection drops or times out while the COMMIT is in flight, Put
//     reports [storage.ErrUnavailable] although the server may have
//     committed. Such a row is complete, never partial, and since the
//     service never references a key whose Put failed it is unreferenced
//     garbage, like the bytes a crash leaves between the steps of the write
//     protocol.
//   - Chunked Get: Get reads the blob's length and its first chunk in one
//     query and returns a reader that fetches the rest chunk by chunk, each
//     chunk a short query of its own, so no connection is held while the
//     caller reads slowly. Keys are immutable, so the chunks are consistent;
//     a key deleted during the read makes Read fail rather than return a
//     short blob. GetRange is the same reader started at the range's offset
//     and stopped at its end: it fetches only the chunks the range covers.
//   - Listing: ListKeys is one query per page, in bytewise key order, with
//     the prefix as a key range (never LIKE, where '_' and '%' are
//     wildcards); it returns length(data) and created_at. On SQLite the
//     primary key serves it. On PostgreSQL every comparison is COLLATE "C",
//     which the primary key serves only when the column's collation is "C"
//     too; otherwise each page scans and sorts the table.
//   - Errors: the Bucket names the operation and the key; errors of a
//     reader's later chunks, which reach the caller past the Bucket, name
//     them too and begin "sqlstore: ". Native errors are mapped in one
//     function: no row gives [storage.ErrNotFound]; a refused, reset, lost
//     or timed-out connection gives [storage.ErrUnavailable]; a full disk,
//     where the engine reports it (PostgreSQL 53100, SQLITE_FULL, ENOSPC),
//     gives [storage.ErrInsufficientStorage].
//
// # Memory
//
// database/sql takes a parameter as one value, so Put holds one []byte of
// exactly size bytes, read with io.ReadFull, and the drivers copy it while
// the statement runs: pgx twice while encoding the statement (3 MiB
// allocated per 1 MiB Put; it drops its large buffers afterwards);
// modernc.org/sqlite once into SQLite's heap, from which SQLite builds the
// row record. Budget about three times MAX_BLOB_BYTES per concurrent upload.
// Reading the blob before the INSERT also means that a slow client never
// holds a database connection, which matters on SQLite, where all writes
// share one.
//
// Get on PostgreSQL holds one chunk of [PostgresChunkSize] bytes: the column
// is stored EXTERNAL (uncompressed, out of line), so substr() fetches only the
// TOAST pages it returns. SQLite has no partial read of a value through
// database/sql (substr() loads the whole value), so every query of a Get
// costs a full load of the blob inside SQLite; the reader there fetches
// chunks of max([SQLiteChunkSize], size/8) bytes, at most about nine queries
// per blob, and holds at most an eighth of a large blob in Go memory.
//
// # Size limits
//
// [MaxBlobSize] gives the largest blob each engine stores; a configured
// MAX_BLOB_BYTES above it must stop startup. PostgreSQL caps a bytea value,
// and any protocol message, at 1 GiB - 1 byte. SQLite caps a value and a whole
// row record at SQLITE_MAX_LENGTH, 1e9 bytes by default; modernc.org/sqlite
// v1.62.0 keeps the default (zeroblob(1000000000) is accepted, one byte more
// fails with SQLITE_TOOBIG). Both limits lose a reserve for the key, the
// timestamp and the framing.
package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
)

var (
	_ storage.Driver      = (*Store)(nil)
	_ storage.RangeReader = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
)

// Chunk sizes of Get; see the package documentation.
const (
	// PostgresChunkSize is the number of bytes each query of a Get fetches
	// on PostgreSQL.
	PostgresChunkSize = 1 << 20
	// SQLiteChunkSize is the smallest number of bytes each query of a Get
	// fetches on SQLite; blobs up to this size take one query.
	SQLiteChunkSize = 4 << 20
)

const (
	// postgresMaxValue is the largest bytea value (and protocol message)
	// PostgreSQL accepts: MaxAllocSize, 1 GiB - 1 byte.
	postgresMaxValue = 1<<30 - 1
	// sqliteMaxLength is SQLITE_MAX_LENGTH as compiled into
	// modernc.org/sqlite: the largest value and the largest row record.
	sqliteMaxLength = 1_000_000_000
	// rowReserve is kept free of blob bytes for the key (at most
	// storage.MaxKeyLen bytes), the timestamp and the row and message
	// framing.
	rowReserve = 64 << 10
)

// The statements, identical on both engines: each accepts $n placeholders
// and has length(blob) and substr(blob, from, count), both counting bytes
// (substr from 1).
const (
	insertQuery = `INSERT INTO blob_data (key, data, created_at) VALUES ($1, $2, $3)`
	chunkQuery  = `SELECT length(data), substr(data, $2, $3) FROM blob_data WHERE key = $1`
	existsQuery = `SELECT EXISTS (SELECT 1 FROM blob_data WHERE key = $1)`
	deleteQuery = `DELETE FROM blob_data WHERE key = $1`
)

// listQuery returns the statement of ListKeys: the keys after $1 from $2
// on, below $3 when bounded, in bytewise order, at most $4 (or $3 when
// unbounded) of them. collate is ` COLLATE "C"` on PostgreSQL, whose
// default collation may not be bytewise, and empty on SQLite, whose BINARY
// default is. Every comparison takes the collation, so that the filter and
// the order agree and a page ends where the next begins.
func listQuery(collate string, bounded bool) string {
	q := `SELECT key, length(data), created_at FROM blob_data WHERE key%[1]s > $1 AND key%[1]s >= $2`
	if bounded {
		q += ` AND key%[1]s < $3 ORDER BY key%[1]s LIMIT $4`
	} else {
		q += ` ORDER BY key%[1]s LIMIT $3`
	}
	return fmt.Sprintf(q, collate)
}

// CommitTimeout bounds the wait for the answer to a Put's COMMIT, which
// ignores the cancellation of the Put's context; see the package
// documentation.
const CommitTimeout = 30 * time.Second

// MaxBlobSize returns the largest blob, in bytes, that a [Store] on the given
// engine accepts, or 0 for an unknown engine. A MAX_BLOB_BYTES above it must
// be refused at startup.
func MaxBlobSize(dialect db.Dialect) int64 {
	switch dialect {
	case db.Postgres:
		return postgresMaxValue - rowReserve
	case db.SQLite:
		return sqliteMaxLength - rowReserve
	}
	return 0
}

// Store is the database [storage.Driver]. It is safe for concurrent use.
type Store struct {
	db      *db.DB
	maxSize int64
	// chunk is the size of Get's first query, and of every later one on
	// PostgreSQL; on SQLite later chunks grow with the blob (chunkSize).
	chunk int64
	// listBounded and listOpen are the listing statements with and
	// without an upper bound on keys.
	listBounded, listOpen string
	// fetchHook, when set by a test, is called before every chunk query.
	fetchHook func(off, n int64)
}

// New returns a Store on d, which must be open and migrated (db.Open does
// both). The Store does not own d: closing d is the caller's business.
func New(d *db.DB) *Store {
	s := &Store{db: d, maxSize: MaxBlobSize(d.Dialect()), chunk: PostgresChunkSize}
	collate := ` COLLATE "C"`
	if d.Dialect() == db.SQLite {
		s.chunk = SQLiteChunkSize
		collate = ""
	}
	s.listBounded, s.listOpen = listQuery(collate, true), listQuery(collate, false)
	return s
}

// chunkSize returns the number of bytes that each query after the first
// fetches from a blob of size bytes.
func (s *Store) chunkSize(size int64) int64 {
	if s.db.Dialect() == db.SQLite {
		// Every substr() loads the whole value: keep the number of
		// queries near eight whatever the size.
		return max(s.chunk, (size+7)/8)
	}
	return s.chunk
}

// Put implements [storage.Driver]. The blob is read whole before the
// database is touched; see the package documentation.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if size > s.maxSize {
		return fmt.Errorf("size %d over %d, the most %s stores", size, s.maxSize, s.db.Dialect())
	}
	data, err := readAll(r, s.maxSize)
	if err != nil {
		return err
	}
	return mapError(s.insert(ctx, key, data))
}

// insert writes the row of key in a transaction of its own. Until the
// COMMIT is sent, cancelling ctx ends the transaction without a row; the
// COMMIT itself runs to its answer, within CommitTimeout.
func (s *Store) insert(ctx context.Context, key string, data []byte) error {
	// database/sql rolls a transaction back when its context ends, so the
	// transaction gets a context of its own, which ctx cancels only until
	// detach is called: the wait for a connection (on SQLite, for the one
	// writer), BEGIN and the INSERT follow ctx.
	txCtx, cancelTx := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTx()
	detach := context.AfterFunc(ctx, cancelTx)
	defer detach()
	tx, err := s.db.Writer().BeginTx(txCtx, nil)
	if err != nil {
		return cancelled(ctx, err)
	}
	_, err = tx.ExecContext(txCtx, insertQuery, key, data, time.Now().UTC())
	if err != nil || !detach() {
		// ctx ended or the INSERT failed before COMMIT was sent: nothing
		// is committed.
		tx.Rollback()
		return cancelled(ctx, err)
	}
	timer := time.AfterFunc(CommitTimeout, cancelTx)
	defer timer.Stop()
	return tx.Commit()
}

// cancelled returns err, or ctx's error when ctx has ended: a statement
// interrupted by the end of ctx fails with the error of the transaction's
// own context, which does not tell a cancellation from a deadline.
func cancelled(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}

// readAll reads r to its end, refusing more than limit bytes. The buffer
// grows as bytes arrive, never from the size a client declared. Behind the
// Bucket a stream longer than its size is reported by the Read after the
// last byte, so reading to io.EOF makes that Read happen.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	data := []byte{} // never nil: a nil []byte would bind as NULL
	buf := bytes.NewBuffer(data)
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		return nil, err
	case n > limit:
		return nil, fmt.Errorf("%w: more than %d bytes, the most %s stores", storage.ErrSizeMismatch, limit, "the database")
	}
	return buf.Bytes(), nil
}

// Get implements [storage.Driver]. The returned reader fetches the blob in
// chunks, each with ctx, so ctx must stay live until the reader is closed.
// The reader is not safe for concurrent use.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.GetRange(ctx, key, 0, 1<<63-1)
}

// GetRange implements [storage.RangeReader]. Like Get's, the reader
// fetches chunk by chunk with ctx, from offset on, and only the chunks
// the range covers.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	// No blob is longer than maxSize: an offset past it reads nothing,
	// and substr()'s arguments stay within PostgreSQL's integer.
	offset = min(offset, s.maxSize)
	length = min(length, s.maxSize-offset)
	size, first, err := s.fetch(ctx, key, offset, min(length, s.chunk), nil)
	if err != nil {
		return nil, err
	}
	end := max(offset, min(size, offset+length))
	if want := min(end-offset, s.chunk); int64(len(first)) != want {
		return nil, fmt.Errorf("first chunk has %d bytes, want %d: %w", len(first), want, io.ErrUnexpectedEOF)
	}
	return &reader{s: s, ctx: ctx, key: key, size: size, end: end, next: offset + int64(len(first)), buf: first}, nil
}

// fetch reads at most n bytes of key's blob starting at offset off (from 0),
// appending them to buf[:0], and returns the blob's total length with them.
func (s *Store) fetch(ctx context.Context, key string, off, n int64, buf []byte) (int64, []byte, error) {
	if s.fetchHook != nil {
		s.fetchHook(off, n)
	}
	rows, err := s.db.Reader().QueryContext(ctx, chunkQuery, key, off+1, n)
	if err != nil {
		return 0, nil, mapError(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, nil, mapError(err)
		}
		return 0, nil, mapError(sql.ErrNoRows)
	}
	var size int64
	var raw sql.RawBytes // the driver's bytes, copied once into buf
	if err := rows.Scan(&size, &raw); err != nil {
		return 0, nil, mapError(err)
	}
	buf = append(buf[:0], raw...)
	if err := rows.Close(); err != nil {
		return 0, nil, mapError(err)
	}
	return size, buf, nil
}

// errClosed is returned by Read after Close.
var errClosed = errors.New("sqlstore: read after close")

// reader streams one blob, fetching a chunk per query.
type reader struct {
	s    *Store
	ctx  context.Context // the Get's context, used for every fetch
	key  string
	size int64  // the blob's length
	end  int64  // offset of the end of the range read
	next int64  // offset of the first byte not fetched yet
	buf  []byte // the current chunk; buf[pos:] is unread
	pos  int
	err  error // sticky: a failed fetch or Close
}

// Read implements io.Reader.
func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.pos == len(r.buf) {
		if r.next >= r.end {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.buf[r.pos:])
	r.pos += n
	return n, nil
}

// fill fetches the next chunk into r.buf, reusing its memory.
func (r *reader) fill() error {
	want := min(r.s.chunkSize(r.size), r.end-r.next)
	size, buf, err := r.s.fetch(r.ctx, r.key, r.next, want, r.buf)
	if err != nil {
		return fmt.Errorf("sqlstore: get %q at offset %d: %w", r.key, r.next, err)
	}
	if size != r.size || int64(len(buf)) != want {
		return fmt.Errorf("sqlstore: get %q at offset %d: got %d of %d bytes (blob length %d, was %d): %w",
			r.key, r.next, len(buf), want, size, r.size, io.ErrUnexpectedEOF)
	}
	r.buf, r.pos = buf, 0
	r.next += want
	return nil
}

// Close implements io.Closer. It releases the current chunk; it never fails.
func (r *reader) Close() error {
	r.buf, r.pos = nil, 0
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}

// Delete implements [storage.Driver].
func (s *Store) Delete(ctx context.Context, key string) error {
	res, err := s.db.Writer().ExecContext(ctx, deleteQuery, key)
	if err != nil {
		return mapError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapError(err)
	}
	if n == 0 {
		return mapError(sql.ErrNoRows)
	}
	return nil
}

// Exists implements [storage.Driver].
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	var ok bool
	if err := s.db.Reader().QueryRowContext(ctx, existsQuery, key).Scan(&ok); err != nil {
		return false, mapError(err)
	}
	return ok, nil
}

// ListKeys implements [storage.Lister]: one query, see the package
// documentation.
func (s *Store) ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]storage.KeyInfo, error) {
	if strings.IndexFunc(prefix, func(c rune) bool { return c < 1 || c > 0x7e }) >= 0 {
		return nil, nil // keys are printable ASCII: none has this prefix
	}
	var rows *sql.Rows
	var err error
	if upper, ok := prefixEnd(prefix); ok {
		rows, err = s.db.Reader().QueryContext(ctx, s.listBounded, startAfter, prefix, upper, limit)
	} else {
		rows, err = s.db.Reader().QueryContext(ctx, s.listOpen, startAfter, prefix, limit)
	}
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var keys []storage.KeyInfo
	for rows.Next() {
		var k storage.KeyInfo
		if err := rows.Scan(&k.Key, &k.Size, &k.ModTime); err != nil {
			return nil, mapError(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(err)
	}
	return keys, nil
}

// prefixEnd returns the least string above every string that begins with
// prefix, a printable ASCII string, and false for the empty prefix, which
// every string begins with.
func prefixEnd(prefix string) (string, bool) {
	if prefix == "" {
		return "", false
	}
	return prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1), true
}

// mapError is the one place where this package classifies native database
// errors: no row becomes [storage.ErrNotFound]; what [db.MapError] finds
// unreachable (connection failures, timeouts, a statement the driver could
// not send at all) becomes [storage.ErrUnavailable], and a full disk
// [storage.ErrInsufficientStorage]. Other errors, and nil, pass through
// unchanged.
func mapError(err error) error {
	err = db.MapError(err)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case errors.Is(err, db.ErrUnavailable):
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	case errors.Is(err, db.ErrDiskFull):
		return fmt.Errorf("%w: %w", storage.ErrInsufficientStorage, err)
	}
	return err
}
