package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// engines returns, per engine, a function opening a fresh migrated database.
func engines() map[string]func(t testing.TB) *db.DB {
	return map[string]func(t testing.TB) *db.DB{
		"SQLite": func(t testing.TB) *db.DB {
			return testenv.OpenDB(t, filepath.Join(t.TempDir(), "simpledrive.db"))
		},
		"PostgreSQL": func(t testing.TB) *db.DB { return testenv.OpenDB(t, testenv.PostgresURL(t)) },
	}
}

// newBucket returns a Bucket over a Store on d, as the service uses it.
func newBucket(d *db.DB) *storage.Bucket {
	return storage.NewBucket("database", sqlstore.New(d))
}

func TestConformance(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Driver { return sqlstore.New(open(t)) })
		})
	}
}

// TestConformanceSmallChunks runs the suite with blobs stored in 4 KiB
// chunks, so multi-chunk writes and reads and chunk boundaries (the suite's
// range 4095+2 straddles one) are exercised on blobs of test size.
func TestConformanceSmallChunks(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Driver {
				s := sqlstore.New(open(t))
				s.SetChunkSize(4 << 10)
				return s
			})
		})
	}
}

// rowCount returns the number of rows under key in blob_data (chunks) and
// blob_data_index, read past the store.
func rowCount(t *testing.T, d *db.DB, key string) int {
	t.Helper()
	var n int
	err := d.Reader().QueryRowContext(context.Background(),
		"SELECT (SELECT count(*) FROM blob_data WHERE key = $1) + (SELECT count(*) FROM blob_data_index WHERE key = $1)", key).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var errBroken = errors.New("reader broke on purpose")

// brokenReader yields n bytes, then fails.
type brokenReader struct{ n int }

func (r *brokenReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBroken
	}
	p = p[:min(len(p), r.n)]
	for i := range p {
		p[i] = 'x'
	}
	r.n -= len(p)
	return len(p), nil
}

// TestRollback proves that a Put that fails leaves no blob_data row: a
// reader erroring after some bytes, a reader short of or over its size, a
// context cancelled half-way, and an INSERT the database rejects.
func TestRollback(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			s := newBucket(d)
			ctx := context.Background()

			key := "ab/cd/rollback-reader"
			err := s.Put(ctx, key, &brokenReader{n: 300 << 10}, 1<<20)
			if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), key) {
				t.Errorf("Put from a broken reader = %v; want it to wrap the reader's error and name the key", err)
			}
			if n := rowCount(t, d, key); n != 0 {
				t.Errorf("broken reader left %d blob_data rows", n)
			}

			for _, tc := range []struct {
				data string
				size int64
			}{{"abc", 4}, {"abcde", 4}} {
				key := "ab/cd/rollback-size-" + tc.data
				if err := s.Put(ctx, key, strings.NewReader(tc.data), tc.size); err == nil {
					t.Errorf("Put of %d bytes declared as %d succeeded", len(tc.data), tc.size)
				}
				if n := rowCount(t, d, key); n != 0 {
					t.Errorf("size mismatch left %d blob_data rows", n)
				}
			}

			key = "ab/cd/rollback-cancel"
			cctx, cancel := context.WithCancel(ctx)
			r := io.MultiReader(strings.NewReader("half"), readerFunc(func([]byte) (int, error) {
				cancel()
				return 0, nil
			}), strings.NewReader("rest"))
			if err := s.Put(cctx, key, r, 8); !errors.Is(err, context.Canceled) {
				t.Errorf("Put cancelled half-way = %v; want context.Canceled", err)
			}
			if n := rowCount(t, d, key); n != 0 {
				t.Errorf("cancelled Put left %d blob_data rows", n)
			}

			// The database refuses the INSERT (duplicate key): the
			// first row stays as it was.
			key = "ab/cd/rollback-duplicate"
			if err := s.Put(ctx, key, strings.NewReader("first"), 5); err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, key, strings.NewReader("second"), 6); err == nil {
				t.Error("Put over an existing key succeeded")
			}
			if got := string(storagetest.MustGet(t, s, key)); got != "first" {
				t.Errorf("after a refused Put the key holds %q, want %q", got, "first")
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestCreatedAtUTC checks that rows carry their creation time in UTC.
func TestCreatedAtUTC(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			s := sqlstore.New(d)
			before := time.Now().Add(-time.Second)
			if err := s.Put(context.Background(), "ab/cd/time", strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
			after := time.Now().Add(time.Second)
			var at time.Time
			if err := d.Reader().QueryRowContext(context.Background(),
				"SELECT created_at FROM blob_data_index WHERE key = $1", "ab/cd/time").Scan(&at); err != nil {
				t.Fatal(err)
			}
			if at.Before(before) || at.After(after) {
				t.Errorf("created_at = %v, want between %v and %v", at, before, after)
			}
			if d.Dialect() == db.SQLite {
				// SQLite stores text (modernc.org/sqlite writes
				// time.Time.String()): check that it says UTC.
				var raw string
				if err := d.Reader().QueryRowContext(context.Background(),
					"SELECT CAST(created_at AS TEXT) FROM blob_data_index WHERE key = $1", "ab/cd/time").Scan(&raw); err != nil {
					t.Fatal(err)
				}
				if !strings.HasSuffix(raw, " +0000 UTC") && !strings.HasSuffix(raw, "+00:00") && !strings.HasSuffix(raw, "Z") {
					t.Errorf("created_at stored as %q, not in UTC", raw)
				}
			}
		})
	}
}

