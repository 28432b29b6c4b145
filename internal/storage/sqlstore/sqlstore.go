// Package sqlstore is the "database" [storage.Driver]: blob bytes live in the
// database that also holds blob_metadata, SQLite or PostgreSQL, so operators
// have one thing to back up.
//
// The store runs on the shared [db.DB] (no pool of its own): writes go
// through [db.DB.Writer], reads through [db.DB.Reader]. It is always used
// through a [storage.Bucket], which validates keys, checks the context,
// hands Put a reader of exactly the declared size (or of unknown size, -1)
// and names the backend, operation and key in errors; this package checks
// the key and the context again, as every driver does, and otherwise does
// only the database work. Both engines run the same SQL text, except that
// key comparisons and orders say COLLATE "C" (bytewise) on PostgreSQL.
//
// # Layout
//
// A blob is a list of chunks of at most [ChunkSize] bytes and one index row:
//
//	blob_data       (key, seq, data, created_at)   PRIMARY KEY (key, seq)
//	blob_data_index (key, size, chunk_size, created_at)   PRIMARY KEY (key)
//
// Chunk seq holds the blob's bytes from seq*chunk_size on; every chunk but
// the last is full, and an empty blob has no chunk. The index row publishes
// the blob: Get, GetRange and Exists see a key only once its index row
// exists, so chunks without one (an upload in progress, or one that failed
// or crashed) are invisible garbage. Every key that has chunks has chunk 0:
// Put writes it first, Delete and the cleanup of a failed Put delete it last.
//
// # Writes, and why they do not hold up other writers
//
// Put reads a chunk from the client, writes it, reads the next: it holds at
// most two chunk buffers (pooled, [ChunkSize] each). It reads one chunk
// ahead because only the end of the reader says which chunk is the last;
// every chunk but the last is written by an INSERT of its own (autocommit),
// and the last chunk and the index row are written by one transaction, which
// publishes the blob. So a blob of one chunk, nearly every blob, costs one
// transaction, as before, and a larger one a transaction per MiB.
//
// No database connection is held while Put reads from the client. This
// matters on SQLite, where [db.DB.Writer] is a single connection shared by
// every write of the service (metadata inserts, garbage records, other
// Puts): a write waits at most for the chunk INSERT in progress, a
// statement of 1 MiB (milliseconds), never for a whole upload, however large
// or slow. Large uploads running together interleave chunk by chunk. On
// PostgreSQL the pool has many connections anyway; the scheme is the same.
//
// # Guarantees
//
//   - Atomic Put: the blob becomes visible only when the transaction that
//     writes its last chunk and its index row commits. A failing reader, a
//     size mismatch (which the Bucket's reader reports), a cancelled context
//     or a refused INSERT ends Put with an error before that COMMIT; Put then
//     deletes the chunks it wrote (best effort, on a context detached from
//     the cancelled one, within [CommitTimeout]; when the error says the
//     database is unreachable, in the background, so that Put still returns
//     by its deadline). Cancelling the context ends
//     Put, with an error and nothing visible, at any moment until that COMMIT
//     is sent; from then on Put ignores the cancellation and waits, at most
//     [CommitTimeout], for the COMMIT's answer, so a Put whose blob was
//     published never reports failure. One case stays in doubt, as with any
//     remote database: when the connection drops or times out while the
//     COMMIT is in flight, Put reports [storage.ErrUnavailable] although the
//     server may have committed; Put then leaves its chunks alone. Such a
//     blob is complete, never partial, and since the service never references
//     a key whose Put failed it is unreferenced garbage.
//   - Garbage: chunks a crash, a lost connection or a failed cleanup left
//     behind have no index row. ListKeys reports them (see Listing), with the
//     bytes stored so far and the time of their newest chunk, and Delete
//     removes them, so a collector that lists, applies a grace period and
//     deletes what no metadata references finds them like the temporary files
//     of the local backend.
//   - Chunked Get: Get reads the index row and the first chunk it needs in
//     one query and returns a reader that fetches the rest a chunk per query,
//     each short, so no connection is held while the caller reads slowly.
//     GetRange is the same reader started at the range's offset (the first
//     query takes the chunk holding it, from that byte on, with substr()) and
//     stopped at its end: it fetches only the chunks the range covers. Keys
//     are immutable, so the chunks are consistent; a key deleted during the
//     read makes Read fail rather than return a short blob.
//   - Delete removes the index row first (the blob disappears at once), then
//     the chunks, 16 per statement from the last to chunk 0, so that the
//     single SQLite writer is never held for the deletion of a whole large
//     blob. A Delete that fails half-way leaves garbage that a later Delete
//     of the same key removes. Delete reports [storage.ErrNotFound] only when
//     the key had neither an index row nor chunks.
//   - Listing: ListKeys is one query per page, in bytewise key order, with
//     the prefix as a key range (never LIKE, where '_' and '%' are
//     wildcards). It merges the page of published keys (index rows, with
//     their size and created_at) with the unpublished keys among the chunk
//     0 rows of the same key range. On PostgreSQL every comparison is
//     COLLATE "C", which the primary keys (on key columns declared COLLATE
//     "C") serve.
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
// Put reads a blob's first 64 KiB and a byte into a buffer of its own: a
// blob that ends there is written from it. A larger one holds two pooled
// chunk buffers, 2 MiB, whatever its size, and Put says so
// ([Store.PutBuffer]) for a [storage.Bucket]'s memory budget to reserve
// them before it takes them; the drivers copy the chunk being written (pgx into its message
// buffer, modernc.org/sqlite into SQLite's own heap), which adds about one
// or two MiB per concurrent upload, not a multiple of the blob. A reader
// holds one pooled chunk buffer, returned on Close. The memory tests
// (TestMemory1GiB, SIMPLEDRIVE_SLOW_TESTS=1) put and read back 1 GiB on
// each engine through a storage.Bucket and bound the growth of the heap.
//
// # Size limits
//
// A value no longer carries a whole blob, so the engines' value limits
// (1 GiB for a PostgreSQL bytea, 10⁹ bytes for a SQLite value) no longer cap
// a blob. What remains is the chunk number, a 32-bit integer: [MaxBlobSize]
// is 2³¹-1 chunks of [ChunkSize], about 2 PiB, on both engines, in practice
// no limit. The database's disk is the limit.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/bytewise"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
)

