package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/blob"
)

// cacheOptions are the test options with a read cache.
var cacheOptions = func() blob.Options {
	o := options
	o.ReadCacheBytes = 1 << 20
	return o
}()

func cacheFixture(t *testing.T, opts blob.Options) *fixture {
	t.Helper()
	return newFixtureWith(t, filepath.Join(t.TempDir(), "meta.db"), opts)
}

// spoil overwrites the stored bytes of id on the backend with as many
// other bytes, returning its storage key.
func spoil(t *testing.T, f *fixture, id string) string {
	t.Helper()
	ctx := context.Background()
	rec, err := f.meta.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Repeat([]byte{'X'}, int(rec.Size))
	if err := f.store.Store.Put(ctx, rec.StorageKey, bytes.NewReader(bad), rec.Size); err != nil {
		t.Fatal(err)
	}
	return rec.StorageKey
}

// TestReadCacheServesVerifiedCopy: a small blob read whole once is then
// served from memory, so bytes spoiled on the backend afterwards are not
// seen (the verified copy is), while fsck --deep, which reads the
// backend, finds them; whole and range reads alike.
func TestReadCacheServesVerifiedCopy(t *testing.T) {
	f := cacheFixture(t, cacheOptions)
	ctx := context.Background()
	data := []byte("small and hot")
	if _, err := create(t, f, "hot", data); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(f.svc, "hot"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("first read = %q, %v", got, err)
	}
	spoil(t, f, "hot")
	if got, err := readAll(f.svc, "hot"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the backend bytes were spoiled = %q, %v; want the cached %q", got, err, data)
	}
	h, err := f.svc.Open(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := h.RangeReader(ctx, 6, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rc); err != nil || string(got) != "and" {
		t.Fatalf("range from the cache = %q, %v; want \"and\"", got, err)
	}
	rc.Close()
	rep, err := f.svc.Check(ctx, blob.CheckOptions{Deep: true})
	if err != nil || rep.Problems != 1 {
		t.Fatalf("fsck --deep = %+v, %v; want the spoiled bytes found", rep, err)
	}
}

// TestReadCacheOff: with no READ_CACHE_BYTES nothing is cached, and bytes
// spoiled on the backend after a read are found by the next.
func TestReadCacheOff(t *testing.T) {
	f := cacheFixture(t, options)
	if _, err := create(t, f, "cold", []byte("not cached")); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(f.svc, "cold"); err != nil {
		t.Fatal(err)
	}
	if n := blob.CacheLen(f.svc); n != 0 {
		t.Fatalf("%d cache entries with the cache off", n)
	}
	spoil(t, f, "cold")
	if got, err := readAll(f.svc, "cold"); !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("read of spoiled bytes with the cache off = %q, %v; want ErrCorrupt", got, err)
	}
}

