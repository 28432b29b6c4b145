package local_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// BenchmarkPut1KiB puts 1 KiB blobs from 16 concurrent callers per CPU
// under a layout of 256 shard directories: spread over all of them
// (Sharded, as hashed keys are), or 32 consecutive keys to a directory
// (InTurn, as the service makes keys for this backend, so that
// concurrent Puts share directory syncs); and (OneDirectory) into one
// directory, as tus parts are.
func BenchmarkPut1KiB(b *testing.B) {
	b.Run("Sharded", func(b *testing.B) {
		benchmarkPut(b, 1<<10, 16, sharded)
	})
	b.Run("InTurn", func(b *testing.B) {
		benchmarkPut(b, 1<<10, 16, func(i int64) string { return fmt.Sprintf("%02x/bench-%d", byte(i/32), i) })
	})
	b.Run("OneDirectory", func(b *testing.B) {
		benchmarkPut(b, 1<<10, 16, func(i int64) string { return fmt.Sprintf("tus/bench-%d", i) })
	})
}

func sharded(i int64) string { return fmt.Sprintf("%02x/bench-%d", i%256, i) }

// BenchmarkPut1MiB puts 1 MiB blobs from 4 concurrent callers per CPU,
// written straight to the disk (Direct, where the file system allows)
// or through the page cache (Buffered).
func BenchmarkPut1MiB(b *testing.B) {
	b.Run("Direct", func(b *testing.B) { benchmarkPut(b, 1<<20, 4, sharded) })
	b.Run("Buffered", func(b *testing.B) {
		defer local.SetDirectWrites(false)()
		benchmarkPut(b, 1<<20, 4, sharded)
	})
}

// benchmarkPut puts blobs of size bytes from parallelism callers per CPU,
// the ith under key(i), and reports the process's CPU time (user and
// system) per Put.
func benchmarkPut(b *testing.B, size, parallelism int, key func(i int64) string) {
	benchmarkPutIn(b, filepath.Join(b.TempDir(), "blobs"), size, parallelism, key)
}

// BenchmarkPut1KiBAfterDeletes is BenchmarkPut1KiB (InTurn) into a root
// made just after 4,096 files beside it were deleted, as a data directory
// made again after the previous one was removed is: the root marked as
// the top of a directory hierarchy (TopDir, as New does), so its shard
// directories are spread over the file system's block groups, or not
// (Beside), so they are made beside it, where (on an ext4 without a
// journal) taking each inode walks past the deleted ones.
func BenchmarkPut1KiBAfterDeletes(b *testing.B) {
	inTurn := func(i int64) string { return fmt.Sprintf("%02x/bench-%d", byte(i/32), i) }
	afterDeletes := func(b *testing.B) string {
		dir := b.TempDir()
		old := filepath.Join(dir, "old")
		for i := range 4096 {
			name := filepath.Join(old, fmt.Sprintf("%02x", i%16), fmt.Sprint(i))
			if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(name, []byte("x"), 0o640); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.RemoveAll(old); err != nil {
			b.Fatal(err)
		}
		return filepath.Join(dir, "blobs")
	}
	b.Run("TopDir", func(b *testing.B) { benchmarkPutIn(b, afterDeletes(b), 1<<10, 16, inTurn) })
	b.Run("Beside", func(b *testing.B) {
		defer local.SetTopDirs(false)()
		benchmarkPutIn(b, afterDeletes(b), 1<<10, 16, inTurn)
	})
}

// benchmarkPutIn is benchmarkPut on a Store rooted at root.
func benchmarkPutIn(b *testing.B, root string, size, parallelism int, key func(i int64) string) {
	s := newStore(b, root)
	data := storagetest.RandomBytes(b, size)
	ctx := context.Background()
	var next atomic.Int64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(parallelism)
	b.ResetTimer()
	before := testenv.CPUTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if err := s.Put(ctx, key(i), bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(testenv.CPUTime(b)-before)/float64(b.N), "cpu-ns/op")
}