// TestDeletedWhileReading checks that a reader whose key disappears between
// two chunks fails instead of returning a short blob.
func TestDeletedWhileReading(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			s := sqlstore.New(open(t))
			s.SetChunkSize(10)
			ctx := context.Background()
			key := "ab/cd/vanishing"
			if err := s.Put(ctx, key, strings.NewReader(strings.Repeat("y", 100)), 100); err != nil {
				t.Fatal(err)
			}
			rc, err := s.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), key) {
				t.Errorf("reading a deleted key: %d bytes, %v; want ErrNotFound naming the key", len(got), err)
			}
		})
	}
}

// TestSizeLimit checks the limit, 2^31-1 chunks on both engines, and that
// Put refuses a larger blob before reading a byte of it.
func TestSizeLimit(t *testing.T) {
	const want = (1<<31 - 1) * sqlstore.ChunkSize
	for _, d := range []db.Dialect{db.SQLite, db.Postgres} {
		if got := sqlstore.MaxBlobSize(d); got != want {
			t.Errorf("MaxBlobSize(%s) = %d, want %d", d, got, want)
		}
	}
	if got := sqlstore.MaxBlobSize("oracle"); got != 0 {
		t.Errorf("MaxBlobSize(oracle) = %d, want 0", got)
	}
	s := newBucket(testenv.OpenDB(t, filepath.Join(t.TempDir(), "simpledrive.db")))
	r := readerFunc(func([]byte) (int, error) {
		t.Error("Put read a blob over the limit")
		return 0, io.EOF
	})
	if err := s.Put(context.Background(), "ab/cd/huge", r, sqlstore.MaxBlobSize(db.SQLite)+1); err == nil {
		t.Error("Put over MaxBlobSize succeeded")
	}
}

// TestDiskFull fills a SQLite database to its page limit: Put must report
// ErrInsufficientStorage and leave no row. (PostgreSQL reports a full disk
// as SQLSTATE 53100, mapped by db.MapError; it cannot be provoked here.)
func TestDiskFull(t *testing.T) {
	d := testenv.OpenDB(t, filepath.Join(t.TempDir(), "simpledrive.db"))
	s := newBucket(d)
	ctx := context.Background()
	var pages int
	if err := d.Writer().QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer pool holds one connection, which keeps this setting.
	if _, err := d.Writer().ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages+16)); err != nil {
		t.Fatal(err)
	}
	key := "ab/cd/too-big-for-the-disk"
	data := storagetest.RandomBytes(t, 1<<20)
	err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, storage.ErrInsufficientStorage) || !strings.Contains(err.Error(), key) {
		t.Fatalf("Put on a full database = %v; want ErrInsufficientStorage naming the key", err)
	}
	if n := rowCount(t, d, key); n != 0 {
		t.Errorf("failed Put left %d rows", n)
	}
	if err := s.Put(ctx, "ab/cd/small", strings.NewReader("fits"), 4); err != nil {
		t.Errorf("a small Put after the failure: %v", err)
	}
}

// TestPutQueuedForWriterHonoursContext holds SQLite's one writer
// connection: a Put waiting for it must end with its context, leaving no
// row, although the COMMIT of a Put ignores cancellation.
func TestPutQueuedForWriterHonoursContext(t *testing.T) {
	d := testenv.OpenDB(t, filepath.Join(t.TempDir(), "simpledrive.db"))
	s := newBucket(d)
	held, err := d.Writer().Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Put(ctx, "ab/cd/queued", strings.NewReader("x"), 1)
	took := time.Since(start)
	held.Close()
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Put queued past its deadline = %v; want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
	if took > time.Second {
		t.Errorf("Put queued for the writer took %v, past its 50ms deadline", took)
	}
	if n := rowCount(t, d, "ab/cd/queued"); n != 0 {
		t.Errorf("Put that timed out in the queue left %d rows", n)
	}
}

