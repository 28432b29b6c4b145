package db

import (
	"context"
	"runtime"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Lookup is a query of one text parameter and at most one row that runs
// on SQLite below database/sql: on connections of its own, each keeping
// the statement prepared, through the SQLite library the driver is built
// on. A read of a blob's record is this query and nothing else, and
// database/sql and the driver cost it more than SQLite does: a goroutine
// watching the context and another watching the rows, column names and
// declared types copied for every query, every value boxed and converted.
//
// The connections are like [DB.Reader]'s: the same file, opened the same
// way, query_only; each query is its own read transaction and sees every
// transaction committed before it started, by any connection of any
// process. They differ in that they never wait for a lock (no
// busy_timeout): a busy file reports not ok, and the caller falls back on
// [DB.Reader], where database/sql waits, within the caller's context.
// A query that finds every connection busy waits for one, within its
// context.
type Lookup struct {
	uri, query string
	slots      chan struct{} // one per connection in use

	mu     sync.Mutex
	idle   []*lookupConn
	closed bool
}

// lookupConn is one SQLite connection of a [Lookup], used by one
// goroutine at a time.
type lookupConn struct {
	tls  *libc.TLS
	db   uintptr // sqlite3*
	stmt uintptr // sqlite3_stmt*, prepared on first use
	arg  uintptr // the parameter's bytes, in SQLite's memory
	argN int     // arg's capacity
}

// Lookup returns a [Lookup] running query, whose one parameter is $1, on
// SQLite; nil on PostgreSQL, where pgx adds no such cost. [DB.Close]
// closes it.
func (d *DB) Lookup(query string) *Lookup {
	if d.dialect != SQLite {
		return nil
	}
	l := &Lookup{uri: "file:" + d.path, query: query, slots: make(chan struct{}, max(4, runtime.GOMAXPROCS(0)))}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		l.close()
	}
	d.lookups = append(d.lookups, l)
	return l
}

// Row runs the query with arg and calls scan with its row, if it has one,
// while the row is current. found reports whether there was a row; ok is
// false when the query could not run here (a busy file, an error, scan
// returning false, ctx done, l closed) and found and scan's work mean
// nothing: the caller then runs the query through [DB.Reader], which also
// reports the error, if there is one.
func (l *Lookup) Row(ctx context.Context, arg string, scan func(Row) bool) (found, ok bool) {
	select {
	case l.slots <- struct{}{}:
	default:
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return false, false
		}
	}
	defer func() { <-l.slots }()
	if ctx.Err() != nil {
		return false, false
	}
	c := l.get()
	if c == nil {
		return false, false
	}
	reusable := false
	// Deferred, so that a panic in scan closes c, ending its read
	// transaction, rather than leave it open for good.
	defer func() { l.put(c, reusable) }()
	found, ok, reusable = c.row(l.query, arg, scan)
	return found, ok
}

// get returns an idle connection, or a new one, or nil if l is closed or
// opening failed. The caller holds a slot.
func (l *Lookup) get() *lookupConn {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if n := len(l.idle); n > 0 {
		c := l.idle[n-1]
		l.idle = l.idle[:n-1]
		l.mu.Unlock()
		return c
	}
	l.mu.Unlock()
	return openLookupConn(l.uri)
}

