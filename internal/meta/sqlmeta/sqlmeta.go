// Package sqlmeta is the [meta.Store], every role of it, over Simple
// Drive's SQL database: SQLite or PostgreSQL, opened and migrated by
// package db.
//
// Inserts use INSERT ... ON CONFLICT (id) DO NOTHING, portable across both
// engines, so the primary key decides races between replicas. Listings
// compare ids bytewise: SQLite's default BINARY collation does, and on
// PostgreSQL every comparison and ORDER BY says COLLATE "C".
package sqlmeta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/bytewise"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
)

var (
	_ meta.Store        = (*Store)(nil)
	_ meta.CachedGetter = (*Store)(nil)
)

// Store is the SQL [meta.Store]. It is safe for concurrent use.
//
// # Group commit
//
// On SQLite, inserts and deletes of records that arrive together share one
// transaction and so one fsync (see [group]): each returns once the commit
// of its batch returned, so an insert reported done is on disk, and one
// whose batch failed reports that failure. On PostgreSQL, whose pool
// commits many transactions at once, each write is its own transaction.
type Store struct {
	db      *db.DB
	collate string // appended to id comparisons: bytewise on every engine
	instr   string // the function giving where one text starts in another
	group   *group // SQLite's grouped commits; nil on PostgreSQL
	// The statements of the hot path, prepared on SQLite (see [stmt]).
	get, insert *stmt
	lookup      *db.Lookup   // get's query below database/sql, on SQLite; nil elsewhere
	cache       *recordCache // records Get read, on SQLite; nil elsewhere
}

