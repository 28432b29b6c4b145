package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// oldSchema is the last migration of the single-value blob_data.
const oldSchema = 5

// migrator returns a goose provider of the migrations of the engine behind
// url, on a pool of its own, as db.Open runs them.
func migrator(t *testing.T, engine, url string) (*goose.Provider, *sql.DB) {
	t.Helper()
	driver, dialect, dir := "sqlite", goose.DialectSQLite3, "sqlite"
	if engine == "PostgreSQL" {
		driver, dialect, dir = "pgx", goose.DialectPostgres, "postgres"
	}
	pool, err := sql.Open(driver, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	p, err := goose.NewProvider(dialect, pool, os.DirFS(filepath.Join("..", "..", "db", "migrations", dir)))
	if err != nil {
		t.Fatal(err)
	}
	return p, pool
}

// TestMigrateToChunks fills blob_data as the schema before the chunks had
// it, one row per blob, migrates to the latest schema and reads every blob
// back through the store: whole, in ranges across chunk boundaries, listed
// with its size and creation time. It then migrates down and up again.
func TestMigrateToChunks(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"SQLite":     func(t *testing.T) string { return filepath.Join(t.TempDir(), "simpledrive.db") },
		"PostgreSQL": func(t *testing.T) string { return testenv.PostgresURL(t) },
	}
	for engine, newURL := range urls {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			url := newURL(t)
			p, pool := migrator(t, engine, url)
			if _, err := p.UpTo(ctx, oldSchema); err != nil {
				t.Fatalf("migrating to version %d: %v", oldSchema, err)
			}
			created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
			blobs := map[string][]byte{
				"ab/cd/empty":     {},
				"ab/cd/one":       {42},
				"ab/cd/small":     storagetest.RandomBytes(t, 1000),
				"ab/cd/exact-1":   storagetest.RandomBytes(t, sqlstore.ChunkSize),
				"ab/cd/exact-2":   storagetest.RandomBytes(t, 2*sqlstore.ChunkSize),
				"ab/cd/large":     storagetest.RandomBytes(t, 5*sqlstore.ChunkSize/2+1),
				"ab/cd/all-bytes": bytes.Repeat(allBytes(), 5000),
			}
			wantChunks := 0
			for key, data := range blobs {
				if _, err := pool.ExecContext(ctx, `INSERT INTO blob_data (key, data, created_at) VALUES ($1, $2, $3)`,
					key, data, created); err != nil {
					t.Fatalf("old-style INSERT of %s: %v", key, err)
				}
				wantChunks += (len(data) + sqlstore.ChunkSize - 1) / sqlstore.ChunkSize
			}
			pool.Close()

			d := testenv.OpenDB(t, url) // migrates to the latest version
			checkBlobs(t, d, blobs, created)
			var chunks int
			if err := d.Reader().QueryRowContext(ctx, "SELECT count(*) FROM blob_data").Scan(&chunks); err != nil {
				t.Fatal(err)
			}
			if chunks != wantChunks {
				t.Errorf("the migration made %d chunks, want %d", chunks, wantChunks)
			}
			d.Close()

			// Down to the single-value table and up again.
			p, pool = migrator(t, engine, url)
			if _, err := p.DownTo(ctx, oldSchema); err != nil {
				t.Fatalf("migrating down to version %d: %v", oldSchema, err)
			}
			for key, data := range blobs {
				var got []byte
				if err := pool.QueryRowContext(ctx, "SELECT data FROM blob_data WHERE key = $1", key).Scan(&got); err != nil {
					t.Fatalf("after migrating down, %s: %v", key, err)
				}
				if !bytes.Equal(got, data) {
					t.Errorf("after migrating down, %s holds %d bytes that differ from the %d stored", key, len(got), len(data))
				}
			}
			pool.Close()
			checkBlobs(t, testenv.OpenDB(t, url), blobs, created)
		})
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// checkBlobs reads blobs through a store on d.
func checkBlobs(t *testing.T, d *db.DB, blobs map[string][]byte, created time.Time) {
	t.Helper()
	ctx := context.Background()
	b := storage.NewBucket("database", sqlstore.New(d))
	for key, data := range blobs {
		if got := storagetest.MustGet(t, b, key); !bytes.Equal(got, data) {
			t.Errorf("Get(%s) = %d bytes that differ from the %d stored before the migration", key, len(got), len(data))
		}
		if ok, err := b.Exists(ctx, key); err != nil || !ok {
			t.Errorf("Exists(%s) = %v, %v", key, ok, err)
		}
		// Ranges that start before a chunk boundary and end after it.
		for _, off := range []int64{0, sqlstore.ChunkSize - 3, 2*sqlstore.ChunkSize - 1} {
			if off >= int64(len(data)) {
				continue
			}
			rc, err := b.GetRange(ctx, key, off, 10)
			if err != nil {
				t.Errorf("GetRange(%s, %d, 10): %v", key, off, err)
				continue
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if want := data[off:min(off+10, int64(len(data)))]; err != nil || !bytes.Equal(got, want) {
				t.Errorf("GetRange(%s, %d, 10) = %x (err %v), want %x", key, off, got, err, want)
			}
		}
	}
	keys, err := b.ListKeys(ctx, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(blobs) {
		t.Errorf("ListKeys found %d keys, want %d", len(keys), len(blobs))
	}
	for _, k := range keys {
		if want := int64(len(blobs[k.Key])); k.Size != want || !k.ModTime.Equal(created) {
			t.Errorf("ListKeys: %s has size %d and time %v, want %d and %v", k.Key, k.Size, k.ModTime, want, created)
		}
	}
}
