package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// hookBackend wraps a memory store and lets a test act inside Put.
type hookBackend struct {
	*memory.Store
	beforePut func(key string) error // runs before the bytes are stored
	afterPut  func(key string)       // runs after they are
}

func (h *hookBackend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if h.beforePut != nil {
		if err := h.beforePut(key); err != nil {
			io.CopyN(io.Discard, r, size/2) // fail half-way through the stream
			return err
		}
	}
	if err := h.Store.Put(ctx, key, r, size); err != nil {
		return err
	}
	if h.afterPut != nil {
		h.afterPut(key)
	}
	return nil
}

type fixture struct {
	svc   *blob.Service
	db    *db.DB
	store *hookBackend
}

func newFixture(t *testing.T, url string) *fixture {
	t.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	store := &hookBackend{Store: memory.New()}
	log := slog.New(slog.DiscardHandler)
	return &fixture{svc: blob.New(d, storage.NewBucket("memory", store), log), db: d, store: store}
}

func (f *fixture) metadataRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.Reader().QueryRow("SELECT count(*) FROM blob_metadata").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// engines runs fn on SQLite and on PostgreSQL.
func engines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, newFixture(t, filepath.Join(t.TempDir(), "meta.db"))) })
	t.Run("PostgreSQL", func(t *testing.T) { fn(t, newFixture(t, testenv.PostgresURL(t))) })
}

func create(t *testing.T, f *fixture, id string, data []byte) (blob.Blob, error) {
	t.Helper()
	return f.svc.Create(context.Background(), id, bytes.NewReader(data), int64(len(data)))
}

func read(t *testing.T, f *fixture, id string) (blob.Blob, []byte) {
	t.Helper()
	b, rc, err := f.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", id, err)
	}
	return b, data
}

func TestCreateGet(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		data := []byte("hello, blob")
		created, err := create(t, f, "greeting", data)
		if err != nil {
			t.Fatal(err)
		}
		got, bytes_ := read(t, f, "greeting")
		if string(bytes_) != string(data) {
			t.Fatalf("Get = %q, want %q", bytes_, data)
		}
		if got != created {
			t.Fatalf("Get metadata %+v differs from Create's %+v", got, created)
		}
		if got.Size != int64(len(data)) || got.CreatedAt.Location().String() != "UTC" {
			t.Fatalf("metadata %+v", got)
		}
		if sum := sha256.Sum256(data); got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("SHA256 = %q, want %x", got.SHA256, sum)
		}
	})
}

func TestDuplicateID(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		if _, err := create(t, f, "dup", []byte("first")); err != nil {
			t.Fatal(err)
		}
		if _, err := create(t, f, "dup", []byte("second")); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("second Create = %v; want ErrExists", err)
		}
		if _, data := read(t, f, "dup"); string(data) != "first" {
			t.Fatalf("the first blob changed to %q", data)
		}
		if n := f.store.Len(); n != 1 {
			t.Fatalf("backend holds %d blobs, want 1", n)
		}
	})
}

func TestGetMissing(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		if _, _, err := f.svc.Get(context.Background(), "nope"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Get = %v; want ErrNotFound", err)
		}
		if ok, err := f.svc.Exists(context.Background(), "nope"); ok || err != nil {
			t.Fatalf("Exists = %v, %v", ok, err)
		}
	})
}

// TestConcurrentCreatesOfOneID runs 50 creates of one id at once: exactly
// one wins, the rest get ErrExists, and the winner's bytes are intact.
func TestConcurrentCreatesOfOneID(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		const n = 50
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := []byte(fmt.Sprintf("writer %d", i))
				_, err := f.svc.Create(context.Background(), "contended", bytes.NewReader(data), int64(len(data)))
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(data)
				case !errors.Is(err, blob.ErrExists):
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if wins.Load() != 1 {
			t.Fatalf("%d creates won, want exactly 1", wins.Load())
		}
		if _, data := read(t, f, "contended"); !bytes.Equal(data, winner.Load().([]byte)) {
			t.Fatalf("stored %q, but the winner wrote %q", data, winner.Load())
		}
		if got := f.store.Len(); got != 1 {
			t.Fatalf("backend holds %d blobs after the race, want only the winner's", got)
		}
	})
}

// TestLosingInsertDeletesItsBytes makes one create store its bytes, then
// lets another create of the same id win before it inserts its metadata.
func TestLosingInsertDeletesItsBytes(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		var raced atomic.Bool
		f.store.afterPut = func(string) {
			if raced.CompareAndSwap(false, true) {
				if _, err := create(t, f, "raced", []byte("winner")); err != nil {
					t.Errorf("winning Create: %v", err)
				}
			}
		}
		if _, err := create(t, f, "raced", []byte("loser")); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("losing Create = %v; want ErrExists", err)
		}
		if _, data := read(t, f, "raced"); string(data) != "winner" {
			t.Fatalf("stored %q, want the winner's bytes", data)
		}
		if got := f.store.Len(); got != 1 {
			t.Fatalf("backend holds %d blobs, want 1: the loser's bytes were not deleted", got)
		}
	})
}

func TestBackendFailingHalfWayLeavesNothing(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		boom := fmt.Errorf("disk on fire: %w", storage.ErrInsufficientStorage)
		f.store.beforePut = func(string) error { return boom }
		_, err := create(t, f, "doomed", bytes.Repeat([]byte("x"), 1<<20))
		if !errors.Is(err, storage.ErrInsufficientStorage) {
			t.Fatalf("Create = %v; want the backend's error", err)
		}
		if f.store.Len() != 0 || f.metadataRows(t) != 0 {
			t.Fatalf("a failed create left %d blobs and %d metadata rows", f.store.Len(), f.metadataRows(t))
		}
		if ok, _ := f.svc.Exists(context.Background(), "doomed"); ok {
			t.Fatal("the failed blob exists")
		}
	})
}

