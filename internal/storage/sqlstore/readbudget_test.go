package sqlstore_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// TestReaderReservesItsChunk checks that an open reader of the database
// backend holds its chunk buffer in the Bucket's memory budget: with room
// for one, a second Get or GetRange fails with ErrBusy while the first is
// open, and succeeds once it is closed; nothing stays reserved.
func TestReaderReservesItsChunk(t *testing.T) {
	ctx := context.Background()
	b := newBucket(engines()["SQLite"](t))
	mem := &storagetest.Memory{Limit: sqlstore.ChunkSize}
	b.SetMemory(mem)
	if err := b.Put(ctx, "ab/cd/k", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	first, err := b.Get(ctx, "ab/cd/k")
	if err != nil {
		t.Fatal(err)
	}
	if got := mem.InUse(); got != sqlstore.ChunkSize {
		t.Fatalf("an open reader reserves %d bytes; want %d", got, sqlstore.ChunkSize)
	}
	if _, err := b.Get(ctx, "ab/cd/k"); !errors.Is(err, storage.ErrBusy) {
		t.Fatalf("Get beyond the budget = %v; want ErrBusy", err)
	}
	if _, err := b.GetRange(ctx, "ab/cd/k", 1, 2); !errors.Is(err, storage.ErrBusy) {
		t.Fatalf("GetRange beyond the budget = %v; want ErrBusy", err)
	}
	first.Close()
	first.Close() // a second Close releases nothing more
	rc, err := b.GetRange(ctx, "ab/cd/k", 1, 2)
	if err != nil {
		t.Fatalf("GetRange after the first reader closed: %v", err)
	}
	if got, err := io.ReadAll(rc); err != nil || string(got) != "el" {
		t.Fatalf("GetRange read %q, %v", got, err)
	}
	rc.Close()
	if _, err := b.Get(ctx, "ab/cd/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v", err)
	}
	if got := mem.InUse(); got != 0 {
		t.Fatalf("%d bytes stay reserved after every reader closed or failed", got)
	}
}
