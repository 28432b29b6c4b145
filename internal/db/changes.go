package db

import (
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Changes tells whether a SQLite database has changed, by any connection
// of any process, since a moment before: it reads the header of the
// file's WAL index (its -shm file, which every connection maps).
//
// Every commit in WAL mode rewrites that header before the commit returns,
// and a reader learns of new commits only from it: SQLite itself starts
// each read transaction from the header. The header names the WAL's last
// committed frame and the running checksum up to it, with the WAL's salts,
// which change whenever the WAL starts over; frames up to the last
// committed one never change while the salts stay. Two equal headers
// therefore mean the same committed state, as SQLite reads it.
// The file cannot leave WAL mode, nor its -shm file be truncated,
// recreated or replaced by another process, while one connection of this
// process holds it open: an anchor connection does, for Changes' life.
// Every process of Simple Drive opens the file through [Open], in WAL mode.
type Changes struct {
	mem    []byte // the first page of the -shm file, mapped read-only and shared; nil if not
	anchor *lookupConn
	closed atomic.Bool
}

// Stamp is a state of a SQLite database as [Changes] reads it.
type Stamp struct{ h [6]uint64 }

// walHdrSize is the size of one copy of the WAL index header; the file
// begins with two.
const walHdrSize = 48

// Changes returns a [Changes] of d, or nil on PostgreSQL or when it cannot
// watch the file (not in WAL mode, or the -shm file cannot be mapped).
// [DB.Close] closes it, after the pools. Each call opens one; callers keep
// theirs.
func (d *DB) Changes() *Changes {
	if d.dialect != SQLite {
		return nil
	}
	c := openChanges(d.path)
	if c == nil {
		return nil
	}
	d.mu.Lock()
	closed := d.closed
	if !closed {
		d.changes = append(d.changes, c)
	}
	d.mu.Unlock()
	if closed {
		c.close()
		return nil
	}
	if c.mem == nil {
		return nil // kept only to be closed with d
	}
	return c
}

// openChanges opens a [Changes] of the file at path; nil if it cannot,
// one without mem if it opened the -shm file but cannot map it.
func openChanges(path string) *Changes {
	anchor := openLookupConn("file:" + path)
	if anchor == nil {
		return nil
	}
	// A read opens the WAL and maps the -shm file; the anchor keeps both
	// until it closes.
	const size = 4096 // mapped: the first page
	if mode, ok := anchor.text("PRAGMA journal_mode"); !ok || mode != "wal" || !anchor.exec("SELECT 1 FROM sqlite_schema LIMIT 1\x00") {
		anchor.close()
		return nil
	}
	// The -shm file is named after the database's file as SQLite names it
	// (with symbolic links resolved), not as DATABASE_URL gives it: a
	// stale -shm file beside a link would never change.
	shm := anchor.filename() + "-shm"
	// The anchor maps the first 32 KiB region of the file, so it is at
	// least that long; while the anchor is open no process shortens it.
	if fi, err := os.Stat(shm); err != nil || fi.Size() < size {
		anchor.close()
		return nil
	}
	// A bare descriptor, not an *os.File, whose cleanup would close it
	// once unreachable.
	fd, err := unix.Open(shm, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		anchor.close()
		return nil
	}
	// From here f stays open for the life of the process: closing it
	// would release every lock this process holds on the -shm file, those
	// of SQLite's own connections too (another DB open on the file, a
	// lookup still running while its DB closes).
	c := &Changes{anchor: anchor}
	if mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ, unix.MAP_SHARED); err == nil {
		c.mem = mem
		if _, ok := c.Stamp(); !ok {
			// A header not whole at startup: watch nothing.
			c.mem = nil
			unix.Munmap(mem)
		}
	}
	return c
}

// Stamp returns the database's state now: equal stamps mean no
// transaction committed between their readings. ok is false when the
// header cannot be read whole now (a commit is writing it, or it awaits
// recovery) or c is closed; a caller then must not rely on the stamp.
func (c *Changes) Stamp() (s Stamp, ok bool) {
	if c.closed.Load() {
		return s, false // once closed, another process may shorten the file
	}
	// As SQLite reads the header: both copies, the first first (a writer
	// writes the second first), each load atomic and ordered.
	p := unsafe.Pointer(&c.mem[0])
	var second [6]uint64
	for i := range s.h {
		s.h[i] = atomic.LoadUint64((*uint64)(unsafe.Add(p, 8*i)))
	}
	for i := range second {
		second[i] = atomic.LoadUint64((*uint64)(unsafe.Add(p, walHdrSize+8*i)))
	}
	const isInit = 12 // the offset of the header's isInit byte
	// Checked after the reading: the anchor was open while it took place.
	return s, s.h == second && (*[walHdrSize]byte)(unsafe.Pointer(&s.h))[isInit] == 1 && !c.closed.Load()
}

// close closes the anchor: [DB.Close] calls it after closing the pools.
// The -shm file stays open and its page mapped (one descriptor and 4 KiB
// of address space per [DB.Changes] call, until the process exits): closing the
// descriptor would release every lock this process holds on the file,
// those of connections of another DB on it too, and a Stamp running
// beside close reads memory still mapped; it reports not ok.
func (c *Changes) close() {
	c.closed.Store(true)
	c.anchor.close()
}

// filename returns the path of c's database file, as SQLite resolved it;
// "" if it cannot tell.
func (c *lookupConn) filename() string {
	name := c.cString("main\x00")
	if name == 0 {
		return ""
	}
	defer sqlite3.Xsqlite3_free(c.tls, name)
	return libc.GoString(sqlite3.Xsqlite3_db_filename(c.tls, c.db, name))
}

// text runs query, which has no parameters, and returns the text of its
// first row's first column.
func (c *lookupConn) text(query string) (string, bool) {
	if !c.prepare(query) {
		return "", false
	}
	defer func() {
		sqlite3.Xsqlite3_finalize(c.tls, c.stmt)
		c.stmt = 0
	}()
	if sqlite3.Xsqlite3_step(c.tls, c.stmt) != sqlite3.SQLITE_ROW {
		return "", false
	}
	return string(Row{c: c}.Bytes(0)), true
}
