package sqlmeta

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// BenchmarkGroupInsert inserts records from 32 concurrent callers on
// SQLite, as concurrent creates do: each op is one insert, committed in
// the group's batches.
func BenchmarkGroupInsert(b *testing.B) {
	s := New(testenv.OpenDB(b, filepath.Join(b.TempDir(), "meta.db")))
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			if ok, err := s.Insert(ctx, rec(fmt.Sprint("id-", i), fmt.Sprint("key-", i))); !ok || err != nil {
				b.Fatalf("Insert = %v, %v", ok, err)
			}
		}
	})
}
