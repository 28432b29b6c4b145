package sqlstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// benchBackends are the backends compared by the benchmarks; local is the
// baseline for the ratios.
var benchBackends = []struct {
	name string
	open func(b *testing.B) storage.Driver
}{
	{"local", func(b *testing.B) storage.Driver {
		s, err := local.New(local.Config{Root: filepath.Join(b.TempDir(), "blobs")})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}},
	{"sqlite", func(b *testing.B) storage.Driver {
		return sqlstore.New(testenv.OpenDB(b, filepath.Join(b.TempDir(), "simpledrive.db")))
	}},
	{"postgres", func(b *testing.B) storage.Driver { return sqlstore.New(testenv.OpenDB(b, testenv.PostgresURL(b))) }},
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}}

func BenchmarkPut(b *testing.B) {
	for _, sz := range benchSizes {
		for _, be := range benchBackends {
			b.Run(sz.name+"/"+be.name, func(b *testing.B) {
				s := be.open(b)
				data := storagetest.RandomBytes(b, sz.size)
				ctx := context.Background()
				b.SetBytes(int64(sz.size))
				i := 0
				for b.Loop() {
					key := fmt.Sprintf("ab/cd/bench-%d", i)
					i++
					if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkGet(b *testing.B) {
	for _, sz := range benchSizes {
		for _, be := range benchBackends {
			b.Run(sz.name+"/"+be.name, func(b *testing.B) {
				s := be.open(b)
				data := storagetest.RandomBytes(b, sz.size)
				ctx := context.Background()
				const key = "ab/cd/bench"
				if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(sz.size))
				for b.Loop() {
					rc, err := s.Get(ctx, key)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil || n != int64(len(data)) {
						b.Fatalf("read %d bytes, %v; want %d", n, err, len(data))
					}
				}
			})
		}
	}
}