// New returns a Store over d.
func New(d *db.DB) *Store {
	s := &Store{db: d, instr: "instr"}
	var reader, writer *sql.DB // the pools statements are prepared on: none on PostgreSQL
	switch d.Dialect() {
	case db.Postgres:
		s.collate, s.instr = ` COLLATE "C"`, "strpos"
	case db.SQLite:
		reader, writer = d.Reader(), d.Writer()
	}
	s.get = newStmt(reader, getQuery)
	s.lookup = d.Lookup(getQuery)
	if s.lookup != nil {
		s.cache = newRecordCache(d.Changes())
	}
	s.insert = newStmt(writer, `INSERT INTO blob_metadata (`+recordColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			 ON CONFLICT (id) DO NOTHING`)
	if writer != nil {
		s.group = newGroup(writer, s.insert)
	}
	return s
}

// getQuery reads one record, inline data included.
const getQuery = `SELECT ` + recordColumns + ` FROM blob_metadata WHERE id = $1`

// columns are a record's columns but its inline data: what listings read.
const columns = `id, size, sha256, crc32c, content_type, backend, storage_key, created_at, md5, key_id, wrapped_key, s3_headers`

// recordColumns are every column of a record, its inline data last.
const recordColumns = columns + `, data`

// tx is what one write needs of a connection or transaction.
type tx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in a transaction of its own, or, on SQLite, in the next
// grouped commit. ctx bounds the wait for a transaction on PostgreSQL; on
// SQLite a write that has joined a batch runs to its end with the batch.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, t tx) error) error {
	if err := ctx.Err(); err != nil {
		return notSent{err}
	}
	if s.group != nil {
		return s.group.do(func(ctx context.Context, t *sql.Tx) error { return fn(ctx, t) })
	}
	t, err := s.db.Writer().BeginTx(ctx, nil)
	if err != nil {
		return notSent{err}
	}
	defer t.Rollback()
	if err := fn(ctx, t); err != nil {
		// The transaction is rolled back: nothing of it commits.
		return notSent{err}
	}
	return t.Commit()
}

// Insert implements [meta.RecordStore].
func (s *Store) Insert(ctx context.Context, r meta.Record) (bool, error) {
	var inserted bool
	// The arguments are made here, not in the grouped commit, where
	// every write of a batch waits for them.
	args := []any{r.ID, r.Size, r.SHA256, crc32c(r), r.ContentType, r.Backend, r.StorageKey, r.CreatedAt.UTC(), md5(r), keyID(r), wrappedKey(r), s3Headers(r), inlineData(r)}
	err := s.write(ctx, func(ctx context.Context, t tx) error {
		res, err := s.insert.exec(ctx, t, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		inserted = n == 1
		return err
	})
	if err != nil {
		return false, s.writeError("insert", err)
	}
	return inserted, nil
}

// Get implements [meta.RecordStore]. On SQLite it reads the record through
// [db.Lookup], and through database/sql only when that cannot (see
// [db.Lookup.Row]): a busy file, a value of a type or form it does not
// read (see [lookupRecord]), an error to report.
//
// On SQLite it keeps the records it read, and answers from them while no
// transaction has committed since, by any connection of any process (see
// [recordCache]).
func (s *Store) Get(ctx context.Context, id string) (meta.Record, error) {
	if s.lookup != nil {
		var before db.Stamp
		stamped := false
		if s.cache != nil {
			if before, stamped = s.cache.changes.Stamp(); stamped {
				if r, ok := s.cache.get(id, before); ok {
					return r, nil
				}
			}
		}
		var r meta.Record
		found, ok := s.lookup.Row(ctx, id, func(row db.Row) bool { return lookupRecord(row, &r) })
		switch {
		case ok && found:
			if stamped {
				if after, ok := s.cache.changes.Stamp(); ok && after == before {
					s.cache.put(before, r)
				}
			}
			return r, nil
		case ok:
			return meta.Record{}, fmt.Errorf("sqlmeta: get: %w", meta.ErrNotFound)
		}
	}
	return s.getSQL(ctx, id)
}

// getSQL is Get through database/sql.
func (s *Store) getSQL(ctx context.Context, id string) (meta.Record, error) {
	r, err := scanWithData(s.get.queryRow(ctx, s.db.Reader(), id))
	if err != nil {
		return meta.Record{}, fmt.Errorf("sqlmeta: get: %w", mapError(err))
	}
	return r, nil
}

// GetCached implements [meta.CachedGetter]: a record Get kept, on SQLite,
// if no transaction has committed since Get read it.
func (s *Store) GetCached(id string) (meta.Record, bool) {
	if s.cache == nil {
		return meta.Record{}, false
	}
	now, ok := s.cache.changes.Stamp()
	if !ok {
		return meta.Record{}, false
	}
	return s.cache.get(id, now)
}

// Delete implements [meta.RecordStore].
func (s *Store) Delete(ctx context.Context, id string, notBefore time.Time) (meta.Record, error) {
	var r meta.Record
	err := s.write(ctx, func(ctx context.Context, t tx) error {
		var err error
		if r, err = scan(t.QueryRowContext(ctx, `DELETE FROM blob_metadata WHERE id = $1 RETURNING `+columns, id)); err != nil {
			return err
		}
		return addGarbage(ctx, t, meta.Garbage{Backend: r.Backend, StorageKey: r.StorageKey, NotBefore: notBefore})
	})
	if err != nil {
		return meta.Record{}, s.writeError("delete", err)
	}
	return r, nil
}

// List implements [meta.RecordStore]. The prefix is matched by range, not LIKE,
// whose wildcards and case rules differ between engines: every id with the
// prefix sorts at or after it, and before [bytewise.PrefixEnd] of it. The
// lower bounds (prefix, cursor) become one, so each query is one index
// range scan and a page costs O(limit).
//
// With a delimiter the page is one recursive query that walks the index:
// each step seeks to the next id, or, after an id inside a folder, past the
// folder's end (the folder with its delimiter raised by
// [bytewise.PrefixEnd]), so a folder of any size costs one seek.
func (s *Store) List(ctx context.Context, q meta.ListQuery) ([]meta.Record, error) {
	lowOp, low := ">=", max(q.Prefix, q.StartAt)
	if q.StartAfter != "" && q.StartAfter >= low {
		lowOp, low = ">", q.StartAfter
	}
	args := []any{low}
	upper := func(string) string { return "" }
	if end, ok := bytewise.PrefixEnd(q.Prefix); ok {
		args = append(args, end)
		upper = func(col string) string { return fmt.Sprintf(" AND %s%s < $2", col, s.collate) }
	}
	var query string
	if q.Delimiter == "" {
		query = fmt.Sprintf(`SELECT %s FROM blob_metadata WHERE id%s %s $1%s ORDER BY id%s LIMIT %d`,
			columns, s.collate, lowOp, upper("id"), s.collate, q.Limit)
	} else {
		delimEnd, ok := bytewise.PrefixEnd(q.Delimiter)
		if !ok {
			return nil, fmt.Errorf("sqlmeta: list: the delimiter %q has no end", q.Delimiter)
		}
		n := len(args)
		args = append(args, q.Prefix, q.Delimiter, delimEnd)
		query = s.foldedList(lowOp, upper, n+1, q.Limit)
	}
	rows, err := s.db.Reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: list: %w", mapError(err))
	}
	defer rows.Close()
	var out []meta.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlmeta: list: %w", mapError(err))
		}
		if !strings.HasPrefix(r.ID, q.Prefix) {
			break // past the prefix's ids: a prefix without an end has no upper bound
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: list: %w", mapError(err))
	}
	return out, nil
}

// foldedList returns the statement of a listing with a delimiter: $1 is
// the lower bound (compared by lowOp), upper the condition of the upper
// bound on a column, and from $p on come the prefix, the
// delimiter and the delimiter's end. Positions and lengths are counted by
// the database, in its own characters, on both sides of the comparison.
func (s *Store) foldedList(lowOp string, upper func(col string) string, p, limit int) string {
	c := s.collate
	// pos is where the delimiter starts after the prefix in walk.id, from 1, or 0.
	pos := fmt.Sprintf(`%s(substr(walk.id, length(CAST($%d AS TEXT)) + 1), CAST($%d AS TEXT))`, s.instr, p, p+1)
	next := func(cond string) string {
		return fmt.Sprintf(`(SELECT b.id FROM blob_metadata b WHERE b.id%s %s%s ORDER BY b.id%s LIMIT 1)`, c, cond, upper("b.id"), c)
	}
	return fmt.Sprintf(`WITH RECURSIVE walk(n, id) AS (
	SELECT 1, %s
	UNION ALL
	SELECT walk.n + 1, CASE WHEN %s > 0
		THEN %s
		ELSE %s END
	FROM walk WHERE walk.id IS NOT NULL AND walk.n < %d
)
SELECT %s FROM walk JOIN blob_metadata m ON m.id = walk.id ORDER BY walk.n`,
		next(lowOp+" $1"),
		pos,
		next(fmt.Sprintf(">= substr(walk.id, 1, length(CAST($%d AS TEXT)) + %s - 1) || CAST($%d AS TEXT)", p, pos, p+2)),
		next("> walk.id"),
		limit, prefixed("m.", columns))
}

// prefixed returns the comma-separated columns, each qualified by table.
func prefixed(table, columns string) string {
	return table + strings.ReplaceAll(columns, ", ", ", "+table)
}

// AddGarbage implements [meta.GarbageStore].
func (s *Store) AddGarbage(ctx context.Context, g meta.Garbage) error {
	if err := addGarbage(ctx, s.db.Writer(), g); err != nil {
		return s.writeError("add garbage", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// addGarbage records g, unless its bytes were a record's own
// ([meta.InlineBackend]): those went with the record.
func addGarbage(ctx context.Context, e execer, g meta.Garbage) error {
	if g.Backend == meta.InlineBackend {
		return nil
	}
	_, err := e.ExecContext(ctx,
		`INSERT INTO blob_garbage (backend, storage_key, not_before) VALUES ($1, $2, $3)
		 ON CONFLICT (backend, storage_key) DO NOTHING`,
		g.Backend, g.StorageKey, g.NotBefore.UnixMicro())
	return err
}

// DueGarbage implements [meta.GarbageStore].
func (s *Store) DueGarbage(ctx context.Context, backend string, now time.Time, limit int) ([]meta.Garbage, error) {
	rows, err := s.db.Reader().QueryContext(ctx,
		`SELECT backend, storage_key, not_before FROM blob_garbage WHERE backend = $1 AND not_before <= $2
		 ORDER BY not_before, storage_key LIMIT `+fmt.Sprint(limit), backend, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("sqlmeta: due garbage: %w", mapError(err))
	}
	defer rows.Close()
	var out []meta.Garbage
	for rows.Next() {
		var g meta.Garbage
		var us int64
		if err := rows.Scan(&g.Backend, &g.StorageKey, &us); err != nil {
			return nil, fmt.Errorf("sqlmeta: due garbage: %w", mapError(err))
		}
		g.NotBefore = time.UnixMicro(us).UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlmeta: due garbage: %w", mapError(err))
	}
	return out, nil
}

// ForgetGarbage implements [meta.GarbageStore].
func (s *Store) ForgetGarbage(ctx context.Context, backend, storageKey string) error {
	_, err := s.db.Writer().ExecContext(ctx,
		`DELETE FROM blob_garbage WHERE backend = $1 AND storage_key = $2`, backend, storageKey)
	if err != nil {
		return s.writeError("forget garbage", err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// scan reads a record of [columns].
func scan(row scanner) (meta.Record, error) { return scanWith(row) }

// scanWithData reads a record of [recordColumns].
func scanWithData(row scanner) (meta.Record, error) {
	var data []byte
	r, err := scanWith(row, &data)
	r.Data = string(data)
	return r, err
}

// scanWith reads a record of [columns] followed by the columns of extra.
func scanWith(row scanner, extra ...any) (meta.Record, error) {
	var r meta.Record
	var crc sql.Null[int64]
	var md5, keyID, headers sql.NullString
	var wrapped []byte
	err := row.Scan(append([]any{&r.ID, &r.Size, &r.SHA256, &crc, &r.ContentType, &r.Backend, &r.StorageKey, &r.CreatedAt, &md5, &keyID, &wrapped, &headers}, extra...)...)
	r.CRC32C, r.HasCRC32C = uint32(crc.V), crc.Valid
	r.MD5, r.S3Headers = md5.String, headers.String
	r.KeyID, r.WrappedKey = keyID.String, string(wrapped)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, err
}

// inlineData is the data column's value for r: its bytes when it holds
// them ([meta.InlineBackend]), else NULL.
func inlineData(r meta.Record) any {
	if r.Backend != meta.InlineBackend {
		return nil
	}
	return []byte(r.Data)
}

// notSent is the error of a write that failed before it reached the
// database, or inside a transaction that was rolled back: nothing can have
// been committed.
type notSent struct{ err error }

func (e notSent) Error() string { return e.err.Error() }
func (e notSent) Unwrap() error { return e.err }

// writeError maps the error of a write, marking with [meta.ErrOutcomeUnknown]
// one that may have been committed nevertheless.
func (s *Store) writeError(op string, err error) error {
	if ns := (notSent{}); !errors.As(err, &ns) && s.db.MaybeCommitted(err) {
		return fmt.Errorf("sqlmeta: %s: %w: %w", op, meta.ErrOutcomeUnknown, mapError(err))
	}
	return fmt.Errorf("sqlmeta: %s: %w", op, mapError(err))
}

// mapError is the one place where this package classifies database errors.
func mapError(err error) error {
	err = db.MapError(err)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return meta.ErrNotFound
	case errors.Is(err, db.ErrUnavailable):
		return fmt.Errorf("%w: %w", meta.ErrUnavailable, err)
	case errors.Is(err, db.ErrDiskFull):
		return fmt.Errorf("%w: %w", meta.ErrInsufficientStorage, err)
	}
	return err
}
