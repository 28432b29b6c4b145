package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"

	"github.com/simpledrive/simpledrive/internal/meta"
)

// The read cache ([Options.ReadCacheBytes], READ_CACHE_BYTES) keeps the
// verified bytes of small blobs in memory, so that a hot small read costs
// the metadata lookup and no backend open, stat, read and close.
//
// It is keyed by backend and storage key. A storage key is fresh for
// every upload (newKey, newLateKey), so the bytes under it never change,
// and the cache is consulted only after the blob's metadata row is read:
// an overwrite names other bytes and a delete leaves no row, so neither
// is ever answered from the cache (the entries of the old bytes age out).
// That holds across replicas, each with its own cache, without any
// invalidation.
//
// Only whole reads fill it, with bytes that passed the verifier; every
// read served from it, whole or a range, checks the cached bytes against
// the row's CRC-32C (its SHA-256 without one) first. Cached bytes that do
// not match are logged as an integrity fault, dropped, and the read goes
// to the backend as without the cache. Bytes corrupted on the backend
// after they were cached are still served from the verified copy in
// memory until it ages out; fsck --deep reads the backend and finds them.
//
// Encrypted blobs are never cached (their plaintext stays out of
// long-lived memory), nor inline blobs (their bytes come with the row),
// nor blobs larger than [MaxCachedBlob].

// MaxCachedBlob is the size of the largest blob the read cache keeps.
const MaxCachedBlob = 16 << 10

// cacheable reports whether the bytes of h may be kept in the read cache.
func (h Handle) cacheable() bool {
	return h.svc.cache != nil && h.rec.KeyID == "" && h.rec.WrappedKey == "" &&
		h.rec.Backend != meta.InlineBackend && h.rec.Size <= MaxCachedBlob
}

// cacheKey returns the read cache's key of the bytes of rec.
func cacheKey(rec meta.Record) string { return rec.Backend + "\x00" + rec.StorageKey }

// cached returns a reader of length bytes from offset of the blob's
// cached bytes, once they matched the row's checksum, or nil.
func (h Handle) cached(ctx context.Context, offset, length int64) io.ReadCloser {
	if !h.cacheable() {
		return nil
	}
	key := cacheKey(h.rec)
	b, ok := h.svc.cache.Get(key)
	if !ok {
		return nil
	}
	if detail := mismatch(b, h.rec); detail != "" {
		h.svc.log.LogAttrs(ctx, slog.LevelError, "integrity fault: cached bytes do not match metadata; reading the backend",
			slog.String("storage_key", h.rec.StorageKey), slog.String("detail", detail))
		h.svc.cache.Remove(key)
		return nil
	}
	r := new(cachedReader)
	r.Reset(b[offset : offset+length])
	return r
}

// capture makes v put the bytes it reads into the read cache once they
// verified, when the blob qualifies.
func (h Handle) capture(v *verifier) {
	if h.cacheable() {
		v.keep, v.cache = make([]byte, 0, h.rec.Size), h.svc.cache
	}
}

// mismatch describes how b differs from the bytes rec records, or is
// empty when they match.
func mismatch(b []byte, rec meta.Record) string {
	if int64(len(b)) != rec.Size {
		return fmt.Sprintf("%d bytes, want %d", len(b), rec.Size)
	}
	if rec.HasCRC32C {
		return checksumMismatch(rec, crc32.Checksum(b, castagnoli), nil)
	}
	sum := sha256.Sum256(b)
	return checksumMismatch(rec, 0, sum[:])
}

// cachedReader reads verified bytes of the read cache. It is an
// [io.WriterTo], which writes them in one call.
type cachedReader struct{ bytes.Reader }

func (*cachedReader) Close() error { return nil }
