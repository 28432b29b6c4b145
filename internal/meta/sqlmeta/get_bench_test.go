package sqlmeta

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// BenchmarkGet looks up one record by id on SQLite, as a read of a blob
// does, under a cancelable context like a request's: from the record
// cache (no commit between the reads), and without it (Uncached: the
// query each time, as after every commit). Besides the wall
// time it reports the process's CPU time per lookup (cpu-ns/op), which a
// machine busy with other work disturbs less.
func BenchmarkGet(b *testing.B) {
	for _, c := range []struct {
		name               string
		parallel, uncached bool
	}{{"Serial", false, false}, {"Parallel", true, false}, {"Serial/Uncached", false, true}, {"Parallel/Uncached", true, true}} {
		parallel := c.parallel
		b.Run(c.name, func(b *testing.B) {
			s := New(testenv.OpenDB(b, filepath.Join(b.TempDir(), "meta.db")))
			if c.uncached {
				s.cache = nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const n = 100
			for i := range n {
				if ok, err := s.Insert(ctx, rec(fmt.Sprint("id-", i), fmt.Sprint("key-", i))); !ok || err != nil {
					b.Fatalf("Insert = %v, %v", ok, err)
				}
			}
			get := func(i int) {
				id := fmt.Sprint("id-", i%n)
				if r, err := s.Get(ctx, id); err != nil || r.ID != id {
					b.Fatalf("Get(%s) = %v, %v", id, r.ID, err)
				}
			}
			get(0)
			start := testenv.CPUTime(b)
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						get(i)
					}
				})
			} else {
				for i := 0; b.Loop(); i++ {
					get(i)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(testenv.CPUTime(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
