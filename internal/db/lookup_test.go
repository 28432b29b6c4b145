package db

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// TestLookupWaitsForAConnection has a lookup find every connection busy:
// it waits for one rather than report not ok (which sends its caller to
// database/sql), until its context is done.
func TestLookupWaitsForAConnection(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l := d.Lookup(`SELECT $1`)
	one := func(ctx context.Context) (string, bool) {
		var got string
		found, ok := l.Row(ctx, "x", func(r Row) bool { got = string(r.Bytes(0)); return true })
		return got, found && ok
	}
	if got, ok := one(ctx); !ok || got != "x" {
		t.Fatalf("lookup = %q, %v; want x, ok", got, ok)
	}
	for range cap(l.slots) { // every connection busy
		l.slots <- struct{}{}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := one(canceled); ok {
		t.Error("a lookup with every connection busy and its context done reported ok")
	}
	waiting := &waitingCtx{Context: ctx, waits: make(chan struct{})}
	done := make(chan bool)
	go func() {
		_, ok := one(waiting)
		done <- ok
	}()
	select {
	case <-waiting.waits:
	case ok := <-done:
		t.Fatalf("a lookup that found every connection busy returned at once (ok %v) rather than wait", ok)
	}
	<-l.slots // one connection free
	if !<-done {
		t.Error("a lookup that found every connection busy did not run once one was free")
	}
}

// waitingCtx is a context that reports, on waits, the first time a
// caller asks for its Done channel: a lookup does only to wait.
type waitingCtx struct {
	context.Context
	once  sync.Once
	waits chan struct{}
}

func (c *waitingCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waits) })
	return c.Context.Done()
}

// TestLookupClosedDB has a lookup made after its database closed: it
// opens no connection (which nothing would close) and reports not ok.
func TestLookupClosedDB(t *testing.T) {
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	l := d.Lookup(`SELECT $1`)
	if _, ok := l.Row(context.Background(), "x", func(Row) bool { return true }); ok {
		t.Error("a lookup of a closed database ran")
	}
	if len(l.idle) != 0 {
		t.Errorf("a lookup of a closed database kept %d connections", len(l.idle))
	}
}

// TestLookupPanicEndsTransaction has a scan panic while its row is
// current: the connection is closed, so its read transaction ends and a
// checkpoint can still empty the log.
func TestLookupPanicEndsTransaction(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w := d.Writer()
	if _, err := w.ExecContext(ctx, `CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	l := d.Lookup(`SELECT x FROM t WHERE x = $1`)
	func() {
		defer func() { _ = recover() }()
		l.Row(ctx, "x", func(Row) bool { panic("scan") })
	}()
	if _, err := w.ExecContext(ctx, `PRAGMA busy_timeout = 0; INSERT INTO t VALUES ('y')`); err != nil {
		t.Fatal(err)
	}
	var busy, frames, done int
	if err := w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		t.Fatal(err)
	}
	if busy != 0 {
		t.Fatal("after a scan panicked, a read transaction still holds the log: the checkpoint was busy")
	}
	if len(l.idle) != 0 {
		t.Errorf("the connection whose scan panicked was kept: %d idle", len(l.idle))
	}
}

// TestLookupEmptyArg binds an empty argument as ”, as database/sql
// does, on a fresh connection as on a used one.
func TestLookupEmptyArg(t *testing.T) {
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l := d.Lookup(`SELECT typeof($1)`)
	for i := range 2 {
		var got string
		found, ok := l.Row(context.Background(), "", func(r Row) bool { got = string(r.Bytes(0)); return true })
		if !found || !ok || got != "text" {
			t.Fatalf("lookup %d of '': %q (found %v, ok %v); want text", i, got, found, ok)
		}
	}
}

// TestLookupDeclinedRowKeepsConnection: a scan that declines its row
// (the caller then reads it through database/sql) leaves the connection
// reset and kept for the next lookup.
func TestLookupDeclinedRowKeepsConnection(t *testing.T) {
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	l := d.Lookup(`SELECT $1`)
	if found, ok := l.Row(context.Background(), "x", func(Row) bool { return false }); !found || ok {
		t.Fatalf("declined row: found %v, ok %v; want found, not ok", found, ok)
	}
	if len(l.idle) != 1 {
		t.Errorf("after a declined row, %d idle connections; want the one kept", len(l.idle))
	}
}
