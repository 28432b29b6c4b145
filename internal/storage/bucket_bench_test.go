package storage_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

// BenchmarkGet1KiB reads a 1 KiB blob from the memory driver directly and
// through the Bucket: the difference is the wrapper's cost per request.
func BenchmarkGet1KiB(b *testing.B) {
	ctx := context.Background()
	drv := memory.New()
	const key = "ab/cd/0123456789abcdef-0123456789abcdef"
	data := bytes.Repeat([]byte{'x'}, 1<<10)
	if err := drv.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2<<10)
	for _, c := range []struct {
		name string
		get  func(ctx context.Context, key string) (io.ReadCloser, error)
	}{
		{"Driver", drv.Get},
		{"Bucket", storage.NewBucket("memory", drv).Get},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rc, err := c.get(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(rc, buf[:len(data)]); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