var (
	_ storage.Driver      = (*Store)(nil)
	_ storage.RangeReader = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
	_ storage.Buffering   = (*Store)(nil)
)

// ChunkSize is the size of the chunks Put writes, and of every chunk but a
// blob's last. Reads use the chunk size recorded in the blob's index row.
const ChunkSize = 1 << 20

// maxChunks is the number of chunks a blob can have: seq is a 32-bit
// integer on PostgreSQL.
const maxChunks = 1<<31 - 1

// deleteBatch is the number of chunks one DELETE statement removes.
const deleteBatch = 16

// The statements, identical on both engines: each accepts $n placeholders
// and has length(blob) and substr(blob, from, count), both counting bytes
// (substr from 1). The casts fix the parameters' types on PostgreSQL.
const (
	insertChunkQuery = `INSERT INTO blob_data (key, seq, data, created_at) VALUES ($1, $2, $3, $4)`
	publishQuery     = `INSERT INTO blob_data_index (key, size, chunk_size, created_at) VALUES ($1, $2, $3, $4)`
	// firstQuery reads the index row of $1 and up to $3 bytes of the chunk
	// holding offset $2, from that offset on; the chunk's bytes are NULL
	// when the offset is at or past the end of the blob.
	firstQuery = `SELECT i.size, i.chunk_size,
	substr(c.data, CAST(CAST($2 AS BIGINT) % i.chunk_size + 1 AS INTEGER), CAST($3 AS INTEGER))
FROM blob_data_index AS i
LEFT JOIN blob_data AS c ON c.key = i.key AND c.seq = CAST($2 AS BIGINT) / i.chunk_size
WHERE i.key = $1`
	// chunkQuery reads $4 bytes of chunk $2 from its byte $3 (from 1) on.
	chunkQuery       = `SELECT substr(data, $3, $4) FROM blob_data WHERE key = $1 AND seq = $2`
	existsQuery      = `SELECT EXISTS (SELECT 1 FROM blob_data_index WHERE key = $1)`
	unpublishQuery   = `DELETE FROM blob_data_index WHERE key = $1`
	lastSeqQuery     = `SELECT max(seq) FROM blob_data WHERE key = $1`
	deleteChunksFrom = `DELETE FROM blob_data WHERE key = $1 AND seq >= $2`
)

