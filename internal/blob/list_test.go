package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// awkwardIDs returns n distinct ids mixing case, '_', '-', '/', '%' and
// non-ASCII characters, which collations and LIKE get wrong.
func awkwardIDs(n int) []string {
	parts := []string{"a", "A", "b", "_", "-", "/", "%", "é", "E", "日", "z", "0", " ", "~", "ß"}
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]bool)
	var ids []string
	for len(ids) < n {
		var sb strings.Builder
		for range 1 + rng.IntN(6) {
			sb.WriteString(parts[rng.IntN(len(parts))])
		}
		if id := sb.String(); !seen[id] && blob.ValidateID(id) == nil {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// insertRecords stores metadata for ids directly, in one transaction:
// listing needs no bytes, and one commit per id would make 10,000 ids slow.
func insertRecords(t testing.TB, f *fixture, ids []string) {
	t.Helper()
	tx, err := f.db.Writer().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		_, err := tx.Exec(`INSERT INTO blob_metadata (id, size, sha256, content_type, backend, storage_key, created_at)
			VALUES ($1, 0, $2, 'x/y', 'memory', 'ab/cd/x', $3)`, id, strings.Repeat("0", 64), time.Now().UTC())
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// listAll pages through a listing and returns its blobs' ids and folders.
func listAll(t *testing.T, f *fixture, o blob.ListOptions) (ids, folders []string, pages int) {
	t.Helper()
	for {
		p, err := f.svc.List(context.Background(), o)
		if err != nil {
			t.Fatalf("List(%+v): %v", o, err)
		}
		pages++
		if n := len(p.Blobs) + len(p.Prefixes); n > o.Limit || n < o.Limit && p.NextCursor != "" {
			t.Fatalf("a page of %d entries with limit %d and cursor %q", n, o.Limit, p.NextCursor)
		}
		for _, b := range p.Blobs {
			ids = append(ids, b.ID)
		}
		folders = append(folders, p.Prefixes...)
		if p.NextCursor == "" {
			return ids, folders, pages
		}
		o.Cursor = p.NextCursor
	}
}

// TestListTenThousandAwkwardIDs is slow under the race detector (which
// gains nothing here: one goroutine), so it runs in the test command's
// second pass, SIMPLEDRIVE_SLOW_TESTS=1.
func TestListTenThousandAwkwardIDs(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("pages through 10,000 ids on both engines; set SIMPLEDRIVE_SLOW_TESTS=1 (scripts/test does, in its second pass) to run it")
	}
	engines(t, func(t *testing.T, f *fixture) {
		ids := awkwardIDs(10000)
		insertRecords(t, f, ids)
		got, _, pages := listAll(t, f, blob.ListOptions{Limit: 7})
		want := slices.Clone(ids)
		slices.Sort(want) // bytewise
		if !slices.Equal(got, want) {
			t.Fatalf("paged listing of %d ids returned %d, not each once in byte order", len(want), len(got))
		}
		t.Logf("%d ids in %d pages of 7", len(got), pages)
	})
}

func TestListFolders(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		insertRecords(t, f, []string{"a", "a/1", "a/2", "a/b/c", "a0", "b/x", "b/y/z", "c", "é/1"})
		for _, c := range []struct {
			prefix, delim string
			ids, folders  []string
		}{
			{"", "/", []string{"a", "a0", "c"}, []string{"a/", "b/", "é/"}},
			{"a/", "/", []string{"a/1", "a/2"}, []string{"a/b/"}},
			{"b/", "/", []string{"b/x"}, []string{"b/y/"}},
			{"", "", []string{"a", "a/1", "a/2", "a/b/c", "a0", "b/x", "b/y/z", "c", "é/1"}, nil},
			{"a", "/", []string{"a", "a0"}, []string{"a/"}},
			{"zz", "/", nil, nil},
		} {
			for _, limit := range []int{1, 2, 3, 100} {
				ids, folders, _ := listAll(t, f, blob.ListOptions{Prefix: c.prefix, Delimiter: c.delim, Limit: limit})
				if !slices.Equal(ids, c.ids) || !slices.Equal(folders, c.folders) {
					t.Errorf("List(%q, %q, limit %d) = %q, %q; want %q, %q", c.prefix, c.delim, limit, ids, folders, c.ids, c.folders)
				}
			}
		}
	})
}

