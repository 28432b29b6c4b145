package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestChunkLayout checks the rows a Put writes: full chunks but the last,
// chunk seq at offset seq*chunk, and an index row with the size; an empty
// blob has no chunk. Sizes are known and unknown.
func TestChunkLayout(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			s := sqlstore.New(d)
			s.SetChunkSize(1000)
			b := storage.NewBucket("database", s)
			ctx := context.Background()
			for _, size := range []int{0, 1, 999, 1000, 1001, 3000, 3500} {
				for _, known := range []bool{true, false} {
					key := "ab/cd/layout-" + strings.Repeat("k", size%7+1) + map[bool]string{true: "-known", false: "-unknown"}[known] + "-" + strconv.Itoa(size)
					data := storagetest.RandomBytes(t, size)
					declared := int64(size)
					if !known {
						declared = -1
					}
					if err := b.Put(ctx, key, bytes.NewReader(data), declared); err != nil {
						t.Fatalf("Put(%d bytes): %v", size, err)
					}
					rows, err := d.Reader().QueryContext(ctx, "SELECT seq, data FROM blob_data WHERE key = $1 ORDER BY seq", key)
					if err != nil {
						t.Fatal(err)
					}
					var joined []byte
					want := 0
					for rows.Next() {
						var seq int
						var chunk []byte
						if err := rows.Scan(&seq, &chunk); err != nil {
							t.Fatal(err)
						}
						if seq != want || len(chunk) == 0 || len(chunk) > 1000 || (len(chunk) < 1000 && len(joined)+len(chunk) != size) {
							t.Errorf("%d-byte blob: chunk %d (want %d) of %d bytes", size, seq, want, len(chunk))
						}
						want++
						joined = append(joined, chunk...)
					}
					rows.Close()
					if !bytes.Equal(joined, data) || want != (size+999)/1000 {
						t.Errorf("%d-byte blob: %d chunks holding %d bytes, want %d chunks of its bytes", size, want, len(joined), (size+999)/1000)
					}
					var stored int64
					if err := d.Reader().QueryRowContext(ctx, "SELECT size FROM blob_data_index WHERE key = $1", key).Scan(&stored); err != nil || stored != int64(size) {
						t.Errorf("%d-byte blob: index size %d, %v", size, stored, err)
					}
					if got := storagetest.MustGet(t, b, key); !bytes.Equal(got, data) {
						t.Errorf("%d-byte blob: Get returned %d bytes that differ", size, len(got))
					}
				}
			}
		})
	}
}

// TestFailedPutDeletesItsChunks fails Puts after several chunks were
// written (a broken reader, a size mismatch, a cancelled context): nothing
// must be left, neither an index row nor a chunk.
func TestFailedPutDeletesItsChunks(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			s := sqlstore.New(d)
			s.SetChunkSize(1000)
			b := storage.NewBucket("database", s)
			ctx := context.Background()

			if err := b.Put(ctx, "ab/cd/broken", &brokenReader{n: 5500}, 10000); !errors.Is(err, errBroken) {
				t.Errorf("Put from a broken reader = %v", err)
			}
			if err := b.Put(ctx, "ab/cd/short", bytes.NewReader(make([]byte, 4000)), 4001); !errors.Is(err, storage.ErrSizeMismatch) {
				t.Errorf("Put of 4000 bytes declared as 4001 = %v", err)
			}
			if err := b.Put(ctx, "ab/cd/long", bytes.NewReader(make([]byte, 4001)), 4000); !errors.Is(err, storage.ErrSizeMismatch) {
				t.Errorf("Put of 4001 bytes declared as 4000 = %v", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			r := io.MultiReader(bytes.NewReader(make([]byte, 3500)), readerFunc(func([]byte) (int, error) {
				cancel()
				return 0, nil
			}), bytes.NewReader(make([]byte, 3500)))
			if err := b.Put(cctx, "ab/cd/cancelled", r, 7000); !errors.Is(err, context.Canceled) {
				t.Errorf("Put cancelled after 3 chunks = %v", err)
			}
			for _, key := range []string{"ab/cd/broken", "ab/cd/short", "ab/cd/long", "ab/cd/cancelled"} {
				if n := rowCount(t, d, key); n != 0 {
					t.Errorf("failed Put of %s left %d rows", key, n)
				}
			}
		})
	}
}

