package ftp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// Benchmarks against the vsftpd that scripts/test starts, for example:
//
//	scripts/test -run '^$' -bench . -benchtime 2s ./internal/storage/ftp

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}}

var benchConcurrency = []int{1, 8}

func BenchmarkPut(b *testing.B) {
	for _, sz := range benchSizes {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c%d", sz.name, c), func(b *testing.B) {
				s := newStore(b, vsftpdConfig(b))
				data := storagetest.RandomBytes(b, sz.size)
				b.SetBytes(int64(sz.size))
				runConcurrently(b, c, func(i int) error {
					return s.Put(context.Background(), fmt.Sprintf("ab/cd/put-%d", i), bytes.NewReader(data), int64(len(data)))
				})
			})
		}
	}
}

func BenchmarkGet(b *testing.B) {
	for _, sz := range benchSizes {
		for _, c := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/c%d", sz.name, c), func(b *testing.B) {
				s := newStore(b, vsftpdConfig(b))
				data := storagetest.RandomBytes(b, sz.size)
				const keys = 16
				for i := range keys {
					if err := s.Put(context.Background(), fmt.Sprintf("ab/cd/get-%d", i), bytes.NewReader(data), int64(len(data))); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(sz.size))
				runConcurrently(b, c, func(i int) error {
					rc, err := s.Get(context.Background(), fmt.Sprintf("ab/cd/get-%d", i%keys))
					if err != nil {
						return err
					}
					defer rc.Close()
					n, err := io.Copy(io.Discard, rc)
					if err == nil && n != int64(len(data)) {
						err = fmt.Errorf("read %d bytes; want %d", n, len(data))
					}
					return err
				})
			})
		}
	}
}

// BenchmarkDialCold measures a new connection: TCP connect, greeting and
// login (plus the TLS handshake with explicit TLS).
func BenchmarkDialCold(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"plain", vsftpdConfig}, {"tls", vsftpdTLSConfig}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg, err := tc.cfg(b).resolve()
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				c, err := dialConn(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				c.close()
			}
		})
	}
}

// BenchmarkPooledRequest measures a request on a pooled connection (Exists
// of a present key: one SIZE command), to set against BenchmarkDialCold.
func BenchmarkPooledRequest(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  func(testing.TB) Config
	}{{"plain", vsftpdConfig}, {"tls", vsftpdTLSConfig}} {
		b.Run(tc.name, func(b *testing.B) {
			s := newStore(b, tc.cfg(b))
			if err := s.Put(context.Background(), "ab/cd/k", bytes.NewReader([]byte("v")), 1); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if ok, err := s.Exists(context.Background(), "ab/cd/k"); err != nil || !ok {
					b.Fatalf("Exists = %v, %v", ok, err)
				}
			}
		})
	}
}

// runConcurrently calls op(i) for i in [0, b.N) from c goroutines.
func runConcurrently(b *testing.B, c int, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c)
	b.ResetTimer()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Error(err)
	}
}
