package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestLocalCreatesShareDirectories: on local files, whose Puts into one
// directory share its sync, creates made one after the other take their
// keys in the same directory, 32 at a time, and the next directory after
// that, so that creates made at once share a directory sync; on a backend
// that shares nothing (the memory one), a key's directory stays the first
// byte of its hash. Either way every key is fresh.
func TestLocalCreatesShareDirectories(t *testing.T) {
	ctx := context.Background()
	svc, m := localService(t, t.TempDir())
	const n = 96
	dirs := map[string]int{}
	seen := map[string]bool{}
	var order []string
	for i := range n {
		id := fmt.Sprint("turn-", i)
		if _, err := svc.Create(ctx, id, bytes.NewReader([]byte(id)), int64(len(id))); err != nil {
			t.Fatal(err)
		}
		rec, err := m.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if seen[rec.StorageKey] {
			t.Fatalf("key %q made twice", rec.StorageKey)
		}
		seen[rec.StorageKey] = true
		d := path.Dir(rec.StorageKey)
		if dirs[d] == 0 {
			order = append(order, d)
		}
		dirs[d]++
	}
	if len(dirs) > n/32+1 {
		t.Fatalf("%d creates in a row went to %d directories (%v); want at most %d, 32 to a directory", n, len(dirs), dirs, n/32+1)
	}
	for i := 1; i < len(order); i++ {
		var prev, cur byte
		fmt.Sscanf(order[i-1], "%02x", &prev)
		fmt.Sscanf(order[i], "%02x", &cur)
		if cur != prev+1 {
			t.Fatalf("directories in the order %v; want each the next", order)
		}
	}

	f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
	for i := range 8 {
		id := fmt.Sprint("hashed-", i)
		if _, err := create(t, f, id, []byte(id)); err != nil {
			t.Fatal(err)
		}
		rec, err := f.meta.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(id))
		if want := hex.EncodeToString(sum[:1]); path.Dir(rec.StorageKey) != want {
			t.Fatalf("key %q on the memory backend; want it under %s/, its id's hash", rec.StorageKey, want)
		}
	}
}

// TestLocalConcurrentCreates64 stores 64 blobs at once on local files
// (their keys meeting in a directory or two, see
// TestLocalCreatesShareDirectories): every create succeeds and reads back
// whole. Run it with -race.
func TestLocalConcurrentCreates64(t *testing.T) {
	svc, _ := localService(t, t.TempDir())
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("c-", i)
			_, errs[i] = svc.Create(context.Background(), id, bytes.NewReader([]byte(id)), int64(len(id)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		if _, data := readFrom(t, svc, fmt.Sprint("c-", i)); string(data) != fmt.Sprint("c-", i) {
			t.Fatalf("c-%d holds %q", i, data)
		}
	}
}

// BenchmarkLocalConcurrentCreates1KiB stores 1 KiB blobs from 32
// goroutines at once through the service on local files, metadata in
// SQLite: the whole durable create (file and directory syncs, grouped
// commit), with the process's CPU time per create.
func BenchmarkLocalConcurrentCreates1KiB(b *testing.B) {
	svc, _ := localService(b, filepath.Join(b.TempDir(), "blobs"))
	data := bytes.Repeat([]byte("x"), 1024)
	var n atomic.Int64
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
	b.SetBytes(int64(len(data)))
	before := testenv.CPUTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint("bench-", n.Add(1))
			if _, err := svc.Create(context.Background(), id, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(testenv.CPUTime(b)-before)/float64(b.N), "cpu-ns/op")
}