// put gives c back, or closes it if it is not reusable (a connection in a
// state this code does not know is not reused) or l is closed.
func (l *Lookup) put(c *lookupConn, reusable bool) {
	l.mu.Lock()
	if reusable && !l.closed {
		l.idle = append(l.idle, c)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	c.close()
}

// close closes the idle connections, and each busy one once it is put back.
func (l *Lookup) close() {
	l.mu.Lock()
	idle := l.idle
	l.idle, l.closed = nil, true
	l.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// openLookupConn opens a connection to uri (a file: URI, as the driver
// opens it), query_only; nil if that fails.
func openLookupConn(uri string) *lookupConn {
	c := &lookupConn{tls: libc.NewTLS()}
	// Everything allocated with c.tls is freed before c.tls is closed.
	name := c.cString(uri + "\x00")
	pdb := sqlite3.Xsqlite3_malloc64(c.tls, 8)
	if name == 0 || pdb == 0 {
		sqlite3.Xsqlite3_free(c.tls, name)
		sqlite3.Xsqlite3_free(c.tls, pdb)
		c.tls.Close()
		return nil
	}
	*(*uintptr)(cPtr(pdb)) = 0
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb,
		sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_URI|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	c.db = *(*uintptr)(cPtr(pdb))
	sqlite3.Xsqlite3_free(c.tls, pdb)
	sqlite3.Xsqlite3_free(c.tls, name)
	if rc != sqlite3.SQLITE_OK || !c.exec("PRAGMA query_only = 1\x00") {
		c.close()
		return nil
	}
	return c
}

// cString copies s, which ends in a NUL, into SQLite's memory; 0 if
// that fails.
func (c *lookupConn) cString(s string) uintptr {
	p := sqlite3.Xsqlite3_malloc64(c.tls, uint64(len(s)))
	if p != 0 {
		copy(unsafe.Slice((*byte)(cPtr(p)), len(s)), s)
	}
	return p
}

// exec runs sql, which ends in a NUL.
func (c *lookupConn) exec(sql string) bool {
	p := c.cString(sql)
	defer sqlite3.Xsqlite3_free(c.tls, p)
	return p != 0 && sqlite3.Xsqlite3_exec(c.tls, c.db, p, 0, 0, 0) == sqlite3.SQLITE_OK
}

// row runs query with arg on c; see [Lookup.Row]. reusable reports that
// c's statement was reset, so c is in a state to be used again (a scan
// that declined its row leaves it so).
func (c *lookupConn) row(query, arg string, scan func(Row) bool) (found, ok, reusable bool) {
	if c.stmt == 0 && !c.prepare(query) {
		return false, false, false
	}
	// Never a null pointer, which SQLite would bind as NULL, not ''.
	if c.arg == 0 || len(arg) > c.argN {
		sqlite3.Xsqlite3_free(c.tls, c.arg)
		n := max(len(arg), 1)
		c.arg, c.argN = sqlite3.Xsqlite3_malloc64(c.tls, uint64(n)), n
		if c.arg == 0 {
			c.argN = 0
			return false, false, false
		}
	}
	if len(arg) > 0 {
		copy(unsafe.Slice((*byte)(cPtr(c.arg)), len(arg)), arg)
	}
	// SQLITE_STATIC: c.arg outlives the binding, which is cleared below.
	if sqlite3.Xsqlite3_bind_text(c.tls, c.stmt, 1, c.arg, int32(len(arg)), sqlite3.SQLITE_STATIC) != sqlite3.SQLITE_OK {
		return false, false, false
	}
	switch sqlite3.Xsqlite3_step(c.tls, c.stmt) {
	case sqlite3.SQLITE_ROW:
		found, ok = true, scan(Row{c: c})
	case sqlite3.SQLITE_DONE:
		found, ok = false, true
	}
	// Resetting ends the read transaction; it fails only as the step did.
	reusable = sqlite3.Xsqlite3_reset(c.tls, c.stmt) == sqlite3.SQLITE_OK
	sqlite3.Xsqlite3_clear_bindings(c.tls, c.stmt)
	return found, ok && reusable, reusable
}

// prepare prepares query, whose text ends at its first NUL, on c.
func (c *lookupConn) prepare(query string) bool {
	sql := c.cString(query + "\x00")
	pstmt := sqlite3.Xsqlite3_malloc64(c.tls, 8)
	defer sqlite3.Xsqlite3_free(c.tls, sql)
	defer sqlite3.Xsqlite3_free(c.tls, pstmt)
	if sql == 0 || pstmt == 0 {
		return false
	}
	*(*uintptr)(cPtr(pstmt)) = 0
	rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, sql, -1, pstmt, 0)
	c.stmt = *(*uintptr)(cPtr(pstmt))
	return rc == sqlite3.SQLITE_OK && c.stmt != 0
}

func (c *lookupConn) close() {
	if c.stmt != 0 {
		sqlite3.Xsqlite3_finalize(c.tls, c.stmt)
	}
	sqlite3.Xsqlite3_free(c.tls, c.arg)
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	}
	c.tls.Close()
}

// Row is the current row of a [Lookup], valid during its scan function.
type Row struct{ c *lookupConn }

// The types of a value, as SQLite stores it.
const (
	Integer = sqlite3.SQLITE_INTEGER
	Text    = sqlite3.SQLITE_TEXT
	Blob    = sqlite3.SQLITE_BLOB
	Null    = sqlite3.SQLITE_NULL
)

// Type returns the type of column i's value (from 0): [Integer], [Text],
// [Blob], [Null] or another.
func (r Row) Type(i int) int {
	return int(sqlite3.Xsqlite3_column_type(r.c.tls, r.c.stmt, int32(i)))
}

// Int64 returns column i's value as an integer.
func (r Row) Int64(i int) int64 {
	return sqlite3.Xsqlite3_column_int64(r.c.tls, r.c.stmt, int32(i))
}

// Bytes returns column i's value, text or blob, as bytes of SQLite's
// memory: valid only until the scan function returns, to be copied.
func (r Row) Bytes(i int) []byte {
	var p uintptr
	if r.Type(i) == Text {
		p = sqlite3.Xsqlite3_column_text(r.c.tls, r.c.stmt, int32(i))
	} else {
		p = sqlite3.Xsqlite3_column_blob(r.c.tls, r.c.stmt, int32(i))
	}
	n := sqlite3.Xsqlite3_column_bytes(r.c.tls, r.c.stmt, int32(i))
	if p == 0 || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cPtr(p)), n)
}

// cPtr is the pointer p holds, to memory SQLite allocated, which the Go
// garbage collector neither moves nor frees.
func cPtr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }
