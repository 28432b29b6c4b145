package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// heapMetric is the runtime/metrics sample of the bytes of heap objects,
// live or not yet swept: what MemStats.HeapAlloc reports, read without
// stopping the world.
const heapMetric = "/memory/classes/heap/objects:bytes"

// heapBytes reads heapMetric into sample.
func heapBytes(sample []metrics.Sample) uint64 {
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// peakHeap runs fn and returns the largest growth of the heap over its
// size after a GC at the start, sampled from runtime/metrics every
// millisecond and once more when fn returns.
func peakHeap(fn func()) (peak uint64) {
	sample := []metrics.Sample{{Name: heapMetric}}
	runtime.GC()
	base := heapBytes(sample)
	var top atomic.Uint64
	record := func(sample []metrics.Sample) {
		if h := heapBytes(sample); h > base && h-base > top.Load() {
			top.Store(h - base)
		}
	}
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample := []metrics.Sample{{Name: heapMetric}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			record(sample)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(done)
	<-sampled
	record(sample)
	return top.Load()
}

// uploadPeak streams a blob of eight parts into s and returns the peak heap
// growth during the upload.
func uploadPeak(tb testing.TB, s *Store) uint64 {
	size := 8 * s.partSize
	var err error
	peak := peakHeap(func() {
		err = s.Put(context.Background(), "ab/cd/eight-parts", io.LimitReader(zeros{}, size), size)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return peak
}

// TestMultipartMemory checks that uploading a blob of eight default-size
// parts of known size streams its parts: the heap grows by well under a
// part (the growth counts garbage not yet collected too).
func TestMultipartMemory(t *testing.T) {
	cfg := testConfig(t)
	cfg.PartSize = DefaultPartSize
	s := newTestStore(t, cfg)
	peak := uploadPeak(t, s)
	t.Logf("peak heap growth uploading %d MiB in %d MiB parts: %.1f MiB", 8*s.partSize>>20, s.partSize>>20, float64(peak)/(1<<20))
	if limit := uint64(s.partSize / 2); peak > limit {
		t.Errorf("peak heap growth %d bytes; want at most %d (parts stream), a part is %d", peak, limit, s.partSize)
	}
}

// BenchmarkMultipartMemory reports the peak heap growth while uploading a
// blob of eight default-size parts (128 MiB).
func BenchmarkMultipartMemory(b *testing.B) {
	cfg := testConfig(b)
	cfg.PartSize = DefaultPartSize
	s := newTestStore(b, cfg)
	var peak uint64
	for b.Loop() {
		peak = max(peak, uploadPeak(b, s))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}, {"64MiB", 64 << 20}}

// benchStore opens a Store with the default part size for benchmarks.
func benchStore(b *testing.B) *Store {
	cfg := testConfig(b)
	cfg.PartSize = DefaultPartSize
	return newTestStore(b, cfg)
}

func BenchmarkPut(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			data := storagetest.RandomBytes(b, bs.size)
			b.SetBytes(int64(bs.size))
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("ab/cd/put-%d", i)
				i++
				if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Delete(ctx, key); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for _, bs := range benchSizes {
		b.Run(bs.name, func(b *testing.B) {
			data := storagetest.RandomBytes(b, bs.size)
			key := "ab/cd/get-" + bs.name
			if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Delete(ctx, key) })
			b.SetBytes(int64(bs.size))
			for b.Loop() {
				rc, err := s.Get(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil || n != int64(bs.size) {
					b.Fatalf("read %d bytes, %v", n, err)
				}
			}
		})
	}
}
