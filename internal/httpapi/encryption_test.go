package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/crypt"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestEncryptionAtRest: with ENCRYPTION_KEYS, on every stack, blobs
// written by JSON POST, raw PUT and tus hold no plaintext at rest (the
// stored bytes of each blob, read from the backend, are searched for a
// marker the content repeats), read back exactly, whole and by ranges
// that start, end and straddle segment boundaries, the last segment
// included, and an empty blob reads back empty.
func TestEncryptionAtRest(t *testing.T) {
	ring, err := crypt.ParseKeyring([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "AT-REST-MARKER-"
	content := func(n int) []byte { return bytes.Repeat([]byte(marker), n/len(marker)+1)[:n] }
	const S = crypt.SegmentSize
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			testenv.SkipStackUnderRace(t, s.name)
			var cfg config.Config
			h := serve(t, startApp(t, s, func(c *config.Config) { c.EncryptionKeys, cfg = ring, *c; cfg.EncryptionKeys = ring }))
			blobs := map[string][]byte{"json": content(S + 1), "raw": content(3*S + 5), "tus": content(2*S + 100), "empty": nil}
			expectStatus(t, h.postBlob("json", blobs["json"]), http.StatusCreated)
			expectStatus(t, h.putRaw("raw", blobs["raw"], nil), http.StatusCreated)
			expectStatus(t, h.putRaw("empty", nil, nil), http.StatusCreated)
			tus := &tusHarness{harness: h}
			loc := tus.create("tus", int64(len(blobs["tus"])))
			expectStatus(t, tus.patch(loc, 0, blobs["tus"][:S-7], nil), http.StatusNoContent)
			expectStatus(t, tus.patch(loc, S-7, blobs["tus"][S-7:], nil), http.StatusNoContent)
			// An upload left unfinished: its part stays on the backend.
			open := tus.create("open", 2*S)
			expectStatus(t, tus.patch(open, 0, content(S+3), nil), http.StatusNoContent)

			for id, data := range blobs {
				r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, nil)
				if r.StatusCode != http.StatusOK || !bytes.Equal(r.body, data) {
					t.Fatalf("GET %s = %d, %d bytes; want the %d stored", id, r.StatusCode, len(r.body), len(data))
				}
				n := len(data)
				for _, rg := range [][2]int{{0, 0}, {S - 1, S}, {S, S}, {S - 2, S + 2}, {n - 1, n - 1}, {(n - 1) / S * S, n - 1}, {0, n - 1}} {
					if rg[0] < 0 || rg[1] >= n || rg[0] > rg[1] {
						continue
					}
					r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", rg[0], rg[1])})
					if r.StatusCode != http.StatusPartialContent || !bytes.Equal(r.body, data[rg[0]:rg[1]+1]) {
						t.Fatalf("GET %s bytes=%d-%d = %d, %d bytes", id, rg[0], rg[1], r.StatusCode, len(r.body))
					}
				}
			}

			// The stored bytes of every blob, straight from the backend.
			ctx := context.Background()
			d, err := db.Open(ctx, cfg.DatabaseURL)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			bucket, err := app.OpenBucket(ctx, cfg.StorageBackend, cfg, d)
			if err != nil {
				t.Fatal(err)
			}
			defer bucket.Close()
			m := sqlmeta.New(d)
			for id, data := range blobs {
				rec, err := m.Get(ctx, id)
				if err != nil || rec.KeyID != "k1" {
					t.Fatalf("record of %s: %+v, %v; want it encrypted under k1", id, rec, err)
				}
				rc, err := bucket.Get(ctx, rec.StorageKey)
				if err != nil {
					t.Fatal(err)
				}
				at, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || bytes.Contains(at, []byte(marker)) || int64(len(at)) != crypt.CiphertextSize(int64(len(data))) {
					t.Fatalf("%s at rest: %d bytes (want %d), %v, plaintext visible %v", id, len(at), crypt.CiphertextSize(int64(len(data))), err, bytes.Contains(at, []byte(marker)))
				}
			}
			// The parts of the tus uploads, the open one's and the finished
			// one's (garbage until collected), are sealed too.
			keys, err := bucket.ListKeys(ctx, "tus/", "", 100)
			if err != nil || len(keys) == 0 {
				t.Fatalf("listing the tus parts: %d keys, %v", len(keys), err)
			}
			for _, k := range keys {
				rc, err := bucket.Get(ctx, k.Key)
				if err != nil {
					t.Fatal(err)
				}
				at, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || bytes.Contains(at, []byte(marker)) {
					t.Fatalf("part %s at rest: %v, plaintext visible %v", k.Key, err, bytes.Contains(at, []byte(marker)))
				}
			}
		})
	}
}

// TestEncryptedCorruptCutAtSegment: on every stack, a bit flipped in one
// segment of an encrypted blob of 2 MiB and 10 bytes reaches no client
// through the raw download: in the first block of 1 MiB, whose 16
// segments are all authenticated before the status, it is answered 500
// blob_corrupt; later (in a segment of the second block, or in the final
// one, opened only once the stored bytes ended after it), the body is cut
// short of its Content-Length right after the segments before it, which
// arrive whole, and holds no byte of the bad one.
func TestEncryptedCorruptCutAtSegment(t *testing.T) {
	ring, err := crypt.ParseKeyring([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	const S, sealed = crypt.SegmentSize, crypt.SegmentSize + crypt.Overhead
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			testenv.SkipStackUnderRace(t, s.name)
			c := startCorruptible(t, s, func(c *config.Config) { c.EncryptionKeys = ring })
			data := make([]byte, 2<<20+10)
			rand.Read(data)
			for _, seg := range []int{1, 15, 20, 32} {
				id := fmt.Sprint("seg-", seg)
				expectStatus(t, c.request(http.MethodPut, blobPath(id), bytes.NewReader(data), nil), http.StatusCreated)
				c.flip(id, int64(seg*sealed+5))
				resp, body, err := c.fetch(blobPath(id)+"?alt=media", false)
				switch {
				case seg*S < 1<<20: // in the first block
					if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"code":"blob_corrupt"`) {
						t.Fatalf("segment %d flipped: %d %.200s; want 500 blob_corrupt before the body", seg, resp.StatusCode, body)
					}
				case resp.StatusCode != http.StatusOK || err == nil || !bytes.Equal(body, data[:seg*S]):
					t.Fatalf("segment %d flipped: %d, %d of %d bytes, read error %v; want exactly the %d bytes before it, then the body cut", seg, resp.StatusCode, len(body), resp.ContentLength, err, seg*S)
				}
			}
		})
	}
}

// BenchmarkRawEncryption compares raw PUT and GET of 1 MiB (local +
// SQLite, in process) with encryption at rest off and on.
func BenchmarkRawEncryption(b *testing.B) {
	ring, err := crypt.ParseKeyring([]byte("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))))
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	for _, mode := range []string{"off", "on"} {
		h := startApp(b, stacks[0], func(c *config.Config) {
			if mode == "on" {
				c.EncryptionKeys = ring
			}
		})
		do := func(method, path string, body []byte) {
			req := httptest.NewRequest(method, path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated && rec.Code != http.StatusOK {
				b.Fatalf("%s %s = %d", method, path, rec.Code)
			}
		}
		n := 0
		b.Run("put/"+mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				n++
				do(http.MethodPut, blobPath(fmt.Sprint("b", n)), data)
			}
		})
		b.Run("get/"+mode, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				do(http.MethodGet, blobPath("b1")+"?alt=media", nil)
			}
		})
	}
}