// TestListKeysBytewise lists keys whose bytewise order differs from a
// linguistic one, and a prefix holding '_', which LIKE would take for any
// byte. On PostgreSQL the key columns are switched to an ICU collation first
// (the migration declares them "C"), as a database whose columns had its
// non-C default collation would have it: the listing must still be
// bytewise, and its pages must join up.
func TestListKeysBytewise(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			ctx := context.Background()
			if d.Dialect() == db.Postgres {
				for _, table := range []string{"blob_data", "blob_data_index"} {
					if _, err := d.Writer().ExecContext(ctx,
						`ALTER TABLE `+table+` ALTER COLUMN key TYPE TEXT COLLATE "und-x-icu"`); err != nil {
						t.Fatal(err)
					}
				}
			}
			b := newBucket(d)
			// Bytewise order; und-x-icu sorts these as ab/a, ab/B,
			// ab/x-1, ab/x_1, ab/x1, ab/xa1, ab/xZ1 and so on.
			want := []string{"ab/B", "ab/Z", "ab/a", "ab/x-1", "ab/x.1", "ab/x1", "ab/xZ1", "ab/x_1", "ab/x_2", "ab/xa1", "ab0"}
			for _, key := range want {
				if err := b.Put(ctx, key, strings.NewReader(key), int64(len(key))); err != nil {
					t.Fatalf("Put(%q): %v", key, err)
				}
			}
			list := func(prefix, after string, limit int) []string {
				t.Helper()
				page, err := b.ListKeys(ctx, prefix, after, limit)
				if err != nil {
					t.Fatalf("ListKeys(%q, %q, %d): %v", prefix, after, limit, err)
				}
				var keys []string
				for _, k := range page {
					keys = append(keys, k.Key)
					if k.Size != int64(len(k.Key)) {
						t.Errorf("ListKeys: %q has size %d, want %d", k.Key, k.Size, len(k.Key))
					}
				}
				return keys
			}
			var got []string
			for after := ""; ; {
				page := list("", after, 3)
				got = append(got, page...)
				if len(page) < 3 {
					break
				}
				after = page[len(page)-1]
			}
			if !slices.Equal(got, want) {
				t.Errorf("paged ListKeys = %q; want %q", got, want)
			}
			for _, c := range []struct {
				prefix string
				want   []string
			}{
				{"ab/x_", []string{"ab/x_1", "ab/x_2"}},
				{"ab/x", want[3:10]},
				{"ab/", want[:10]},
				{"ab/x_1", []string{"ab/x_1"}},
				{"ab/%", nil},
				{"ab/\x00", nil},
				{"ab/\xff", nil},
			} {
				if got := list(c.prefix, "", 100); !slices.Equal(got, c.want) {
					t.Errorf("ListKeys(%q) = %q; want %q", c.prefix, got, c.want)
				}
			}
		})
	}
}

// TestRangeFetchesOnlyItsChunks reads a range from a blob of 100-byte chunks
// whose chunks before and after the range are corrupted past the store:
// the range must read back intact, so GetRange fetched none of them, and
// it must take one query per chunk it covers.
func TestRangeFetchesOnlyItsChunks(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			d := open(t)
			s := sqlstore.New(d)
			s.SetChunkSize(100)
			b := storage.NewBucket("database", s)
			ctx := context.Background()
			data := storagetest.RandomBytes(t, 1000)
			if err := b.Put(ctx, "ab/range", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			if n := rowCount(t, d, "ab/range"); n != 11 {
				t.Fatalf("a blob of 1000 bytes in chunks of 100 has %d rows with its index row, want 11", n)
			}
			// Chunks 0-3 (bytes 0-399) and 7-9 (700-999) become zeros.
			if _, err := d.Writer().ExecContext(ctx,
				"UPDATE blob_data SET data = $1 WHERE key = $2 AND (seq < 4 OR seq > 6)", make([]byte, 100), "ab/range"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				off, n  int64
				queries int
			}{
				{400, 300, 3}, // chunks 4-6, whole
				{450, 200, 3}, // half of 4, 5, half of 6
				{499, 2, 2},   // across the boundary of 4 and 5
				{500, 100, 1}, // chunk 5 alone
				{550, 10, 1},  // inside chunk 5
			} {
				var queries int
				s.SetFetchHook(func(off, n int64) {
					queries++
					if off < c.off || off >= c.off+c.n {
						t.Errorf("GetRange(%d, %d) fetched from offset %d", c.off, c.n, off)
					}
				})
				rc, err := b.GetRange(ctx, "ab/range", c.off, c.n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, data[c.off:c.off+c.n]) {
					t.Errorf("GetRange(%d, %d) = %d bytes (err %v), not the blob's bytes", c.off, c.n, len(got), err)
				}
				if queries != c.queries {
					t.Errorf("GetRange(%d, %d) took %d queries, want %d", c.off, c.n, queries, c.queries)
				}
			}
		})
	}
}

// TestComposeInDatabase checks that parts made of whole chunks are
// composed inside the database, and that others are left to the Bucket.
func TestComposeInDatabase(t *testing.T) {
	for name, open := range engines() {
		t.Run(name, func(t *testing.T) {
			s := sqlstore.New(open(t))
			s.SetChunkSize(4 << 10)
			storagetest.ComposeNative(t, s,
				[][]int{{1}, {4 << 10, 1}, {8 << 10, 0, 100 << 10, 5}, {16 << 10, 12 << 10}},
				[][]int{{1, 1}, {4<<10 + 1, 4 << 10}})
		})
	}
}
