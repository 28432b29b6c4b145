package local_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
)

// openFiles counts this process's open descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestGetReadsSmallFileWhole: Get of a file of at most local.SmallFile
// bytes holds no descriptor once it returns (the file was read whole and
// closed), reads exactly the file's bytes, and reads nothing once closed;
// one byte larger, the reader holds the file open. A directory at the key
// is not found.
func TestGetReadsSmallFileWhole(t *testing.T) {
	b := newBucket(t, t.TempDir())
	ctx := context.Background()
	for _, size := range []int{0, 1, 1 << 10, local.SmallFile, local.SmallFile + 1} {
		data := strings.Repeat("ab", size)[:size]
		if err := b.Put(ctx, "ab/x", strings.NewReader(data), int64(size)); err != nil {
			t.Fatal(err)
		}
		before := openFiles(t)
		rc, err := b.Get(ctx, "ab/x")
		if err != nil {
			t.Fatal(err)
		}
		held := openFiles(t) - before
		if want := 0; size > local.SmallFile {
			if held != 1 {
				t.Errorf("%d bytes: the reader holds %d descriptors, want the file's", size, held)
			}
		} else if held != want {
			t.Errorf("%d bytes: the reader holds %d descriptors, want none", size, held)
		}
		got, err := io.ReadAll(rc)
		if err != nil || string(got) != data {
			t.Errorf("%d bytes: read %d bytes, %v; want the file's", size, len(got), err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err := rc.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("%d bytes: a Read after Close = %d, %v; want an error", size, n, err)
		}
		if err := b.Delete(ctx, "ab/x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, "ab/cd/x", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "ab/cd"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of a directory = %v, want ErrNotFound", err)
	}
}
