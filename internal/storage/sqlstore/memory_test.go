package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// heapBound is what a 1 GiB Put and its read back may add to the heap:
// 16 MiB, the bound of issue 10, plus the chunk buffers (two for the Put,
// one for the reader).
const heapBound = 16<<20 + 3*sqlstore.ChunkSize

// TestMemory1GiB puts 1 GiB, generated on the fly and stored nowhere else,
// through a storage.Bucket on each engine, then reads it back: the bytes
// must hash equal, and the heap must grow by less than heapBound meanwhile.
// It runs only with SIMPLEDRIVE_SLOW_TESTS=1.
func TestMemory1GiB(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("writes and reads 1 GiB per engine; set SIMPLEDRIVE_SLOW_TESTS=1 to run it")
	}
	const size = 1 << 30
	urls := map[string]func(t *testing.T) string{
		"SQLite":     func(t *testing.T) string { return filepath.Join(t.TempDir(), "simpledrive.db") },
		"PostgreSQL": func(t *testing.T) string { return testenv.PostgresURL(t) },
	}
	for _, engine := range []string{"SQLite", "PostgreSQL"} {
		t.Run(engine, func(t *testing.T) {
			d := testenv.OpenDB(t, urls[engine](t))
			b := storage.NewBucket("database", sqlstore.New(d))
			ctx := context.Background()
			const key = "ab/cd/one-gibibyte"

			m := startHeapMonitor()
			src := &generated{left: size, rng: rand.NewChaCha8([32]byte{1}), sum: sha256.New()}
			start := time.Now()
			if err := b.Put(ctx, key, src, size); err != nil {
				m.stop()
				t.Fatalf("Put of 1 GiB: %v", err)
			}
			putTook, putPeak := time.Since(start), m.stop()

			m = startHeapMonitor()
			start = time.Now()
			rc, err := b.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.New()
			n, err := io.CopyBuffer(sum, rc, make([]byte, 32<<10))
			rc.Close()
			getTook, getPeak := time.Since(start), m.stop()
			if err != nil || n != size {
				t.Fatalf("read back %d bytes, %v", n, err)
			}
			if !bytes.Equal(sum.Sum(nil), src.sum.Sum(nil)) {
				t.Error("the blob read back hashes differently from the one put")
			}
			t.Logf("%s: Put 1 GiB in %v (%.0f MiB/s), peak heap +%.1f MiB; Get in %v (%.0f MiB/s), peak heap +%.1f MiB",
				engine, putTook.Round(time.Millisecond), size/putTook.Seconds()/(1<<20), float64(putPeak)/(1<<20),
				getTook.Round(time.Millisecond), size/getTook.Seconds()/(1<<20), float64(getPeak)/(1<<20))
			// A Get may hold two more chunks: PostgreSQL's driver copies
			// each one it fetches, garbage the collector takes later.
			bounds := map[string][2]uint64{"Put": {putPeak, heapBound}, "Get": {getPeak, heapBound + 2*sqlstore.ChunkSize}}
			for op, pb := range bounds {
				if pb[0] > pb[1] {
					t.Errorf("%s of 1 GiB grew the heap by %d bytes, over %d", op, pb[0], pb[1])
				}
			}
			if d.Dialect() == db.Postgres {
				// Leave the shared server's disk as it was.
				if err := b.Delete(ctx, key); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// generated yields left pseudo-random bytes, hashing them as they go.
type generated struct {
	left int64
	rng  *rand.ChaCha8
	sum  hash.Hash
}

func (g *generated) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	g.rng.Read(p)
	g.sum.Write(p)
	g.left -= int64(len(p))
	return len(p), nil
}

// heapMonitor samples the bytes of heap objects (live and not yet
// collected) every millisecond and keeps the peak above a baseline taken
// after a GC.
type heapMonitor struct {
	done chan struct{}
	wg   sync.WaitGroup
	base uint64
	peak uint64
}

const heapObjects = "/memory/classes/heap/objects:bytes"

func heapNow(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapMonitor() *heapMonitor {
	runtime.GC()
	s := []metrics.Sample{{Name: heapObjects}}
	m := &heapMonitor{done: make(chan struct{}), base: heapNow(s)}
	m.peak = m.base
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		s := []metrics.Sample{{Name: heapObjects}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			m.peak = max(m.peak, heapNow(s))
			select {
			case <-m.done:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// stop ends the sampling and returns the peak growth over the baseline.
func (m *heapMonitor) stop() uint64 {
	close(m.done)
	m.wg.Wait()
	return m.peak - m.base
}
