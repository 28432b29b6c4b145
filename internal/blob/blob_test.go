package blob_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
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
	svc    *blob.Service
	db     *db.DB
	meta   *hookMeta
	store  *hookBackend
	bucket *storage.Bucket // over store
}

// hookMeta wraps the SQL metadata store and lets a test act around Insert.
type hookMeta struct {
	meta.Store
	insert func(ctx context.Context, r meta.Record) (bool, error) // replaces Insert when set
	lists  atomic.Int64                                           // calls of List
}

func (h *hookMeta) List(ctx context.Context, q meta.ListQuery) ([]meta.Record, error) {
	h.lists.Add(1)
	return h.Store.List(ctx, q)
}

func (h *hookMeta) Insert(ctx context.Context, r meta.Record) (bool, error) {
	if h.insert != nil {
		return h.insert(ctx, r)
	}
	return h.Store.Insert(ctx, r)
}

// options are the service options of the tests.
var options = blob.Options{Timeout: 10 * time.Second, DeleteGrace: time.Hour}

func newFixture(t testing.TB, url string) *fixture {
	t.Helper()
	return newFixtureWith(t, url, options)
}

// newFixtureWith is newFixture with the service options opts.
func newFixtureWith(t testing.TB, url string, options blob.Options) *fixture {
	t.Helper()
	d := testenv.OpenDB(t, url)
	store := &hookBackend{Store: memory.New()}
	m := &hookMeta{Store: sqlmeta.New(d)}
	log := slog.New(slog.DiscardHandler)
	b := storage.NewBucket("memory", store)
	return &fixture{svc: blob.New(m, b, options, log), db: d, meta: m, store: store, bucket: b}
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
	return readFrom(t, f.svc, id)
}

// readFrom returns the metadata and bytes of id, failing t if they cannot
// be read.
func readFrom(t *testing.T, svc *blob.Service, id string) (blob.Blob, []byte) {
	t.Helper()
	b, rc, err := svc.Get(context.Background(), id)
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

// TestTakenIDCheck creates a taken id in uploads of several sizes: each
// gets ErrExists and leaves the first blob alone. One that may hold 64 KiB
// or more (or whose size nothing bounds) is refused before any of its
// bytes is stored; a smaller one lets the insert's conflict answer, and
// its bytes are deleted again.
func TestTakenIDCheck(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		if _, err := create(t, f, "taken", []byte("first")); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name         string
			n            int
			size, atMost int64
			stored       bool
		}{
			{"1 KiB", 1 << 10, 1 << 10, 0, true},
			{"64 KiB less a byte", 64<<10 - 1, 64<<10 - 1, 0, true},
			{"64 KiB", 64 << 10, 64 << 10, 0, false},
			{"unknown size within a bound of 1 KiB", 100, -1, 1 << 10, true},
			{"unknown size within a bound of 64 KiB", 100, -1, 64 << 10, false},
			{"unknown size, unbounded", 100, -1, 0, false},
		} {
			puts := 0
			f.store.beforePut = func(string) error { puts++; return nil }
			u := blob.Upload{ID: "taken", Body: bytes.NewReader(make([]byte, c.n)), Size: c.size, AtMost: c.atMost}
			if _, err := f.svc.Store(context.Background(), u); !errors.Is(err, blob.ErrExists) {
				t.Fatalf("%s: Store = %v; want ErrExists", c.name, err)
			}
			if stored := puts > 0; stored != c.stored {
				t.Errorf("%s: bytes stored before the answer: %v; want %v", c.name, stored, c.stored)
			}
			if n := f.store.Len(); n != 1 {
				t.Fatalf("%s: backend holds %d blobs, want 1", c.name, n)
			}
		}
		if _, data := read(t, f, "taken"); string(data) != "first" {
			t.Fatalf("the first blob changed to %q", data)
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
		if !errors.Is(err, blob.ErrInsufficientStorage) {
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
			svc := blob.New(sqlmeta.New(d), storage.NewBucket("database", sqlstore.New(d)), options, slog.New(slog.DiscardHandler))
			_, err = svc.Create(context.Background(), "half", &failAfter{n: 300 << 10}, 1<<20)
			if !errors.Is(err, errClientGone) {
				t.Fatalf("Create = %v; want the reader's error", err)
			}
			var data, rows int
			if err := d.Reader().QueryRow("SELECT (SELECT count(*) FROM blob_data), (SELECT count(*) FROM blob_metadata)").Scan(&data, &rows); err != nil {
				t.Fatal(err)
			}
			if data != 0 || rows != 0 {
				t.Fatalf("a failed create left %d blob_data and %d blob_metadata rows", data, rows)
			}
		})
	}
}

