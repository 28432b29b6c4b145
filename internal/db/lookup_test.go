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