// TestReadCacheFollowsTheRow: the cache is consulted only after the row:
// a replaced blob reads as its new bytes, a deleted one is not found,
// though the old bytes are still cached.
func TestReadCacheFollowsTheRow(t *testing.T) {
	f := cacheFixture(t, cacheOptions)
	ctx := context.Background()
	for _, id := range []string{"replaced", "deleted"} {
		if _, err := create(t, f, id, []byte("old bytes of "+id)); err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(f.svc, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := blob.CacheLen(f.svc); n != 2 {
		t.Fatalf("%d cache entries after reading 2 small blobs", n)
	}
	newData := []byte("the new bytes")
	if _, err := f.svc.Replace(ctx, blob.Upload{ID: "replaced", Body: bytes.NewReader(newData), Size: int64(len(newData))},
		func(blob.Blob) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(f.svc, "replaced"); err != nil || !bytes.Equal(got, newData) {
		t.Fatalf("read after replace = %q, %v; want %q", got, err, newData)
	}
	if err := f.svc.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(f.svc, "deleted"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("read after delete = %q, %v; want ErrNotFound", got, err)
	}
	if n := blob.CacheLen(f.svc); n != 3 {
		t.Errorf("%d cache entries; want the 2 old (aging out) and the new", n)
	}
}

// TestReadCacheCorruptEntry: cached bytes that no longer match the row
// (a memory fault) are not served: the read falls back to the backend,
// and the entry is replaced by the backend's verified bytes.
func TestReadCacheCorruptEntry(t *testing.T) {
	f := cacheFixture(t, cacheOptions)
	ctx := context.Background()
	data := []byte("flip me")
	if _, err := create(t, f, "flip", data); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(f.svc, "flip"); err != nil {
		t.Fatal(err)
	}
	rec, err := f.meta.Get(ctx, "flip")
	if err != nil {
		t.Fatal(err)
	}
	cached, ok := blob.CachedBytes(f.svc, rec.Backend, rec.StorageKey)
	if !ok {
		t.Fatal("not cached after a whole read")
	}
	cached[0] ^= 1
	if got, err := readAll(f.svc, "flip"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a corrupt cache entry = %q, %v; want %q from the backend", got, err, data)
	}
	h, err := f.svc.Open(ctx, "flip")
	if err != nil {
		t.Fatal(err)
	}
	cached, _ = blob.CachedBytes(f.svc, rec.Backend, rec.StorageKey)
	cached[0] ^= 1
	rc, err := h.RangeReader(ctx, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rc); err != nil || string(got) != "flip" {
		t.Fatalf("range with a corrupt cache entry = %q, %v; want \"flip\"", got, err)
	}
	rc.Close()
}

// TestReadCacheSkips: encrypted, inline, large blobs and blobs that fail
// verification are not cached.
func TestReadCacheSkips(t *testing.T) {
	f := cacheFixture(t, cacheOptions)
	large := bytes.Repeat([]byte("L"), blob.MaxCachedBlob+1)
	if _, err := create(t, f, "large", large); err != nil {
		t.Fatal(err)
	}
	if _, err := create(t, f, "spoiled", []byte("spoiled bytes")); err != nil {
		t.Fatal(err)
	}
	spoil(t, f, "spoiled")
	if _, err := readAll(f.svc, "large"); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(f.svc, "spoiled"); !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("read of spoiled bytes = %v; want ErrCorrupt", err)
	}
	if n := blob.CacheLen(f.svc); n != 0 {
		t.Fatalf("%d cache entries after reading a large and a corrupt blob", n)
	}

	sealedOpts, inlineOpts := cacheOptions, cacheOptions
	sealedOpts.Keys, inlineOpts.InlineMax = keyring(t, "k1"), 4096
	for kind, opts := range map[string]blob.Options{"encrypted": sealedOpts, "inline": inlineOpts} {
		svc := blob.New(f.meta, f.bucket, opts, slog.New(slog.DiscardHandler))
		if _, err := svc.Create(context.Background(), kind, strings.NewReader("small "+kind), int64(len("small "+kind))); err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(svc, kind); err != nil || string(got) != "small "+kind {
			t.Fatalf("%s read = %q, %v", kind, got, err)
		}
		if n := blob.CacheLen(svc); n != 0 {
			t.Errorf("%d cache entries after reading an %s blob", n, kind)
		}
	}
}

// BenchmarkSmallRead1KiB measures a verified whole read of a 1 KiB blob
// stored as a local file, copied out (by its WriteTo when it has one),
// with the read cache on and off. The metadata lookup is left out
// (Handle.Reader of an opened handle): this is the part the cache saves.
func BenchmarkSmallRead1KiB(b *testing.B) {
	for _, mode := range []string{"cache", "nocache"} {
		b.Run(mode, func(b *testing.B) {
			opts := options
			if mode == "cache" {
				opts = cacheOptions
			}
			svc, _ := localServiceWith(b, b.TempDir(), opts)
			benchWholeReads(b, svc, bytes.Repeat([]byte("0123456789abcdef"), 64), func(rc io.ReadCloser) (int64, error) {
				return io.Copy(io.Discard, rc)
			})
		})
	}
}