// listQuery returns the statement of ListKeys: the keys after $1 from $2
// on, below $3, in bytewise order, at most $4 of them. collate is
// ` COLLATE "C"` on PostgreSQL, whose default collation may not be bytewise,
// and empty on SQLite, whose BINARY default is. Every comparison takes the
// collation, so that the filter and the order agree and a page ends where
// the next begins.
//
// The page of published keys comes from the index; the unpublished keys
// (chunk 0 without an index row) are looked for only up to the last key of
// that page when it is full, so each page scans the chunk rows of its own
// key range and no more.
func listQuery(collate string) string {
	return fmt.Sprintf(`WITH page AS (
	SELECT key%[1]s AS key, size, created_at FROM blob_data_index
	WHERE key%[1]s > $1 AND key%[1]s >= $2 AND key%[1]s < $3
	ORDER BY key%[1]s LIMIT $4
), bound AS (
	SELECT CASE WHEN count(*) < $4 THEN $3 ELSE max(key) END AS hi FROM page
)
SELECT key, size, created_at FROM page
UNION ALL
SELECT c.key%[1]s,
	(SELECT sum(length(d.data)) FROM blob_data AS d WHERE d.key = c.key),
	(SELECT max(d.created_at) FROM blob_data AS d WHERE d.key = c.key)
FROM blob_data AS c
WHERE c.seq = 0 AND c.key%[1]s > $1 AND c.key%[1]s >= $2 AND c.key%[1]s < $3
	AND c.key%[1]s <= (SELECT hi FROM bound)
	AND NOT EXISTS (SELECT 1 FROM blob_data_index AS i WHERE i.key = c.key)
ORDER BY 1 LIMIT $4`, collate)
}

// CommitTimeout bounds the wait for the answer to the COMMIT that publishes
// a blob, which ignores the cancellation of the Put's context, and the
// cleanup of a failed Put; see the package documentation.
const CommitTimeout = 30 * time.Second

// MaxBlobSize returns the largest blob, in bytes, that a [Store] on the given
// engine accepts, or 0 for an unknown engine: 2³¹-1 chunks of [ChunkSize]
// (about 2 PiB) on both engines, in practice no limit.
func MaxBlobSize(dialect db.Dialect) int64 {
	switch dialect {
	case db.Postgres, db.SQLite:
		return maxChunks * ChunkSize
	}
	return 0
}

// Store is the database [storage.Driver]. It is safe for concurrent use.
type Store struct {
	db *db.DB
	// chunk is the size of the chunks Put writes: ChunkSize, or less in
	// tests.
	chunk int
	// list is the listing statement.
	list string
	// fetchHook, when set by a test, is called before every chunk query
	// with the blob offset and the number of bytes asked for.
	fetchHook func(off, n int64)
}

// New returns a Store on d, which must be open and migrated (db.Open does
// both). The Store does not own d: closing d is the caller's business.
func New(d *db.DB) *Store {
	collate := ` COLLATE "C"`
	if d.Dialect() == db.SQLite {
		collate = ""
	}
	return &Store{db: d, chunk: ChunkSize, list: listQuery(collate)}
}

// maxSize is the largest blob s stores.
func (s *Store) maxSize() int64 { return maxChunks * int64(s.chunk) }

// bufPool holds chunk buffers of ChunkSize bytes, shared by Puts and
// readers.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, ChunkSize)
	return &b
}}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// smallBlob is the most bytes a Put reads into a buffer of its own before
// it takes its chunk buffers: a blob that ends there needs none.
const smallBlob = 64 << 10

// head is how many bytes a Put reads before it takes its chunk buffers:
// smallBlob and a byte, or one chunk when chunks are smaller.
func (s *Store) head() int { return min(smallBlob+1, s.chunk) }

// PutBuffer implements [storage.Buffering]: a Put holds its two chunk
// buffers once it has read more than smallBlob bytes (all but one byte of
// its head).
func (s *Store) PutBuffer(int64) storage.Buffer {
	return storage.Buffer{Bytes: 2 * int64(s.chunk), After: int64(s.head() - 1)}
}