// TestListPageIsOneQuery: a page of folders that each hold several blobs
// costs one metadata query, as a page of blobs does, not one per folder.
func TestListPageIsOneQuery(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		var ids []string
		for i := range 30 {
			ids = append(ids, fmt.Sprintf("d%02d/1", i), fmt.Sprintf("d%02d/2", i), fmt.Sprintf("d%02d/3/x", i), fmt.Sprintf("f%02d", i))
		}
		insertRecords(t, f, ids)
		for _, o := range []blob.ListOptions{{Delimiter: "/", Limit: 20}, {Limit: 20}, {Prefix: "d0", Delimiter: "/", Limit: 1000}} {
			for {
				before := f.meta.lists.Load()
				p, err := f.svc.List(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				if n := f.meta.lists.Load() - before; n != 1 {
					t.Fatalf("a page of %d blobs and %d folders took %d metadata queries; want 1", len(p.Blobs), len(p.Prefixes), n)
				}
				if o.Cursor = p.NextCursor; o.Cursor == "" {
					break
				}
			}
		}
	})
}

func TestListRefusesBadParameters(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		for _, o := range []blob.ListOptions{
			{Limit: 0}, {Limit: 1001}, {Limit: 1, Cursor: "!!"}, {Limit: 1, Cursor: "eA"},
			{Limit: 1, Prefix: "\xff"}, {Limit: 1, Delimiter: "\U0010ffff"},
		} {
			if _, err := f.svc.List(context.Background(), o); !errors.Is(err, blob.ErrInvalidListing) {
				t.Errorf("List(%+v) = %v; want ErrInvalidListing", o, err)
			}
		}
	})
}

func TestStoreWithTypeAndDigest(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		data := []byte("<svg/>")
		sum := sha256.Sum256(data)
		b, err := f.svc.Store(ctx, blob.Upload{ID: "pic", Body: bytes.NewReader(data), Size: 6, ContentType: "image/svg+xml", SHA256: sum[:]})
		if err != nil || b.ContentType != "image/svg+xml" {
			t.Fatalf("Store = %+v, %v", b, err)
		}
		if got, _ := f.svc.Stat(ctx, "pic"); got != b {
			t.Fatalf("Stat = %+v; want %+v", got, b)
		}
		wrong := sha256.Sum256([]byte("other"))
		_, err = f.svc.Store(ctx, blob.Upload{ID: "bad", Body: bytes.NewReader(data), Size: 6, SHA256: wrong[:]})
		if !errors.Is(err, blob.ErrDigestMismatch) {
			t.Fatalf("Store with a wrong digest = %v; want ErrDigestMismatch", err)
		}
		if ok, _ := f.svc.Exists(ctx, "bad"); ok || f.store.Len() != 1 {
			t.Fatalf("a digest mismatch left the blob (%v) or its bytes (%d in the backend)", ok, f.store.Len())
		}
		if b, _ := create(t, f, "plain", data); b.ContentType != blob.DefaultContentType {
			t.Fatalf("Create stored type %q; want %q", b.ContentType, blob.DefaultContentType)
		}
	})
}

// openRange opens length bytes of the blob id from offset on.
func openRange(t *testing.T, f *fixture, id string, offset, length int64) (io.ReadCloser, error) {
	t.Helper()
	h, err := f.svc.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("Open(%q): %v", id, err)
	}
	return h.RangeReader(context.Background(), offset, length)
}