// TestUnpublishedChunks plants the chunks of a crashed upload (no index
// row): Get, GetRange and Exists must not see them; ListKeys must report
// them with their size so far and the time of their newest chunk, in order
// among the published keys and across pages; Delete must remove them.
func TestUnpublishedChunks(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			s := sqlstore.New(d)
			s.SetChunkSize(1000)
			b := storage.NewBucket("database", s)
			ctx := context.Background()
			for _, key := range []string{"ab/a", "ab/c", "ab/e", "ab/g"} {
				if err := b.Put(ctx, key, strings.NewReader(key), int64(len(key))); err != nil {
					t.Fatal(err)
				}
			}
			at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			for _, c := range []struct {
				key  string
				seqs int
			}{{"ab/b", 3}, {"ab/d", 1}, {"ab/h", 2}} {
				for seq := range c.seqs {
					if _, err := d.Writer().ExecContext(ctx, "INSERT INTO blob_data (key, seq, data, created_at) VALUES ($1, $2, $3, $4)",
						c.key, seq, make([]byte, 1000), at.Add(time.Duration(seq)*time.Second)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if ok, err := b.Exists(ctx, "ab/b"); err != nil || ok {
				t.Errorf("Exists of unpublished chunks = %v, %v", ok, err)
			}
			if _, err := b.Get(ctx, "ab/b"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Get of unpublished chunks = %v; want ErrNotFound", err)
			}
			if _, err := b.GetRange(ctx, "ab/b", 1500, 10); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetRange of unpublished chunks = %v; want ErrNotFound", err)
			}
			type entry struct {
				key  string
				size int64
			}
			want := []entry{{"ab/a", 4}, {"ab/b", 3000}, {"ab/c", 4}, {"ab/d", 1000}, {"ab/e", 4}, {"ab/g", 4}, {"ab/h", 2000}}
			for _, limit := range []int{1, 2, 3, 100} {
				var got []entry
				for after := ""; ; {
					page, err := b.ListKeys(ctx, "ab/", after, limit)
					if err != nil {
						t.Fatal(err)
					}
					for _, k := range page {
						got = append(got, entry{k.Key, k.Size})
						if k.Key == "ab/b" && !k.ModTime.Equal(at.Add(2*time.Second)) {
							t.Errorf("ListKeys: unpublished ab/b has time %v, want its newest chunk's %v", k.ModTime, at.Add(2*time.Second))
						}
					}
					if len(page) < limit {
						break
					}
					after = page[len(page)-1].Key
				}
				if !slices.Equal(got, want) {
					t.Errorf("ListKeys in pages of %d = %v; want %v", limit, got, want)
				}
			}
			for _, key := range []string{"ab/b", "ab/d", "ab/h", "ab/a"} {
				if err := b.Delete(ctx, key); err != nil {
					t.Errorf("Delete(%s): %v", key, err)
				}
				if n := rowCount(t, d, key); n != 0 {
					t.Errorf("Delete(%s) left %d rows", key, n)
				}
				if err := b.Delete(ctx, key); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("second Delete(%s) = %v; want ErrNotFound", key, err)
				}
			}
		})
	}
}

// TestLargePutDoesNotHoldTheWriter runs a Put of many chunks whose client
// sends slowly on SQLite: while it waits for the client between chunks, a
// write of another request (as the metadata insert is) must get SQLite's one
// writer connection at once, not after the upload.
func TestLargePutDoesNotHoldTheWriter(t *testing.T) {
	d := testenv.OpenDB(t, filepath.Join(t.TempDir(), "simpledrive.db"))
	s := sqlstore.New(d)
	s.SetChunkSize(1000)
	b := storage.NewBucket("database", s)
	ctx := context.Background()

	gate := make(chan struct{})    // the client sends its next bytes
	reading := make(chan struct{}) // the Put waits for the client
	sent := 0
	r := readerFunc(func(p []byte) (int, error) {
		if sent == 10000 {
			return 0, io.EOF
		}
		if sent > 0 && sent%2000 == 0 {
			reading <- struct{}{}
			<-gate
		}
		n := min(len(p), 500)
		clear(p[:n])
		sent += n
		return n, nil
	})
	done := make(chan error, 1)
	go func() { done <- b.Put(ctx, "ab/cd/slow", r, 10000) }()
	for range 4 {
		<-reading // chunks were written; the client is silent
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		start := time.Now()
		_, err := d.Writer().ExecContext(wctx,
			`INSERT INTO blob_metadata (id, size, sha256, backend, storage_key, created_at) VALUES ($1, 0, $2, 'local', 'k', CURRENT_TIMESTAMP)`,
			"id-"+strconv.Itoa(sent), strings.Repeat("0", 64))
		cancel()
		if err != nil {
			t.Fatalf("a metadata insert during a slow upload: %v (after %v)", err, time.Since(start))
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("a metadata insert during a slow upload took %v", took)
		}
		gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := storagetest.MustGet(t, b, "ab/cd/slow"); !bytes.Equal(got, make([]byte, 10000)) {
		t.Errorf("slow upload read back as %d bytes that differ", len(got))
	}
}