// TestClientLeavingDuringInsert cancels the create's context at the moment
// the metadata insert starts: the insert still runs to completion, so the
// create succeeds and the blob reads whole.
func TestClientLeavingDuringInsert(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var reached bool
		f.meta.insert = func(ictx context.Context, r meta.Record) (bool, error) {
			reached = true
			cancel()
			if ctx.Err() == nil || ictx.Err() != nil {
				t.Errorf("the client's cancellation reached the insert: request %v, insert %v", ctx.Err(), ictx.Err())
			}
			return f.meta.Store.Insert(ictx, r)
		}
		data := []byte("survivor")
		if _, err := f.svc.Create(ctx, "leaving", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("Create whose client left during the insert = %v; want success", err)
		}
		if !reached {
			t.Fatal("the insert hook never ran")
		}
		if _, got := read(t, f, "leaving"); !bytes.Equal(got, data) {
			t.Fatalf("read %q", got)
		}
	})
}

// TestInsertOutcomeUnknown drives each branch of settling an insert whose
// answer was lost: the row read back decides, and when it cannot, the
// bytes are kept, never leaving metadata without bytes.
func TestInsertOutcomeUnknown(t *testing.T) {
	lost := fmt.Errorf("connection reset: %w: %w", meta.ErrOutcomeUnknown, meta.ErrUnavailable)
	cases := []struct {
		name string
		// insert does what the lost statement did, then loses its answer.
		insert     func(f *fixture, ctx context.Context, r meta.Record)
		getFails   bool
		wantErr    error // nil: Create succeeds
		wantBlobs  int   // left in the backend
		wantStored bool  // the id reads whole afterwards
		answer     error // what the insert answers; nil: lost
	}{
		{"CommittedOurs", func(f *fixture, ctx context.Context, r meta.Record) { f.meta.Store.Insert(ctx, r) },
			false, nil, 1, true, nil},
		{"NotCommitted", func(*fixture, context.Context, meta.Record) {},
			false, blob.ErrUnavailable, 1, false, nil},
		{"AnotherWriterWon", func(f *fixture, ctx context.Context, r meta.Record) {
			r.StorageKey = "ab/cd/someone-else"
			f.meta.Store.Insert(ctx, r)
		}, false, blob.ErrExists, 0, false, nil},
		{"ReadBackFails", func(f *fixture, ctx context.Context, r meta.Record) { f.meta.Store.Insert(ctx, r) },
			true, blob.ErrUnavailable, 1, false, nil},
		// A connection lost in a way the driver reports as unavailable,
		// not as an unknown outcome, after the row landed.
		{"CommittedThoughUnavailable", func(f *fixture, ctx context.Context, r meta.Record) { f.meta.Store.Insert(ctx, r) },
			false, nil, 1, true, fmt.Errorf("connection reset: %w", meta.ErrUnavailable)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, filepath.Join(t.TempDir(), "meta.db"))
			f.meta.insert = func(ctx context.Context, r meta.Record) (bool, error) {
				c.insert(f, ctx, r)
				if c.getFails {
					f.db.Close() // the read-back cannot reach the database either
				}
				return false, cmp.Or(c.answer, lost)
			}
			_, err := create(t, f, "lost", []byte("bytes"))
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("Create = %v; want %v", err, c.wantErr)
			}
			if got := f.store.Len(); got != c.wantBlobs {
				t.Errorf("backend holds %d blobs; want %d", got, c.wantBlobs)
			}
			if c.getFails {
				return
			}
			_, rc, err := f.svc.Get(context.Background(), "lost")
			if c.wantStored != (err == nil) {
				t.Fatalf("Get after the create = %v; want stored %v", err, c.wantStored)
			}
			if err == nil {
				got, _ := io.ReadAll(rc)
				rc.Close()
				if string(got) != "bytes" {
					t.Fatalf("read %q", got)
				}
			}
		})
	}
}

func TestDelete(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if _, err := create(t, f, "gone", []byte("v1")); err != nil {
			t.Fatal(err)
		}
		// A read that began before the delete finishes whole.
		_, rc, err := f.svc.Get(ctx, "gone")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Delete(ctx, "gone"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if got, err := io.ReadAll(rc); err != nil || string(got) != "v1" {
			t.Fatalf("a read racing the delete got %q, %v", got, err)
		}
		rc.Close()
		if _, _, err := f.svc.Get(ctx, "gone"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Get after Delete = %v; want ErrNotFound", err)
		}
		if err := f.svc.Delete(ctx, "gone"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("second Delete = %v; want ErrNotFound", err)
		}
		// The id is free at once; the old bytes wait for the collector.
		if _, err := create(t, f, "gone", []byte("v2")); err != nil {
			t.Fatalf("Create after Delete: %v", err)
		}
		if _, data := read(t, f, "gone"); string(data) != "v2" {
			t.Fatalf("read %q after re-creating", data)
		}
		due, err := f.meta.DueGarbage(ctx, "memory", time.Now().Add(options.DeleteGrace+time.Minute), 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("garbage recorded by the delete = %v, %v; want one key", due, err)
		}
		if ok, _ := f.store.Exists(ctx, due[0].StorageKey); !ok {
			t.Fatal("the deleted blob's bytes are gone before their grace period")
		}
	})
}