// GetBuffer implements [storage.GetBuffering]: an open reader holds one
// pooled chunk buffer.
func (s *Store) GetBuffer() int64 { return ChunkSize }

// Put implements [storage.Driver]: chunk by chunk, publishing the blob last;
// see the package documentation.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	limit := s.maxSize()
	if size > limit {
		return fmt.Errorf("size %d over %d, the most the database backend stores", size, limit)
	}
	p := &put{s: s, ctx: ctx, key: key, at: time.Now().UTC()}
	return p.settle(p.run(r, limit))
}

// settle maps the error that ended a write and, when there is one, deletes
// what the write stored (see cleanup).
func (p *put) settle(err error) error {
	err = mapError(err)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrUnavailable):
		// The database is out of reach (or the wait for it timed out):
		// the cleanup would wait as long again, so it runs on its own.
		go p.cleanup()
	default:
		p.cleanup()
	}
	return err
}

// put is the state of one Put.
type put struct {
	s   *Store
	ctx context.Context
	key string
	at  time.Time // created_at of every row
	// written is the number of chunks that may be committed: the chunks
	// 0..written-1 are to be deleted if the Put fails.
	written int
	// published is set once the blob may have been published (the COMMIT
	// of its index row was sent and did not clearly fail): its chunks are
	// then left alone.
	published bool
}

func (p *put) run(r io.Reader, limit int64) error {
	// A small blob, nearly every one, is read into a buffer of its own
	// and needs no chunk buffer.
	head := make([]byte, p.s.head())
	n, eof, err := readChunk(r, head)
	if err != nil {
		return err
	}
	if eof {
		return p.publish(head[:n], int64(n))
	}
	cur, next := getBuf(), getBuf()
	defer putBuf(cur)
	defer putBuf(next)
	copy(*cur, head)
	m, eof, err := readChunk(r, (*cur)[n:p.s.chunk])
	if err != nil {
		return err
	}
	n += m
	var total int64
	for {
		total += int64(n)
		if total > limit {
			return fmt.Errorf("%w: more than %d bytes, the most the database backend stores", storage.ErrSizeMismatch, limit)
		}
		if !eof {
			// A full chunk: whether it is the last, only the next
			// read says.
			m, nextEOF, err := readChunk(r, (*next)[:p.s.chunk])
			if err != nil {
				return err
			}
			if m > 0 || !nextEOF {
				if err := p.insertChunk((*cur)[:n]); err != nil {
					return err
				}
				cur, next = next, cur
				n, eof = m, nextEOF
				continue
			}
		}
		return p.publish((*cur)[:n], total)
	}
}

// readChunk fills buf from r. It returns the number of bytes read and
// whether r ended (then the chunk may be short, even empty).
func readChunk(r io.Reader, buf []byte) (int, bool, error) {
	n, err := io.ReadFull(r, buf)
	switch err {
	case nil:
		return n, false, nil
	case io.EOF, io.ErrUnexpectedEOF:
		return n, true, nil
	}
	return n, false, err
}

// insertChunk writes data as the next chunk, in a statement of its own.
func (p *put) insertChunk(data []byte) error {
	_, err := p.s.db.Writer().ExecContext(p.ctx, insertChunkQuery, p.key, p.written, data, p.at)
	if err == nil || p.s.db.MaybeCommitted(err) {
		p.written++
	}
	return cancelled(p.ctx, err)
}

// publish writes the last chunk, unless empty, and the index row in one
// transaction. Until the COMMIT is sent, cancelling p.ctx ends the
// transaction without a trace; the COMMIT itself runs to its answer, within
// CommitTimeout.
func (p *put) publish(last []byte, size int64) error {
	ctx := p.ctx
	// database/sql rolls a transaction back when its context ends, so the
	// transaction gets a context of its own, which ctx cancels only until
	// detach is called: the wait for a connection (on SQLite, for the one
	// writer), BEGIN and the INSERTs follow ctx.
	txCtx, cancelTx := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTx()
	detach := context.AfterFunc(ctx, cancelTx)
	defer detach()
	tx, err := p.s.db.Writer().BeginTx(txCtx, nil)
	if err != nil {
		return cancelled(ctx, err)
	}
	if len(last) > 0 {
		_, err = tx.ExecContext(txCtx, insertChunkQuery, p.key, p.written, last, p.at)
	}
	if err == nil {
		_, err = tx.ExecContext(txCtx, publishQuery, p.key, size, p.s.chunk, p.at)
	}
	if err != nil || !detach() {
		// ctx ended or an INSERT failed before COMMIT was sent:
		// nothing of this transaction is committed.
		tx.Rollback()
		return cancelled(ctx, err)
	}
	timer := time.AfterFunc(CommitTimeout, cancelTx)
	defer timer.Stop()
	err = tx.Commit()
	p.published = err == nil || p.s.db.MaybeCommitted(err)
	return err
}

