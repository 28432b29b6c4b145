package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
)

func always(blob.Blob) bool { return true }

func sortedKeys(f *fixture) []string { return slices.Sorted(slices.Values(f.store.Keys())) }

func replace(f *fixture, id string, data []byte, match func(blob.Blob) bool) (blob.Blob, error) {
	return f.svc.Replace(context.Background(), blob.Upload{ID: id, Body: bytes.NewReader(data), Size: int64(len(data)), ContentType: "text/plain"}, match)
}

// TestReplace: new bytes first, then the row switched; the old bytes stay
// readable through the grace period (a reader that began before finishes
// whole) and are collected after it; a refused or absent match changes
// nothing and leaves no bytes behind.
func TestReplace(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		old, _ := create(t, f, "r", []byte("the old content"))
		keys := sortedKeys(f)
		_, rc, err := f.svc.Get(ctx, "r") // a read already begun
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()

		if _, err := replace(f, "r", []byte("refused"), func(b blob.Blob) bool { return b.SHA256 != old.SHA256 }); !errors.Is(err, blob.ErrPreconditionFailed) {
			t.Fatalf("Replace with a refusing match: %v; want ErrPreconditionFailed", err)
		}
		if _, err := replace(f, "absent", []byte("x"), always); !errors.Is(err, blob.ErrPreconditionFailed) {
			t.Fatalf("Replace of an absent id: %v; want ErrPreconditionFailed", err)
		}
		if got := sortedKeys(f); !slices.Equal(got, keys) {
			t.Fatalf("refused replaces left keys %v; want %v", got, keys)
		}

		b, err := replace(f, "r", []byte("the new content, longer"), func(b blob.Blob) bool { return b.SHA256 == old.SHA256 })
		if err != nil {
			t.Fatal(err)
		}
		got, data := read(t, f, "r")
		if string(data) != "the new content, longer" || got.SHA256 != b.SHA256 || got.ContentType != "text/plain" || got.Size != 23 {
			t.Fatalf("after Replace: %+v %q", got, data)
		}
		if whole, err := io.ReadAll(rc); err != nil || string(whole) != "the old content" {
			t.Fatalf("the read begun before the replace: %q, %v", whole, err)
		}
		if n, err := f.svc.CollectGarbage(ctx, time.Now()); err != nil || n != 0 {
			t.Fatalf("collection within the grace period removed %d (%v)", n, err)
		}
		if n, err := f.svc.CollectGarbage(ctx, time.Now().Add(options.DeleteGrace+time.Minute)); err != nil || n != 1 {
			t.Fatalf("collection after the grace period removed %d (%v); want the old bytes", n, err)
		}
		if slices.Contains(sortedKeys(f), keys[0]) || f.store.Len() != 1 {
			t.Fatalf("keys after collection: %v; the old key %s should be gone", sortedKeys(f), keys[0])
		}
	})
}

// TestConcurrentReplaces: of replaces that all matched the same blob, the
// compare-and-swap lets exactly one switch the row; the others fail and
// delete their bytes.
func TestConcurrentReplaces(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		old, _ := create(t, f, "c", []byte("v0"))
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won, lost int
		start := make(chan struct{})
		for i := range 8 {
			wg.Go(func() {
				<-start
				_, err := replace(f, "c", []byte{'v', byte('1' + i)}, func(b blob.Blob) bool { return b.SHA256 == old.SHA256 })
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, blob.ErrPreconditionFailed):
					lost++
				default:
					t.Errorf("Replace: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if won != 1 || lost != 7 {
			t.Fatalf("%d replaces won, %d lost; want 1 and 7", won, lost)
		}
		if f.store.Len() != 2 { // the winner's bytes and the old ones, awaiting collection
			t.Fatalf("%d keys stored; want 2: %v", f.store.Len(), sortedKeys(f))
		}
	})
}

// TestMoveCopy: a move changes the id and nothing else (same bytes, same
// key); a copy has the same SHA-256 under a key of its own, so deleting
// the source and collecting its garbage leaves the copy whole.
func TestMoveCopy(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		src, _ := create(t, f, "a/1", []byte("moving bytes"))
		create(t, f, "taken", []byte("x"))
		keys := sortedKeys(f)
		moved, err := f.svc.Move(ctx, "a/1", "b/1")
		if err != nil || moved.ID != "b/1" || moved.SHA256 != src.SHA256 || !moved.CreatedAt.Equal(src.CreatedAt) {
			t.Fatalf("Move = %+v, %v", moved, err)
		}
		if !slices.Equal(sortedKeys(f), keys) {
			t.Fatalf("a move touched the bytes: keys %v, were %v", sortedKeys(f), keys)
		}
		if _, err := f.svc.Stat(ctx, "a/1"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("the source after a move: %v", err)
		}
		if _, err := f.svc.Move(ctx, "a/1", "c"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Move of an absent id: %v", err)
		}
		if _, err := f.svc.Move(ctx, "b/1", "taken"); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("Move onto a taken id: %v", err)
		}
		if _, err := f.svc.Copy(ctx, "b/1", "taken"); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("Copy onto a taken id: %v", err)
		}
		if _, err := f.svc.Move(ctx, "b/1", ""); !errors.Is(err, blob.ErrInvalidID) {
			t.Fatalf("Move to an empty id: %v", err)
		}
		cp, err := f.svc.Copy(ctx, "b/1", "c/1")
		if err != nil || cp.SHA256 != src.SHA256 || cp.Size != src.Size {
			t.Fatalf("Copy = %+v, %v", cp, err)
		}
		if err := f.svc.Delete(ctx, "b/1"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CollectGarbage(ctx, time.Now().Add(2*options.DeleteGrace)); err != nil {
			t.Fatal(err)
		}
		if _, data := read(t, f, "c/1"); string(data) != "moving bytes" {
			t.Fatalf("the copy after its source was collected: %q", data)
		}
		if f.metadataRows(t) != 2 {
			t.Fatalf("%d rows; want taken and c/1", f.metadataRows(t))
		}
	})
}

// TestUsage: counts and sizes under a prefix, and garbage for the whole
// drive only.
func TestUsage(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		create(t, f, "p/a", []byte("12345"))
		create(t, f, "p/b/c", []byte("123"))
		create(t, f, "q", []byte("1234567"))
		create(t, f, "gone", []byte("1234567890"))
		if err := f.svc.Delete(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		u, err := f.svc.Usage(ctx, "", true)
		want := blob.Usage{Blobs: 3, Bytes: 15, GarbageKeys: 1, GarbageBytes: 10}
		if err != nil || u != want {
			t.Fatalf("Usage of the drive = %+v, %v; want %+v", u, err, want)
		}
		u, err = f.svc.Usage(ctx, "p/", false)
		if want := (blob.Usage{Blobs: 2, Bytes: 8}); err != nil || u != want {
			t.Fatalf("Usage of p/ = %+v, %v; want %+v", u, err, want)
		}
		if u, _ := f.svc.Usage(ctx, "none/", false); u != (blob.Usage{}) {
			t.Fatalf("Usage of an empty prefix = %+v", u)
		}
	})
}
