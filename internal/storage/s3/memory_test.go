package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// The memory tests put large blobs generated on the fly through a Bucket
// into the S3 server of the test run and assert the peak growth of the Go
// heap (runtime/metrics, sampled every millisecond). They move hundreds of
// MiB, so they run only with SIMPLEDRIVE_SLOW_TESTS=1:
//
//	SIMPLEDRIVE_SLOW_TESTS=1 scripts/test -run Memory ./internal/storage/s3/

// slowTest skips t unless SIMPLEDRIVE_SLOW_TESTS=1.
func slowTest(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skipf("moves %s through the S3 server; set SIMPLEDRIVE_SLOW_TESTS=1 to run it (SIMPLEDRIVE_SLOW_TESTS=1 scripts/test -run Memory ./internal/storage/s3/)", what)
	}
}

// generated yields n pseudo-random bytes made on the fly from seed: the
// same seed yields the same bytes.
type generated struct {
	c    *rand.ChaCha8
	left int64
}

func newGenerated(seed byte, n int64) *generated {
	return &generated{c: rand.NewChaCha8([32]byte{seed}), left: n}
}

func (g *generated) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.c.Read(p)
	g.left -= int64(n)
	return n, nil
}

// memoryPut puts size bytes (of unknown size when !known) generated from
// seed through a Bucket over a Store with the default part size, checks
// them by reading them back, and returns the peak heap growth during the
// Put and its duration.
func memoryPut(t *testing.T, size int64, known bool, seed byte) (uint64, time.Duration, *Store) {
	cfg := testConfig(t)
	cfg.PartSize = DefaultPartSize
	s := newTestStore(t, cfg)
	b := storage.NewBucket("s3", s)
	ctx := context.Background()
	key := fmt.Sprintf("ab/cd/memory-%d", seed)
	t.Cleanup(func() { b.Delete(ctx, key) })
	declared := size
	if !known {
		declared = -1
	}
	var err error
	var took time.Duration
	peak := peakHeap(func() {
		start := time.Now()
		err = b.Put(ctx, key, newGenerated(seed, size), declared)
		took = time.Since(start)
	})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	rc, err := b.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := newGenerated(seed, size)
	got, exp := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(rc, got)
		if _, werr := io.ReadFull(want, exp[:n]); werr != nil && n > 0 {
			t.Fatalf("read back more than the %d bytes put", size)
		}
		if !bytes.Equal(got[:n], exp[:n]) {
			t.Fatalf("bytes read back differ from those put in the MiB at offset %d", off)
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if off != size {
		t.Fatalf("read back %d bytes; want %d", off, size)
	}
	return peak, took, s
}

// TestMemoryPut1GiB puts 1 GiB of known size: its parts stream, so the heap
// grows by far less than a part. The bound is the 16 MiB or half a
// part, whichever is less, so that buffering one default part fails it.
func TestMemoryPut1GiB(t *testing.T) {
	slowTest(t, "1 GiB")
	const size = 1 << 30
	peak, took, s := memoryPut(t, size, true, 1)
	t.Logf("1 GiB Put of known size in %d MiB parts: peak heap growth %.2f MiB, %v (%.0f MiB/s)",
		s.partSize>>20, float64(peak)/(1<<20), took.Round(time.Millisecond), size/took.Seconds()/(1<<20))
	if limit := uint64(min(16<<20, s.partSize/2)); peak >= limit {
		t.Errorf("peak heap growth %.2f MiB; want under %d MiB", float64(peak)/(1<<20), limit>>20)
	}
}

// TestMemoryPut256MiBUnknownSize puts 256 MiB of unknown size: one part is
// buffered at a time, so the heap grows by about a part.
func TestMemoryPut256MiBUnknownSize(t *testing.T) {
	slowTest(t, "256 MiB")
	const size = 256 << 20
	peak, took, s := memoryPut(t, size, false, 2)
	t.Logf("256 MiB Put of unknown size in %d MiB parts: peak heap growth %.2f MiB, %v (%.0f MiB/s)",
		s.partSize>>20, float64(peak)/(1<<20), took.Round(time.Millisecond), size/took.Seconds()/(1<<20))
	if limit := uint64(s.partSize + 16<<20); peak > limit {
		t.Errorf("peak heap growth %.2f MiB; want under %d MiB (a part and 16 MiB)", float64(peak)/(1<<20), limit>>20)
	}
}
