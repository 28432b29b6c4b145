package local_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// BenchmarkPut1KiB puts 1 KiB blobs from 32 concurrent callers under the
// service's layout of 256 shard directories, as concurrent creates do.
func BenchmarkPut1KiB(b *testing.B) {
	s := newStore(b, filepath.Join(b.TempDir(), "blobs"))
	data := storagetest.RandomBytes(b, 1<<10)
	ctx := context.Background()
	var next atomic.Int64
	b.SetBytes(int64(len(data)))
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			key := fmt.Sprintf("%02x/bench-%d", i%256, i)
			if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
