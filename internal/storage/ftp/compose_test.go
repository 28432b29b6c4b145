package ftp

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
)

// TestConcurrentComposesSmallPool runs more concurrent composes of parts
// that stream (larger than the read buffer) than the pool has
// connections: each compose holds a connection for its Put and needs
// another to read its parts, which would take every connection with Puts
// and wait forever if composes were not bounded. A deadlock fails the test
// when its context expires.
func TestConcurrentComposesSmallPool(t *testing.T) {
	for _, c := range []struct{ conns, composes int }{{1, 3}, {2, 8}, {8, 12}} {
		t.Run(fmt.Sprintf("MaxConns=%d", c.conns), func(t *testing.T) {
			cfg := newTestServer(t).config()
			cfg.MaxConns = c.conns
			b := storage.NewBucket("ftp", newStore(t, cfg))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			part := storagetest.RandomBytes(t, DefaultGetBufferBytes+1)
			var keys []string
			for i := range 2 {
				k := fmt.Sprintf("tus/u/part-%d", i)
				if err := b.Put(ctx, k, bytes.NewReader(part), int64(len(part))); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, k)
			}
			var wg sync.WaitGroup
			errs := make(chan error, c.composes)
			for i := range c.composes {
				wg.Go(func() {
					errs <- b.Compose(ctx, fmt.Sprintf("ab/cd/blob-%d", i), keys, 2*int64(len(part)))
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("Compose: %v", err)
				}
			}
			want := append(bytes.Clone(part), part...)
			for i := range c.composes {
				if got := storagetest.MustGet(t, b, fmt.Sprintf("ab/cd/blob-%d", i)); !bytes.Equal(got, want) {
					t.Fatalf("blob %d holds %d bytes that differ from its parts'", i, len(got))
				}
			}
		})
	}
}