// cleanup deletes the chunks of a failed Put, best effort, within
// CommitTimeout, unless its blob may have been published. Chunks it cannot
// delete stay as garbage, which ListKeys reports.
func (p *put) cleanup() {
	if p.published || p.written == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(p.ctx), CommitTimeout)
	defer cancel()
	_ = p.s.deleteChunks(ctx, p.key, p.written-1)
}

// deleteChunks deletes the chunks of key up to seq last, deleteBatch per
// statement from the last down, so chunk 0 goes last and a key that has
// chunks always has chunk 0.
func (s *Store) deleteChunks(ctx context.Context, key string, last int) error {
	for from := last; from >= 0; from -= deleteBatch {
		if _, err := s.db.Writer().ExecContext(ctx, deleteChunksFrom, key, max(0, from-deleteBatch+1)); err != nil {
			return err
		}
	}
	return nil
}

// cancelled returns err, or ctx's error when ctx has ended: a statement
// interrupted by the end of ctx fails with the error of the transaction's
// own context, which does not tell a cancellation from a deadline. A
// statement that succeeded after ctx ended still gives ctx's error.
func cancelled(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
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
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	// No blob is longer than maxChunks chunks of ChunkSize: an offset past
	// that reads nothing.
	offset = min(offset, maxChunks*ChunkSize)
	length = min(length, maxChunks*ChunkSize-offset)
	n := min(length, ChunkSize)
	if s.fetchHook != nil {
		s.fetchHook(offset, n)
	}
	pooled := getBuf()
	var size, chunk int64
	first, err := s.fetch(ctx, firstQuery, []any{key, offset, n}, (*pooled)[:0], &size, &chunk)
	if err != nil {
		putBuf(pooled)
		return nil, err
	}
	end := max(offset, min(size, offset+length))
	if want := min(end-offset, chunk-offset%chunk); int64(len(first)) != want {
		putBuf(pooled)
		return nil, fmt.Errorf("first chunk has %d bytes, want %d: %w", len(first), want, io.ErrUnexpectedEOF)
	}
	return &reader{s: s, ctx: ctx, key: key, chunk: chunk, end: end, next: offset + int64(len(first)), pooled: pooled, buf: first}, nil
}

// fetch runs query, whose one row ends with a column of bytes: it scans
// the columns before into dest and appends the bytes to buf, which it
// returns. No row gives storage.ErrNotFound; NULL bytes give none.
func (s *Store) fetch(ctx context.Context, query string, args []any, buf []byte, dest ...any) ([]byte, error) {
	rows, err := s.db.Reader().QueryContext(ctx, query, args...)
	if err != nil {
		return buf, mapError(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return buf, mapError(err)
		}
		return buf, mapError(sql.ErrNoRows)
	}
	var raw sql.RawBytes // the driver's bytes, copied once into buf
	if err := rows.Scan(append(dest, &raw)...); err != nil {
		return buf, mapError(err)
	}
	buf = append(buf, raw...)
	return buf, mapError(rows.Close())
}

// errClosed is returned by Read after Close.
var errClosed = errors.New("sqlstore: read after close")

