package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkTus1GiB compares a 1 GiB upload by tus in 8 MiB PATCHes with a
// raw PUT of the same bytes, on local+SQLite and s3+PostgreSQL: MB/s of
// blob bytes, and the peak heap of the process (server and client; the tus
// client holds its 8 MiB chunk). Run it alone, without -race:
//
//	scripts/test -run '^$' -bench Tus1GiB -benchtime 1x ./internal/httpapi
func BenchmarkTus1GiB(b *testing.B) {
	const size, chunk = 1 << 30, 8 << 20
	for _, name := range []string{"local+SQLite", "s3+PostgreSQL"} {
		var s stack
		for _, st := range stacks {
			if st.name == name {
				s = st
			}
		}
		b.Run(name, func(b *testing.B) {
			c := newBenchClient(b, startApp(b, s))
			for _, mode := range []string{"PUT", "tus-8MiB"} {
				b.Run(mode, func(b *testing.B) {
					b.SetBytes(size)
					var peak float64
					for i := 0; b.Loop(); i++ {
						id := nextBenchID()
						seed := [32]byte{byte(i), 7}
						want := sha256.New()
						hs := startHeapSampler()
						if mode == "PUT" {
							body := io.TeeReader(io.LimitReader(rand.NewChaCha8(seed), size), want)
							req, _ := http.NewRequest(http.MethodPut, c.url+blobPath(id), struct{ io.Reader }{body})
							req.ContentLength = size
							req.Header.Set("Authorization", "Bearer "+token)
							c.do(b, req, http.StatusCreated, io.Discard)
						} else {
							tusUpload(b, c, id, size, chunk, io.TeeReader(rand.NewChaCha8(seed), want))
						}
						peak = max(peak, hs.finish().heap)
						req, _ := http.NewRequest(http.MethodGet, c.url+blobPath(id)+"?meta=1", nil)
						req.Header.Set("Authorization", "Bearer "+token)
						var meta blobObjectJSON
						r := c.client
						resp, err := r.Do(req)
						if err != nil {
							b.Fatal(err)
						}
						decodeJSONBody(b, resp, &meta)
						if meta.SHA256 != hex.EncodeToString(want.Sum(nil)) || meta.Size != size {
							b.Fatalf("stored blob: %+v; want %d bytes with the uploaded digest", meta, size)
						}
					}
					b.ReportMetric(peak/(1<<20), "peak-heap-MiB")
				})
			}
		})
	}
}

// BenchmarkTusOnePatch compares an upload by tus in one PATCH, as the
// console and simpledrive put send it, with one raw PUT of the same bytes
// on local+SQLite: at 8 MiB, the smallest file simpledrive put sends by
// tus, the per-upload costs (commits, fsyncs) weigh; at 256 MiB the
// per-byte ones. Run it alone, without -race:
//
//	scripts/test -run '^$' -bench TusOnePatch -benchtime 20x ./internal/httpapi
func BenchmarkTusOnePatch(b *testing.B) {
	c := newBenchClient(b, startApp(b, stacks[0]))
	for _, size := range []int{8 << 20, 256 << 20} {
		data := benchData(size)
		for _, mode := range []string{"PUT", "tus"} {
			b.Run(fmt.Sprintf("%dMiB/%s", size>>20, mode), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					id := nextBenchID()
					if mode == "tus" {
						tusUpload(b, c, id, int64(size), int64(size), bytes.NewReader(data))
						continue
					}
					req, _ := http.NewRequest(http.MethodPut, c.url+blobPath(id), &sliceReader{b: data})
					req.ContentLength = int64(size)
					req.Header.Set("Authorization", "Bearer "+token)
					c.do(b, req, http.StatusCreated, io.Discard)
				}
			})
		}
	}
}

// tusUpload uploads size bytes of src as id by tus, in PATCHes of chunk
// bytes from one reused buffer.
func tusUpload(tb testing.TB, c *benchClient, id string, size, chunk int64, src io.Reader) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url+"/v1/uploads", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.FormatInt(size, 10))
	req.Header.Set("Upload-Metadata", metadata("id", id))
	resp, err := c.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		tb.Fatalf("tus creation: %v %v", resp, err)
	}
	resp.Body.Close()
	loc := c.url + resp.Header.Get("Location")
	buf := make([]byte, chunk)
	for off := int64(0); off < size; {
		n, err := io.ReadFull(src, buf[:min(chunk, size-off)])
		if err != nil {
			tb.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPatch, loc, struct{ io.Reader }{&sliceReader{b: buf[:n]}})
		req.ContentLength = int64(n)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
		c.do(tb, req, http.StatusNoContent, io.Discard)
		off += int64(n)
	}
}

// sliceReader reads a slice without the WriteTo that would bypass the
// transport's buffer.
type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func decodeJSONBody(tb testing.TB, resp *http.Response, v any) {
	tb.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		tb.Fatalf("%s: %v", data, err)
	}
}
