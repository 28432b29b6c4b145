package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

// inlineStacks are the stacks the API runs on with INLINE_MAX_BYTES set.
var inlineStacks = []stack{stacks[0], stacks[1]} // local+SQLite, local+PostgreSQL

// inline sets INLINE_MAX_BYTES=4096.
func inline(c *config.Config) { c.InlineMaxBytes = 4096 }

// TestInlineAPI runs the seed's API suite and the complete API suite with
// INLINE_MAX_BYTES=4096: small blobs in their rows behave as any other.
func TestInlineAPI(t *testing.T) {
	for _, s := range inlineStacks {
		t.Run(s.name, func(t *testing.T) {
			for _, c := range apiSuite {
				t.Run(c.name, func(t *testing.T) {
					skipCaseUnderRace(t, s, c)
					c.fn(t, startStack(t, s, inline))
				})
			}
			h := startStack(t, s, inline)
			for _, c := range completeSuite {
				t.Run(c.name, func(t *testing.T) {
					skipCaseUnderRace(t, s, c)
					c.fn(t, &harness{t: t, url: h.url})
				})
			}
		})
	}
}

// varying matches what differs between the responses of two servers:
// RFC 3339 times and request ids.
var varying = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z|"request_id":"[^"]*"`)

// seenExchange is what a client sees of a response but what varies.
func seenExchange(r response) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n", r.StatusCode)
	for _, name := range []string{"Content-Type", "Content-Length", "Content-Range", "Content-Disposition", "ETag", "Location",
		"Cache-Control", "Accept-Ranges", "Repr-Digest", "Digest", "Allow"} {
		// The length of a body with a time follows the digits of its
		// fraction of a second.
		timed := varying.Match(r.body) || r.Request.Method == http.MethodHead && r.Request.URL.Query().Get("alt") != "media"
		if v := r.Header.Values(name); len(v) > 0 && !(name == "Content-Length" && timed) {
			fmt.Fprintf(&b, "%s: %q\n", name, v)
		}
	}
	b.Write(varying.ReplaceAll(r.body, []byte("VARYING")))
	return b.String()
}

// countFiles returns the number of regular files under root.
func countFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestInlineResponsesUnchanged: every response about blobs of 0 B, 1 B,
// the limit and one byte more (JSON create and get, raw get, HEAD,
// ranges, the blob object, listing, usage, delete) is byte for byte the
// one a server without INLINE_MAX_BYTES gives, times aside; the inline
// server's backend holds a file for the large blobs only, and deleting the
// others leaves no garbage.
func TestInlineResponsesUnchanged(t *testing.T) {
	var root string
	on := startStack(t, stacks[0], inline, func(c *config.Config) { root = c.LocalStoragePath })
	off := startStack(t, stacks[0])
	both := func(method, path string, body []byte, headers map[string]string) {
		t.Helper()
		var got [2]string
		for i, h := range []*harness{on, off} {
			var r io.Reader
			if body != nil {
				r = bytes.NewReader(body)
			}
			got[i] = seenExchange(h.request(method, path, r, headers))
		}
		if got[0] != got[1] {
			t.Fatalf("%s %s with inlining:\n%s\nwithout:\n%s", method, path, got[0], got[1])
		}
	}
	sizes := map[string]int{"zero": 0, "one": 1, "limit": 4096, "over": 4097}
	for id, size := range sizes {
		data := benchData(size)
		both(http.MethodPost, "/v1/blobs", []byte(createBody("json/"+id, data)), nil)
		both(http.MethodPost, "/v1/blobs", []byte(createBody("json/"+id, data)), nil) // 409
		both(http.MethodPut, blobPath("raw/"+id), data, map[string]string{"Content-Type": "text/plain"})
	}
	if n := countFiles(t, root); n != 2 {
		t.Fatalf("the inline server's backend holds %d files; want 2 (the blobs over the limit)", n)
	}
	for id, size := range sizes {
		for _, prefix := range []string{"json/", "raw/"} {
			p := blobPath(prefix + id)
			both(http.MethodGet, p, nil, nil)
			both(http.MethodGet, p+"?alt=media", nil, nil)
			both(http.MethodHead, p+"?alt=media", nil, nil)
			both(http.MethodHead, p, nil, nil)
			both(http.MethodGet, p+"?meta=1", nil, nil)
			if size > 0 {
				both(http.MethodGet, p+"?alt=media", nil, map[string]string{"Range": "bytes=0-0"})
				both(http.MethodGet, p+"?alt=media", nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size/2)})
				both(http.MethodGet, p+"?alt=media", nil, map[string]string{"Range": "bytes=-3"})
			}
			both(http.MethodGet, p+"?alt=media", nil, map[string]string{"Range": fmt.Sprintf("bytes=%d-", size+10)})
		}
	}
	both(http.MethodGet, "/v1/blobs?limit=3", nil, nil)
	both(http.MethodGet, "/v1/blobs?delimiter=/", nil, nil)
	both(http.MethodGet, "/v1/usage", nil, nil)
	for id := range sizes {
		both(http.MethodDelete, blobPath("json/"+id), nil, nil)
		both(http.MethodGet, blobPath("json/"+id), nil, nil)
	}
	// Only the large blob's bytes await collection: inline bytes went
	// with their rows.
	u := on.request(http.MethodGet, "/v1/usage", nil, nil)
	if want := `"blobs":4,"bytes":8194,"uploads":0,"upload_bytes":0,"garbage_keys":1,"garbage_bytes":4097,`; !bytes.Contains(u.body, []byte(want)) {
		t.Fatalf("usage after the deletes = %s; want %s", u.body, want)
	}
}

// BenchmarkCreate1KiBInline measures POST /v1/blobs of 1 KiB over HTTP,
// one request at a time, on local+SQLite and local+PostgreSQL, with and
// without INLINE_MAX_BYTES=4096.
func BenchmarkCreate1KiBInline(b *testing.B) {
	tail := createTail(benchData(1 << 10))
	for _, s := range inlineStacks {
		for _, mode := range []struct {
			name  string
			edits []func(*config.Config)
		}{{"off", nil}, {"inline", []func(*config.Config){inline}}} {
			b.Run(s.name+"/"+mode.name, func(b *testing.B) {
				c := newBenchClient(b, startApp(b, s, mode.edits...))
				b.ReportAllocs()
				b.SetBytes(1 << 10)
				for b.Loop() {
					c.do(b, c.createRequest(b, nextBenchID(), tail, nil, 0), http.StatusCreated, io.Discard)
				}
			})
		}
	}
}