// reader streams one blob, fetching a chunk per query.
type reader struct {
	s      *Store
	ctx    context.Context // the Get's context, used for every fetch
	key    string
	chunk  int64   // the blob's chunk size
	end    int64   // offset of the end of the range read
	next   int64   // offset of the first byte not fetched yet
	pooled *[]byte // the pooled buffer; nil once closed
	buf    []byte  // the current bytes; buf[pos:] is unread
	pos    int
	err    error // sticky: a failed fetch or Close
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

// fill fetches the next chunk, or the part of it up to the end of the
// range, into the pooled buffer.
func (r *reader) fill() error {
	seq, within := r.next/r.chunk, r.next%r.chunk
	want := min(r.chunk-within, r.end-r.next)
	if r.s.fetchHook != nil {
		r.s.fetchHook(r.next, want)
	}
	buf, err := r.s.fetch(r.ctx, chunkQuery, []any{r.key, seq, within + 1, want}, (*r.pooled)[:0])
	if err != nil {
		return fmt.Errorf("sqlstore: get %q at offset %d: %w", r.key, r.next, err)
	}
	if int64(len(buf)) != want {
		return fmt.Errorf("sqlstore: get %q at offset %d: chunk %d has %d bytes from %d, want %d: %w",
			r.key, r.next, seq, len(buf), within, want, io.ErrUnexpectedEOF)
	}
	r.buf, r.pos = buf, 0
	r.next += want
	return nil
}

// Close implements io.Closer. It returns the buffer to the pool; it never
// fails.
func (r *reader) Close() error {
	if r.pooled != nil {
		putBuf(r.pooled)
		r.pooled = nil
	}
	r.buf, r.pos = nil, 0
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}

// Delete implements [storage.Driver]: the index row first, then the
// chunks; see the package documentation.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	res, err := s.db.Writer().ExecContext(ctx, unpublishQuery, key)
	if err != nil {
		return mapError(err)
	}
	published, err := res.RowsAffected()
	if err != nil {
		return mapError(err)
	}
	var last sql.NullInt64
	if err := s.db.Writer().QueryRowContext(ctx, lastSeqQuery, key).Scan(&last); err != nil {
		return mapError(err)
	}
	if !last.Valid {
		if published == 0 {
			return mapError(sql.ErrNoRows)
		}
		return nil
	}
	return mapError(s.deleteChunks(ctx, key, int(last.Int64)))
}

// Exists implements [storage.Driver]: only published blobs exist.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return false, err
	}
	var ok bool
	if err := s.db.Reader().QueryRowContext(ctx, existsQuery, key).Scan(&ok); err != nil {
		return false, mapError(err)
	}
	return ok, nil
}

// ListKeys implements [storage.Lister]: one query, see the package
// documentation. Unpublished keys (uploads in progress, failed or crashed)
// are listed with the bytes of their chunks and the time of their newest.
func (s *Store) ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]storage.KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if strings.IndexFunc(prefix, func(c rune) bool { return c < 1 || c > 0x7e }) >= 0 {
		return nil, nil // keys are printable ASCII: none has this prefix
	}
	end, ok := bytewise.PrefixEnd(prefix)
	if !ok {
		end = "\x7f" // the prefix is empty: above every printable ASCII key
	}
	rows, err := s.db.Reader().QueryContext(ctx, s.list, startAfter, prefix, end, limit)
	if err != nil {
		return nil, mapError(err)
	}
	defer rows.Close()
	var keys []storage.KeyInfo
	for rows.Next() {
		var k storage.KeyInfo
		var at sqlTime
		if err := rows.Scan(&k.Key, &k.Size, &at); err != nil {
			return nil, mapError(err)
		}
		k.ModTime = at.t
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, mapError(err)
	}
	return keys, nil
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

// sqlTime scans a timestamp. The listing's times of unpublished keys are
// max(created_at), which SQLite returns as the text the driver wrote
// (time.Time.String(), in UTC), without the declared type that makes
// modernc.org/sqlite convert a column to time.Time.
type sqlTime struct{ t time.Time }

// timeFormats are the layouts of SQLite's text timestamps: the driver's
// default (time.Time.String() without the monotonic clock reading), then
// SQLite's own.
var timeFormats = []string{
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

// Scan implements sql.Scanner.
func (st *sqlTime) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case time.Time:
		st.t = v
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("sqlstore: timestamp of type %T", v)
	}
	if i := strings.Index(s, " m="); i >= 0 {
		s = s[:i]
	}
	for _, layout := range timeFormats {
		if t, err := time.Parse(layout, s); err == nil {
			st.t = t
			return nil
		}
	}
	return fmt.Errorf("sqlstore: timestamp %q in no known format", s)
}