func TestRangeReader(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		data := []byte("0123456789")
		if _, err := create(t, f, "digits", data); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ off, n int64 }{{0, 10}, {3, 4}, {9, 1}, {10, 0}} {
			rc, err := openRange(t, f, "digits", c.off, c.n)
			if err != nil {
				t.Fatalf("GetRange(%d, %d): %v", c.off, c.n, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(got) != string(data[c.off:c.off+c.n]) {
				t.Errorf("GetRange(%d, %d) = %q, %v", c.off, c.n, got, err)
			}
		}
		if _, err := openRange(t, f, "digits", 5, 6); err == nil {
			t.Error("GetRange past the end succeeded")
		}
		// Bytes shorter than their metadata fail the range that needs them.
		var key string
		f.store.afterPut = func(k string) { key = k }
		create(t, f, "short", data)
		f.store.Delete(ctx, key)
		f.store.Store.Put(ctx, key, strings.NewReader("01234"), 5)
		rc, err := openRange(t, f, "short", 2, 8)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(rc); !errors.Is(err, blob.ErrCorrupt) {
			t.Errorf("a range of truncated bytes = %v; want ErrCorrupt", err)
		}
		rc.Close()
	})
}

func TestCollectGarbage(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for i := range 3 {
			if _, err := create(t, f, fmt.Sprint("doomed-", i), []byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.Delete(ctx, fmt.Sprint("doomed-", i)); err != nil {
				t.Fatal(err)
			}
		}
		create(t, f, "kept", []byte("y"))
		if n, err := f.svc.CollectGarbage(ctx, time.Now()); err != nil || n != 0 {
			t.Fatalf("CollectGarbage within the grace period = %d, %v; want nothing removed", n, err)
		}
		if f.store.Len() != 4 {
			t.Fatalf("backend holds %d blobs; want 4", f.store.Len())
		}
		n, err := f.svc.CollectGarbage(ctx, time.Now().Add(options.DeleteGrace+time.Second))
		if err != nil || n != 3 {
			t.Fatalf("CollectGarbage after the grace period = %d, %v; want 3", n, err)
		}
		if f.store.Len() != 1 {
			t.Fatalf("backend holds %d blobs; want only the kept one", f.store.Len())
		}
		if _, data := read(t, f, "kept"); string(data) != "y" {
			t.Fatal("the kept blob changed")
		}
		if n, err := f.svc.CollectGarbage(ctx, time.Now().Add(2*options.DeleteGrace)); err != nil || n != 0 {
			t.Fatalf("a second CollectGarbage = %d, %v; want nothing left", n, err)
		}
	})
}

// BenchmarkListPage times one page of 1,000 entries among 50,000 blobs,
// without a delimiter and with one where each folder holds one blob (the
// worst case for folding), on both engines.
func BenchmarkListPage(b *testing.B) {
	const n = 50000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("f%05d/x", i)
	}
	for _, engine := range []string{"SQLite", "PostgreSQL"} {
		b.Run(engine, func(b *testing.B) {
			url := filepath.Join(b.TempDir(), "meta.db")
			if engine == "PostgreSQL" {
				url = testenv.PostgresURL(b)
			}
			f := newFixture(b, url)
			insertRecords(b, f, ids)
			for _, delim := range []string{"", "/"} {
				name := map[string]string{"": "Flat", "/": "Folders"}[delim]
				b.Run(name, func(b *testing.B) {
					ctx := context.Background()
					o := blob.ListOptions{Delimiter: delim, Limit: blob.MaxListLimit}
					for b.Loop() {
						p, err := f.svc.List(ctx, o)
						if err != nil || len(p.Blobs)+len(p.Prefixes) != blob.MaxListLimit {
							b.Fatalf("List = %d blobs, %d folders, cursor %q, %v", len(p.Blobs), len(p.Prefixes), p.NextCursor, err)
						}
						o.Cursor = p.NextCursor // page through, from the start again after the last page
					}
				})
			}
		})
	}
}
