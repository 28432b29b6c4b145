package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// diskFixture is a service over the local backend, whose files' ages a
// test can set, and metadata a test can hook.
type diskFixture struct {
	svc    *blob.Service
	meta   *hookMeta
	bucket *storage.Bucket
	root   string
}

func newDiskFixture(t *testing.T, url string) *diskFixture {
	t.Helper()
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	root := t.TempDir()
	st, err := local.New(local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := storage.NewBucket("local", st)
	m := &hookMeta{Store: sqlmeta.New(d)}
	return &diskFixture{svc: blob.New(m, b, options, slog.New(slog.DiscardHandler)), meta: m, bucket: b, root: root}
}

func diskEngines(t *testing.T, fn func(t *testing.T, f *diskFixture)) {
	t.Run("SQLite", func(t *testing.T) { fn(t, newDiskFixture(t, filepath.Join(t.TempDir(), "meta.db"))) })
	t.Run("PostgreSQL", func(t *testing.T) { fn(t, newDiskFixture(t, testenv.PostgresURL(t))) })
}

// plant stores bytes no record references, as a crash would leave them,
// aged by age.
func (f *diskFixture) plant(t *testing.T, key string, size int, age time.Duration) {
	t.Helper()
	if err := f.bucket.Put(context.Background(), key, bytes.NewReader(make([]byte, size)), int64(size)); err != nil {
		t.Fatal(err)
	}
	f.age(t, key, age)
}

func (f *diskFixture) age(t *testing.T, key string, age time.Duration) {
	t.Helper()
	then := time.Now().Add(-age)
	if err := os.Chtimes(filepath.Join(f.root, filepath.FromSlash(key)), then, then); err != nil {
		t.Fatal(err)
	}
}

// keys lists every key of the backend.
func (f *diskFixture) keys(t *testing.T) []string {
	t.Helper()
	var out []string
	for after := ""; ; {
		page, err := f.bucket.ListKeys(context.Background(), "", after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page {
			out = append(out, k.Key)
		}
		if len(page) < 500 {
			return out
		}
		after = page[len(page)-1].Key
	}
}

func (f *diskFixture) create(t *testing.T, id string, data []byte) blob.Blob {
	t.Helper()
	b, err := f.svc.Create(context.Background(), id, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Create(%q): %v", id, err)
	}
	return b
}

func (f *diskFixture) keyOf(t *testing.T, id string) string {
	t.Helper()
	r, err := f.meta.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r.StorageKey
}

func TestCollectOrphans(t *testing.T) {
	diskEngines(t, func(t *testing.T, f *diskFixture) {
		ctx := context.Background()
		f.create(t, "live", []byte("live bytes"))
		f.age(t, f.keyOf(t, "live"), 3*time.Hour) // old, but referenced
		f.create(t, "deleted", []byte("deleted bytes"))
		deletedKey := f.keyOf(t, "deleted")
		f.age(t, deletedKey, 3*time.Hour) // old, but its delete grace runs
		if err := f.svc.Delete(ctx, "deleted"); err != nil {
			t.Fatal(err)
		}
		f.plant(t, "ab/cd/old-orphan", 100, 2*time.Hour)
		f.plant(t, "ab/ce/.tmp-interrupted", 50, 2*time.Hour) // a write a crash interrupted
		f.plant(t, "ab/cd/young-orphan", 7, time.Minute)      // perhaps a create in progress
		before := f.keys(t)

		dry, err := f.svc.Collect(ctx, time.Now(), blob.GCOptions{OlderThan: time.Hour, DryRun: true})
		want := blob.GCReport{Listed: 5, ListedBytes: 10 + 13 + 100 + 50 + 7, Orphans: 2, OrphanBytes: 150, Young: 1, YoungBytes: 7}
		if err != nil || dry != want {
			t.Fatalf("dry run = %+v, %v; want %+v", dry, err, want)
		}
		if got := f.keys(t); !slices.Equal(got, before) {
			t.Fatalf("a dry run changed the backend: %q, was %q", got, before)
		}

		r, err := f.svc.Collect(ctx, time.Now(), blob.GCOptions{OlderThan: time.Hour})
		want.Removed, want.RemovedBytes = 2, 150
		if err != nil || r != want {
			t.Fatalf("Collect = %+v, %v; want %+v", r, err, want)
		}
		wantKeys := []string{"ab/cd/young-orphan", f.keyOf(t, "live"), deletedKey}
		slices.Sort(wantKeys)
		if got := f.keys(t); !slices.Equal(got, wantKeys) {
			t.Fatalf("after Collect the backend holds %q; want %q", got, wantKeys)
		}
		// Past the delete grace, the recorded key goes; with no grace at
		// all, so does the young orphan; the live blob stays.
		r, err = f.svc.Collect(ctx, time.Now().Add(options.DeleteGrace+time.Minute), blob.GCOptions{})
		if err != nil || r.Garbage != 1 || r.Removed != 1 {
			t.Fatalf("Collect past every grace = %+v, %v; want the deleted blob's key and the young orphan", r, err)
		}
		if got := f.keys(t); !slices.Equal(got, []string{f.keyOf(t, "live")}) {
			t.Fatalf("the backend holds %q; want only the live blob's key", got)
		}
		if _, data := readFrom(t, f.svc, "live"); string(data) != "live bytes" {
			t.Fatalf("live blob reads %q", data)
		}
	})
}

func TestCheck(t *testing.T) {
	diskEngines(t, func(t *testing.T, f *diskFixture) {
		ctx := context.Background()
		for i := range 30 {
			f.create(t, fmt.Sprintf("sound-%02d", i), bytes.Repeat([]byte{byte(i)}, i*1000))
		}
		f.create(t, "missing", []byte("gone"))
		f.create(t, "truncated", []byte("0123456789"))
		f.create(t, "flipped", []byte("abcdef"))
		other := meta.Record{ID: "on-s3", Size: 1, SHA256: fmt.Sprintf("%064x", 1), ContentType: "x/y",
			Backend: "s3", StorageKey: "ab/cd/x", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		if ok, err := f.meta.Insert(ctx, other); err != nil || !ok {
			t.Fatal(err)
		}
		path := func(id string) string { return filepath.Join(f.root, filepath.FromSlash(f.keyOf(t, id))) }
		if err := os.Remove(path("missing")); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path("truncated"), 5); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path("flipped"), []byte("abcdeF"), 0o600); err != nil {
			t.Fatal(err)
		}
		check := func(opts blob.CheckOptions) (blob.CheckReport, []string) {
			t.Helper()
			var found []string
			opts.Problem = func(p blob.Problem) { found = append(found, p.Kind+" "+p.Record.ID) }
			opts.Jobs = 4
			r, err := f.svc.Check(ctx, opts)
			if err != nil {
				t.Fatalf("Check(%+v): %v", opts, err)
			}
			slices.Sort(found)
			return r, found
		}
		r, found := check(blob.CheckOptions{})
		want := []string{"missing missing", "other_backend on-s3", "size_mismatch truncated"}
		if !slices.Equal(found, want) || r.Records != 34 || r.Checked != 33 || r.Problems != 3 {
			t.Fatalf("Check = %+v, %q; want 34 rows, 33 checked, problems %q", r, found, want)
		}
		r, found = check(blob.CheckOptions{Deep: true})
		want = []string{"checksum_mismatch flipped", "missing missing", "other_backend on-s3", "size_mismatch truncated"}
		if !slices.Equal(found, want) || r.Problems != 4 {
			t.Fatalf("deep Check = %+v, %q; want problems %q", r, found, want)
		}
		var repaired []string
		r, err := f.svc.Check(ctx, blob.CheckOptions{Repair: true, Repaired: func(p blob.Problem) { repaired = append(repaired, p.Record.ID) }})
		if err != nil || r.Repaired != 1 || !slices.Equal(repaired, []string{"missing"}) {
			t.Fatalf("Check --repair = %+v, %v, repaired %q; want only the missing blob's row removed", r, err, repaired)
		}
		for _, id := range []string{"truncated", "flipped", "on-s3", "sound-07"} {
			if _, err := f.meta.Get(ctx, id); err != nil {
				t.Errorf("repair removed the row of %q: %v", id, err)
			}
		}
		r, found = check(blob.CheckOptions{Deep: true})
		if want := want[:1]; r.Problems != 3 || found[0] != want[0] {
			t.Fatalf("deep Check after repair = %+v, %q", r, found)
		}
	})
}

// TestGCRacingCreates runs collections, with a grace period, while creates
// run: some held between storing their bytes and inserting their row, so
// a collection certainly sees bytes nothing references yet. Planted old
// orphans must go; every created blob must read back whole; nothing a
// create stored may be removed.
func TestGCRacingCreates(t *testing.T) {
	diskEngines(t, func(t *testing.T, f *diskFixture) {
		ctx := context.Background()
		var orphans []string
		for i := range 40 {
			k := fmt.Sprintf("%02x/00/orphan-%d", i, i)
			f.plant(t, k, 1000+i, 2*time.Hour)
			orphans = append(orphans, k)
		}
		// Every fifth insert waits until a whole collection has run since
		// its bytes were stored.
		var runs atomic.Int64
		var inserts atomic.Int64
		ranSince := make(chan struct{})
		var ranMu sync.Mutex
		f.meta.insert = func(ctx context.Context, r meta.Record) (bool, error) {
			if inserts.Add(1)%5 == 0 {
				for range 2 { // the second collection began after the bytes were stored
					ranMu.Lock()
					ch := ranSince
					ranMu.Unlock()
					<-ch
				}
			}
			return f.meta.Store.Insert(ctx, r)
		}
		const writers, perWriter = 8, 25
		want := map[string][]byte{}
		var wantMu sync.Mutex
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					id := fmt.Sprintf("w%d/%d", w, i)
					data := make([]byte, 1+(w*perWriter+i)*997%(200<<10))
					rand.Read(data)
					if _, err := f.svc.Create(ctx, id, bytes.NewReader(data), int64(len(data))); err != nil {
						t.Errorf("Create(%q): %v", id, err)
						return
					}
					wantMu.Lock()
					want[id] = data
					wantMu.Unlock()
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		var removed int
	collect:
		for {
			r, err := f.svc.Collect(ctx, time.Now(), blob.GCOptions{OlderThan: time.Hour})
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			removed += r.Removed
			runs.Add(1)
			ranMu.Lock()
			close(ranSince)
			ranSince = make(chan struct{})
			ranMu.Unlock()
			select {
			case <-done:
				break collect
			default:
			}
		}
		if removed != len(orphans) {
			t.Errorf("collections removed %d keys; want the %d planted orphans", removed, len(orphans))
		}
		t.Logf("%d collections raced %d creates", runs.Load(), writers*perWriter)
		for id, data := range want {
			if _, got := readFrom(t, f.svc, id); !bytes.Equal(got, data) {
				t.Fatalf("blob %q reads %d bytes, not the %d stored", id, len(got), len(data))
			}
		}
		r, err := f.svc.Check(ctx, blob.CheckOptions{Deep: true, Jobs: 4})
		if err != nil || r.Problems != 0 || r.Checked != writers*perWriter {
			t.Fatalf("fsck after the race = %+v, %v; want %d blobs, no problem", r, err, writers*perWriter)
		}
		if n := len(f.keys(t)); n != writers*perWriter {
			t.Fatalf("the backend holds %d keys; want exactly the %d blobs'", n, writers*perWriter)
		}
	})
}
