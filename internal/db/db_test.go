package db_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// engines returns a DATABASE_URL for each engine the tests run on.
func engines(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"SQLite":     func(t *testing.T) string { return filepath.Join(t.TempDir(), "sub", "meta.db") },
		"PostgreSQL": func(t *testing.T) string { return testenv.PostgresURL(t) },
	}
}

func TestOpenMigratesIdempotently(t *testing.T) {
	for name, url := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			u := url(t)
			for range 2 { // the second Open finds the schema current
				d, err := db.Open(ctx, u)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				var n int
				if err := d.Reader().QueryRowContext(ctx, "SELECT count(*) FROM blob_metadata").Scan(&n); err != nil {
					t.Fatalf("blob_metadata missing after migration: %v", err)
				}
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestConcurrentWrites proves that concurrent writers never surface
// SQLITE_BUSY (or any error) on either engine.
func TestConcurrentWrites(t *testing.T) {
	for name, url := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d, err := db.Open(ctx, url(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := d.Writer().ExecContext(ctx,
						`INSERT INTO blob_metadata (id, size, sha256, backend, storage_key, created_at)
						 VALUES ($1, 0, $2, 'local', 'k', CURRENT_TIMESTAMP)`,
						fmt.Sprint("id-", i), fmt.Sprintf("%064d", i))
					if err != nil {
						errs <- err
						return
					}
					var n int
					if err := d.Reader().QueryRowContext(ctx, "SELECT count(*) FROM blob_metadata").Scan(&n); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			var n int
			if err := d.Reader().QueryRowContext(ctx, "SELECT count(*) FROM blob_metadata").Scan(&n); err != nil || n != 64 {
				t.Fatalf("count = %d, %v; want 64", n, err)
			}
		})
	}
}

func TestSQLiteReaderIsReadOnly(t *testing.T) {
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Reader().Exec("DELETE FROM blob_metadata"); err == nil {
		t.Fatal("a write through Reader succeeded")
	}
}

func TestOpenUnreachablePostgres(t *testing.T) {
	// Port 1 on loopback refuses connections.
	_, err := db.Open(context.Background(), "postgres://u@127.0.0.1:1/x?connect_timeout=2")
	if !errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("Open of an unreachable server = %v; want ErrUnavailable", err)
	}
}

func TestOpenRejectsBadURLsWithoutShowingThem(t *testing.T) {
	dir := t.TempDir()
	for _, url := range []string{
		"postgress://admin:hunter2@db.example:5432/prod", // a typo must not fall back to SQLite
		"mysql://admin:hunter2@db.example/prod",
		filepath.Join(dir, "file.db?password=hunter2"),
	} {
		_, err := db.Open(context.Background(), url)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", url)
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("Open(%q) = %q; want an error naming DATABASE_URL without the password", url, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a rejected URL created files: %v", entries)
	}
}

func TestMaybeCommitted(t *testing.T) {
	ctx := context.Background()
	lost := fmt.Errorf("write: %w", io.ErrUnexpectedEOF)

	pg, err := db.Open(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	_, serverErr := pg.Writer().ExecContext(ctx, "INSERT INTO no_such_table VALUES (1)")
	if serverErr == nil {
		t.Fatal("insert into a missing table succeeded")
	}
	if pg.MaybeCommitted(serverErr) {
		t.Error("PostgreSQL: a server's error answer counted as maybe committed")
	}
	if !pg.MaybeCommitted(lost) {
		t.Error("PostgreSQL: a connection lost mid-statement counted as definite")
	}
	// pgx calls "conn closed" safe to retry, yet a COMMIT answered so was
	// seen to land (TestPostgresConnectionLoss).
	closed, err := pgconn.Connect(ctx, testenv.Lookup(t, "TEST_DATABASE_URL")[0])
	if err != nil {
		t.Fatal(err)
	}
	closed.Close(ctx)
	_, connClosed := closed.Exec(ctx, "COMMIT").ReadAll()
	if !pgconn.SafeToRetry(connClosed) {
		t.Fatalf("Exec on a closed connection: %v, which pgx no longer calls safe to retry", connClosed)
	}
	if !pg.MaybeCommitted(connClosed) {
		t.Error("PostgreSQL: a retry-safe \"conn closed\" counted as definite")
	}
	if pg.MaybeCommitted(nil) {
		t.Error("nil counted as maybe committed")
	}

	lite, err := db.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if lite.MaybeCommitted(lost) {
		t.Error("SQLite: an in-process failure counted as maybe committed")
	}
	if !lite.MaybeCommitted(fmt.Errorf("exec: %w", context.Canceled)) {
		t.Error("SQLite: a cancelled statement counted as definite; the driver reports cancellation after commits too")
	}
}