// TestStoreLateID: an upload whose id is known only after its bytes (a JSON
// body with "data" before "id") is stored under a key not derived from the
// id, checked when the bytes end, and leaves no bytes when it fails.
func TestStoreLateID(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		var keys []string
		f.store.afterPut = func(k string) { keys = append(keys, k) }
		late := func(body io.Reader, id string) (blob.Blob, error) {
			called := false
			b, err := f.svc.Store(ctx, blob.Upload{Body: body, Size: -1, LateID: func() string {
				called = true
				return id
			}})
			if err == nil && !called {
				t.Fatal("Store succeeded without asking for the id")
			}
			return b, err
		}

		b, err := late(strings.NewReader("late bytes"), "late/id")
		if err != nil || b.ID != "late/id" || b.Size != 10 {
			t.Fatalf("Store with a late id = %+v, %v", b, err)
		}
		if _, data := read(t, f, "late/id"); string(data) != "late bytes" {
			t.Fatalf("read back %q", data)
		}
		sum := sha256.Sum256([]byte("late/id"))
		if len(keys) != 1 || strings.Contains(keys[0], hex.EncodeToString(sum[:])) {
			t.Fatalf("keys %q: want one, not derived from the id", keys)
		}

		// A taken id is found by the insert; the loser's bytes are deleted.
		if _, err := late(strings.NewReader("second"), "late/id"); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("late duplicate: %v; want ErrExists", err)
		}
		// An invalid id, and a body that fails, store nothing.
		if _, err := late(strings.NewReader("x"), ""); !errors.Is(err, blob.ErrInvalidID) {
			t.Fatalf("late empty id: %v; want ErrInvalidID", err)
		}
		broken := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("body invalid after data")))
		if _, err := late(broken, "never"); err == nil || !strings.Contains(err.Error(), "body invalid after data") {
			t.Fatalf("late failing body: %v", err)
		}
		if stored := f.store.Keys(); len(stored) != 1 || stored[0] != keys[0] {
			t.Fatalf("backend holds %q; want only %q", stored, keys[0])
		}
		if n := f.metadataRows(t); n != 1 {
			t.Fatalf("%d metadata rows; want 1", n)
		}
	})
}

// BenchmarkConcurrentCreates1KiB stores 1 KiB blobs from 32 goroutines at
// once through the service, bytes in memory and metadata in SQLite (with
// synchronous=FULL, each commit an fsync) or PostgreSQL: what grouping the
// metadata commits saves.
func BenchmarkConcurrentCreates1KiB(b *testing.B) {
	for _, engine := range []string{"SQLite", "PostgreSQL"} {
		b.Run(engine, func(b *testing.B) {
			url := filepath.Join(b.TempDir(), "meta.db")
			if engine == "PostgreSQL" {
				url = testenv.PostgresURL(b)
			}
			benchCreates1KiB(b, newFixture(b, url))
		})
	}
}

// benchCreates1KiB stores 1 KiB blobs through f's service from 32
// goroutines at once, and reports what the process wrote per create.
func benchCreates1KiB(b *testing.B, f *fixture) {
	data := bytes.Repeat([]byte("x"), 1024)
	var n atomic.Int64
	b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
	b.SetBytes(int64(len(data)))
	written := testenv.ProcIO()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprint("bench-", n.Add(1))
			if _, err := f.svc.Create(context.Background(), id, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	written.Report(b)
}

// BenchmarkConcurrentCreates1KiBInline is BenchmarkConcurrentCreates1KiB
// on SQLite with the bytes kept in their records (INLINE_MAX_BYTES=4096):
// a create is then its grouped commit alone, and each op costs a share of
// the writes and the fsync of its batch.
func BenchmarkConcurrentCreates1KiBInline(b *testing.B) {
	benchCreates1KiB(b, newFixtureWith(b, filepath.Join(b.TempDir(), "meta.db"), blob.Options{Timeout: 10 * time.Second, DeleteGrace: time.Hour, InlineMax: 4096}))
}

// TestConcurrentCreates64 stores 64 blobs at once, eight of them under one
// id (grouped into shared commits on SQLite): every create told it
// succeeded reads back whole, exactly one of the eight wins, and the
// others are told the id exists.
func TestConcurrentCreates64(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		const n, same = 64, 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprint("c-", i)
				if i < same {
					id = "contested"
				}
				_, errs[i] = create(t, f, id, []byte(fmt.Sprint("bytes of ", i)))
			}()
		}
		wg.Wait()
		winners := 0
		for i, err := range errs {
			switch {
			case i < same && err == nil:
				winners++
				if _, data := read(t, f, "contested"); string(data) != fmt.Sprint("bytes of ", i) {
					t.Errorf("the contested id holds %q; its winner, %d, stored other bytes", data, i)
				}
			case i < same && !errors.Is(err, blob.ErrExists):
				t.Errorf("create %d of the contested id = %v; want success or ErrExists", i, err)
			case i >= same && err != nil:
				t.Errorf("create %d = %v", i, err)
			case i >= same:
				if _, data := read(t, f, fmt.Sprint("c-", i)); string(data) != fmt.Sprint("bytes of ", i) {
					t.Errorf("c-%d holds %q", i, data)
				}
			}
		}
		if winners != 1 {
			t.Errorf("%d creates of one id succeeded; want 1", winners)
		}
		if rows := f.metadataRows(t); rows != n-same+1 {
			t.Errorf("%d metadata rows; want %d", rows, n-same+1)
		}
	})
}