func TestMetadataFailureDeletesBytes(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		// The database refuses the insert: a definite failure.
		f.store.afterPut = func(string) {
			if _, err := f.db.Writer().Exec("ALTER TABLE blob_metadata RENAME TO blob_metadata_gone"); err != nil {
				t.Error(err)
			}
		}
		if _, err := create(t, f, "orphan", []byte("bytes")); err == nil {
			t.Fatal("Create succeeded without a metadata table")
		}
		if f.store.Len() != 0 {
			t.Fatal("bytes left behind after the metadata insert failed")
		}
	})
}

func TestIntegrityFaults(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		var key string
		f.store.afterPut = func(k string) { key = k }
		if _, err := create(t, f, "victim", []byte("original")); err != nil {
			t.Fatal(err)
		}

		// Same length, other bytes: the checksum catches it at the end.
		f.store.Delete(ctx, key)
		f.store.Store.Put(ctx, key, strings.NewReader("tampered"), 8)
		_, rc, err := f.svc.Get(ctx, "victim")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(rc); !errors.Is(err, blob.ErrCorrupt) {
			t.Fatalf("reading tampered bytes = %v; want ErrCorrupt", err)
		}
		rc.Close()

		// Longer data: caught as soon as it passes the recorded size.
		f.store.Delete(ctx, key)
		f.store.Store.Put(ctx, key, strings.NewReader("original+more"), 13)
		_, rc, _ = f.svc.Get(ctx, "victim")
		if _, err := io.ReadAll(rc); !errors.Is(err, blob.ErrCorrupt) {
			t.Fatalf("reading longer bytes = %v; want ErrCorrupt", err)
		}
		rc.Close()

		// No bytes at all: an integrity fault, never "not found".
		f.store.Delete(ctx, key)
		if _, _, err := f.svc.Get(ctx, "victim"); !errors.Is(err, blob.ErrDataMissing) || errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Get without bytes = %v; want ErrDataMissing", err)
		}
	})
}

func TestValidateID(t *testing.T) {
	valid := []string{"a", "a/b", "..", "../../etc/passwd", "with space", "ünïcødé ☃", "日本語", strings.Repeat("x", 1024), "\u00a0"}
	for _, id := range valid {
		if err := blob.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	invalid := []string{"", strings.Repeat("x", 1025), "a\x00b", "tab\t", "new\nline", "del\x7f", "c1\u0085", "bad\xffutf8", "\xed\xa0\x80"}
	for _, id := range invalid {
		if err := blob.ValidateID(id); !errors.Is(err, blob.ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v; want ErrInvalidID", id, err)
		}
	}
}

// failAfter yields n bytes and then fails, as a client connection that
// drops mid-upload does.
type failAfter struct{ n int }

var errClientGone = errors.New("client went away")

func (r *failAfter) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errClientGone
	}
	p = p[:min(len(p), r.n)]
	r.n -= len(p)
	return len(p), nil
}

// TestDatabaseBackendRollback stores bytes in blob_data: a create whose
// reader fails half-way leaves neither a blob_data row nor metadata.
func TestDatabaseBackendRollback(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"SQLite":     func(t *testing.T) string { return filepath.Join(t.TempDir(), "meta.db") },
		"PostgreSQL": func(t *testing.T) string { return testenv.PostgresURL(t) },
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			d, err := db.Open(context.Background(), url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			svc := blob.New(d, storage.NewBucket("database", sqlstore.New(d)), slog.New(slog.DiscardHandler))
			_, err = svc.Create(context.Background(), "half", &failAfter{n: 300 << 10}, 1<<20)
			if !errors.Is(err, errClientGone) {
				t.Fatalf("Create = %v; want the reader's error", err)
			}
			var data, meta int
			if err := d.Reader().QueryRow("SELECT (SELECT count(*) FROM blob_data), (SELECT count(*) FROM blob_metadata)").Scan(&data, &meta); err != nil {
				t.Fatal(err)
			}
			if data != 0 || meta != 0 {
				t.Fatalf("a failed create left %d blob_data and %d blob_metadata rows", data, meta)
			}
		})
	}
}

// TestCancelledCreatesNeverBreakBlobs cancels creates at random moments
// around the metadata insert: whatever a create answers, its id afterwards
// reads either whole or not at all, never as metadata without bytes.
func TestCancelledCreatesNeverBreakBlobs(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		var cancelAfterPut atomic.Value // func()
		f.store.afterPut = func(string) { cancelAfterPut.Load().(func())() }
		var failed int
		for i := range 200 {
			ctx, cancel := context.WithCancel(context.Background())
			delay := time.Duration(i%20) * 10 * time.Microsecond
			cancelAfterPut.Store(func() { time.AfterFunc(delay, cancel) })
			id := fmt.Sprint("cancelled-", i)
			data := []byte(id)
			_, err := f.svc.Create(ctx, id, bytes.NewReader(data), int64(len(data)))
			cancel()
			if err != nil {
				failed++
			}
			_, rc, getErr := f.svc.Get(context.Background(), id)
			switch {
			case getErr == nil:
				got, _ := io.ReadAll(rc)
				rc.Close()
				if !bytes.Equal(got, data) {
					t.Fatalf("%s reads %q", id, got)
				}
			case errors.Is(getErr, blob.ErrNotFound) && err != nil:
			default:
				t.Fatalf("%s: Create = %v, then Get = %v", id, err, getErr)
			}
		}
		t.Logf("%d of 200 cancelled creates failed", failed)
	})
}
