package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// completeSuite is the API of DESIGN section 7 (raw bytes, ranges,
// conditional requests, delete, listing): its cases share one server.
var completeSuite = []apiCase{
	{"RawRoundTrips", testRawRoundTrips},
	{"RawPutErrors", testRawPutErrors},
	{"Ranges", testRanges},
	{"Conditionals", testConditionals},
	{"HeadAndMeta", testHeadAndMeta},
	{"DeleteThenRecreate", testDeleteThenRecreate},
	{"ListPagesAndFolders", testListPagesAndFolders},
}

// TestCompleteAPI runs the complete API suite on every stack.
func TestCompleteAPI(t *testing.T) {
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			testenv.SkipStackUnderRace(t, s.name)
			h := startStack(t, s)
			for _, c := range completeSuite {
				t.Run(c.name, func(t *testing.T) {
					h := &harness{t: t, url: h.url}
					c.fn(t, h)
				})
			}
		})
	}
}

// uniqueID makes ids distinct across the cases sharing one server.
func uniqueID(t *testing.T, name string) string {
	return strings.ReplaceAll(t.Name(), "/", "-") + "/" + name
}

// putRaw stores data under id with a raw PUT.
func (h *harness) putRaw(id string, data []byte, headers map[string]string) response {
	h.t.Helper()
	if headers == nil {
		headers = map[string]string{}
	}
	if _, ok := headers["Content-Type"]; !ok {
		headers["Content-Type"] = ""
	}
	return h.request(http.MethodPut, blobPath(id), bytes.NewReader(data), headers)
}

// blobObjectJSON is a decoded blob object.
type blobObjectJSON struct {
	ID          string `json:"id"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	CreatedAt   string `json:"created_at"`
}

func decodeObject(t *testing.T, r response) blobObjectJSON {
	t.Helper()
	var b blobObjectJSON
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("decoding blob object %q: %v", truncate(r.body), err)
	}
	return b
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%x", sum)
}

func testRawRoundTrips(t *testing.T, h *harness) {
	for _, size := range []int{0, 1, 300 << 10, 1<<20 + 3} {
		id := uniqueID(t, fmt.Sprint("raw-", size))
		data := randomBytes(t, size)
		r := h.putRaw(id, data, map[string]string{"Content-Type": "image/png"})
		expectStatus(t, r, http.StatusCreated)
		obj := decodeObject(t, r)
		if obj.ID != id || obj.Size != int64(size) || obj.SHA256 != sha256Hex(data) || obj.ContentType != "image/png" {
			t.Fatalf("PUT answered %+v", obj)
		}
		if loc := r.Header.Get("Location"); loc != blobPath(id) && loc != "/v1/blobs/"+url.PathEscape(id) {
			t.Errorf("Location = %q", loc)
		}
		g := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, nil)
		expectStatus(t, g, http.StatusOK)
		if !bytes.Equal(g.body, data) {
			t.Fatalf("alt=media returned %d bytes that differ from the %d put", len(g.body), len(data))
		}
		hd := g.Header
		if hd.Get("Content-Type") != "image/png" || hd.Get("Content-Length") != strconv.Itoa(size) ||
			hd.Get("ETag") != `"`+obj.SHA256+`"` || hd.Get("Accept-Ranges") != "bytes" || hd.Get("Last-Modified") == "" {
			t.Errorf("alt=media headers: %v", hd)
		}
		// The seed's JSON GET serves raw uploads too, with its own shape.
		if got := decodeBlob(t, h.get(id)); got.Data != base64.StdEncoding.EncodeToString(data) {
			t.Errorf("JSON GET of a raw upload returned other data")
		}
	}
	// A JSON upload reads back raw, typed application/octet-stream.
	id := uniqueID(t, "json")
	expectStatus(t, h.postBlob(id, []byte("hi")), http.StatusCreated)
	g := h.request(http.MethodGet, blobPath(id)+"?alt=media&download=1", nil, nil)
	if string(g.body) != "hi" || g.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("alt=media of a JSON upload = %q, %q", g.body, g.Header.Get("Content-Type"))
	}
	if cd := g.Header.Get("Content-Disposition"); cd != `attachment; filename=json` {
		t.Errorf("Content-Disposition = %q", cd)
	}
	// Chunked upload: no Content-Length.
	id = uniqueID(t, "chunked/é.txt")
	data := randomBytes(t, 200<<10)
	req, _ := http.NewRequest(http.MethodPut, h.url+blobPath(id), io.MultiReader(bytes.NewReader(data[:1000]), bytes.NewReader(data[1000:])))
	req.Header.Set("Authorization", "Bearer "+token)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("chunked PUT = %d", resp.StatusCode)
	}
	g = h.request(http.MethodGet, blobPath(id)+"?alt=media&download=1", nil, nil)
	if !bytes.Equal(g.body, data) {
		t.Fatal("chunked upload reads back different bytes")
	}
	if cd := g.Header.Get("Content-Disposition"); cd != `attachment; filename*=utf-8''%C3%A9.txt` {
		t.Errorf("Content-Disposition = %q", cd)
	}
}

func testRawPutErrors(t *testing.T, h *harness) {
	id := uniqueID(t, "taken")
	expectStatus(t, h.putRaw(id, []byte("first"), nil), http.StatusCreated)
	expectProblem(t, h.putRaw(id, []byte("second"), nil), http.StatusConflict, "blob_exists")

	data := []byte("digest me")
	sum := sha256.Sum256(data)
	good := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	expectStatus(t, h.putRaw(uniqueID(t, "digest-ok"), data, map[string]string{"Content-Digest": "md5=:abc:, " + good}), http.StatusCreated)
	wrong := sha256.Sum256([]byte("other"))
	bad := uniqueID(t, "digest-bad")
	expectProblem(t, h.putRaw(bad, data, map[string]string{"Content-Digest": "sha-256=:" + base64.StdEncoding.EncodeToString(wrong[:]) + ":"}),
		http.StatusBadRequest, "digest_mismatch")
	expectProblem(t, h.request(http.MethodGet, blobPath(bad)+"?meta=1", nil, nil), http.StatusNotFound, "blob_not_found")
	for _, header := range []string{"sha-256=abc", "sha-256=:bm90IDMyIGJ5dGVz:", "md5=:abc:", "garbage"} {
		expectProblem(t, h.putRaw(uniqueID(t, "digest-malformed"), data, map[string]string{"Content-Digest": header}),
			http.StatusBadRequest, "invalid_request")
	}
	expectProblem(t, h.putRaw(uniqueID(t, "type"), data, map[string]string{"Content-Type": "not a type"}),
		http.StatusBadRequest, "invalid_request")
	expectProblem(t, h.putRaw("", data, nil), http.StatusBadRequest, "invalid_id")
}

func testRanges(t *testing.T, h *harness) {
	id := uniqueID(t, "digits")
	data := randomBytes(t, 100<<10)
	expectStatus(t, h.putRaw(id, data, nil), http.StatusCreated)
	size := int64(len(data))
	for _, c := range []struct {
		spec       string
		start, end int64 // inclusive; -1: the whole blob with 200
	}{
		{"bytes=0-0", 0, 0},
		{"bytes=10-19", 10, 19},
		{"bytes=100-", 100, size - 1},
		{"bytes=-5", size - 5, size - 1},
		{"bytes=0-999999999", 0, size - 1},
		{"bytes=-999999999", 0, size - 1},
		{"bytes=0-1,5-6", -1, -1},
	} {
		r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, map[string]string{"Range": c.spec})
		if c.start < 0 {
			expectStatus(t, r, http.StatusOK)
			if !bytes.Equal(r.body, data) {
				t.Errorf("Range %s: the whole blob was not returned", c.spec)
			}
			continue
		}
		expectStatus(t, r, http.StatusPartialContent)
		if !bytes.Equal(r.body, data[c.start:c.end+1]) {
			t.Errorf("Range %s returned %d bytes, not bytes %d-%d", c.spec, len(r.body), c.start, c.end)
		}
		if want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size); r.Header.Get("Content-Range") != want {
			t.Errorf("Range %s: Content-Range %q; want %q", c.spec, r.Header.Get("Content-Range"), want)
		}
	}
	for _, spec := range []string{"bytes=102400-", "bytes=5-1", "bytes=-0", "items=0-1", "bytes=x-y"} {
		r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, map[string]string{"Range": spec})
		expectProblem(t, r, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable")
		if cr := r.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", size) {
			t.Errorf("Range %s: Content-Range %q", spec, cr)
		}
	}
	// If-Range: a matching validator gets the range, a stale one the whole.
	tag := `"` + sha256Hex(data) + `"`
	r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, map[string]string{"Range": "bytes=1-2", "If-Range": tag})
	expectStatus(t, r, http.StatusPartialContent)
	r = h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, map[string]string{"Range": "bytes=1-2", "If-Range": `"stale"`})
	expectStatus(t, r, http.StatusOK)
	if len(r.body) != len(data) {
		t.Errorf("a stale If-Range returned %d bytes", len(r.body))
	}
}

func testConditionals(t *testing.T, h *harness) {
	id := uniqueID(t, "cond")
	data := []byte("conditional")
	put := h.putRaw(id, data, nil)
	expectStatus(t, put, http.StatusCreated)
	tag := put.Header.Get("ETag")
	path := blobPath(id) + "?alt=media"
	created := parseTime(t, decodeObject(t, put).CreatedAt)
	past, future := created.Add(-time.Hour).Format(http.TimeFormat), created.Add(time.Hour).Format(http.TimeFormat)
	for _, c := range []struct {
		headers map[string]string
		status  int
	}{
		{map[string]string{"If-None-Match": tag}, http.StatusNotModified},
		{map[string]string{"If-None-Match": `"other", W/` + tag}, http.StatusNotModified},
		{map[string]string{"If-None-Match": `"other"`}, http.StatusOK},
		{map[string]string{"If-Match": tag}, http.StatusOK},
		{map[string]string{"If-Match": "*"}, http.StatusOK},
		{map[string]string{"If-Match": `"other"`}, http.StatusPreconditionFailed},
		{map[string]string{"If-Match": "W/" + tag}, http.StatusPreconditionFailed},
		{map[string]string{"If-Modified-Since": future}, http.StatusNotModified},
		{map[string]string{"If-Modified-Since": past}, http.StatusOK},
		{map[string]string{"If-Unmodified-Since": past}, http.StatusPreconditionFailed},
		{map[string]string{"If-Unmodified-Since": future}, http.StatusOK},
		// If-None-Match takes precedence over If-Modified-Since.
		{map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": future}, http.StatusOK},
	} {
		r := h.request(http.MethodGet, path, nil, c.headers)
		if r.StatusCode != c.status {
			t.Errorf("GET with %v = %d; want %d", c.headers, r.StatusCode, c.status)
		}
		switch c.status {
		case http.StatusPreconditionFailed:
			expectProblem(t, r, c.status, "precondition_failed")
		case http.StatusNotModified:
			if len(r.body) != 0 || r.Header.Get("ETag") != tag {
				t.Errorf("304 with a body or without the ETag: %v", r.Header)
			}
		case http.StatusOK:
			if !bytes.Equal(r.body, data) {
				t.Errorf("GET with %v returned %q", c.headers, r.body)
			}
		}
	}
}

func testHeadAndMeta(t *testing.T, h *harness) {
	id := uniqueID(t, "head")
	data := randomBytes(t, 1234)
	expectStatus(t, h.putRaw(id, data, map[string]string{"Content-Type": "text/plain; charset=utf-8"}), http.StatusCreated)
	r := h.request(http.MethodHead, blobPath(id)+"?alt=media", nil, nil)
	expectStatus(t, r, http.StatusOK)
	if r.Header.Get("Content-Length") != "1234" || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || len(r.body) != 0 {
		t.Errorf("HEAD ?alt=media: %v, %d body bytes", r.Header, len(r.body))
	}
	r = h.request(http.MethodHead, blobPath(id)+"?alt=media", nil, map[string]string{"Range": "bytes=0-9"})
	expectStatus(t, r, http.StatusPartialContent)
	if r.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD of a range: Content-Length %q", r.Header.Get("Content-Length"))
	}
	m := h.request(http.MethodGet, blobPath(id)+"?meta=1", nil, nil)
	expectStatus(t, m, http.StatusOK)
	if obj := decodeObject(t, m); obj.Size != 1234 || obj.SHA256 != sha256Hex(data) || obj.ContentType != "text/plain; charset=utf-8" {
		t.Errorf("meta=1 = %+v", obj)
	}
	expectProblem(t, h.request(http.MethodGet, blobPath(id)+"?alt=xml", nil, nil), http.StatusBadRequest, "invalid_request")
	expectProblem(t, h.request(http.MethodGet, blobPath(uniqueID(t, "none"))+"?alt=media", nil, nil), http.StatusNotFound, "blob_not_found")
}

func testDeleteThenRecreate(t *testing.T, h *harness) {
	id := uniqueID(t, "gone")
	expectStatus(t, h.putRaw(id, []byte("v1"), nil), http.StatusCreated)
	expectStatus(t, h.request(http.MethodDelete, blobPath(id), nil, nil), http.StatusNoContent)
	expectProblem(t, h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, nil), http.StatusNotFound, "blob_not_found")
	expectProblem(t, h.request(http.MethodDelete, blobPath(id), nil, nil), http.StatusNotFound, "blob_not_found")
	expectStatus(t, h.putRaw(id, []byte("v2"), nil), http.StatusCreated)
	if r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, nil); string(r.body) != "v2" {
		t.Fatalf("after recreating: %q", r.body)
	}
}

// listJSON is a decoded listing.
type listJSON struct {
	Blobs      []blobObjectJSON `json:"blobs"`
	Prefixes   []string         `json:"prefixes"`
	NextCursor string           `json:"next_cursor"`
}

func testListPagesAndFolders(t *testing.T, h *harness) {
	root := uniqueID(t, "")
	ids := []string{"a", "b/1", "b/2", "b/c/3", "B", "é", "x_y", "x-y", "x%y"}
	for _, id := range ids {
		expectStatus(t, h.putRaw(root+id, []byte(id), nil), http.StatusCreated)
	}
	list := func(q url.Values) listJSON {
		t.Helper()
		r := h.request(http.MethodGet, "/v1/blobs?"+q.Encode(), nil, nil)
		expectStatus(t, r, http.StatusOK)
		var l listJSON
		if err := json.Unmarshal(r.body, &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	var got []string
	for cursor := ""; ; {
		l := list(url.Values{"prefix": {root}, "limit": {"2"}, "cursor": {cursor}})
		for _, b := range l.Blobs {
			got = append(got, strings.TrimPrefix(b.ID, root))
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing = %q; want %q", got, want)
	}
	l := list(url.Values{"prefix": {root}, "delimiter": {"/"}})
	var blobs []string
	for _, b := range l.Blobs {
		blobs = append(blobs, strings.TrimPrefix(b.ID, root))
	}
	if !slices.Equal(blobs, []string{"B", "a", "x%y", "x-y", "x_y", "é"}) || !slices.Equal(l.Prefixes, []string{root + "b/"}) {
		t.Fatalf("listing with a delimiter = %q, %q", blobs, l.Prefixes)
	}
	if l.NextCursor != "" {
		t.Errorf("the only page has a cursor")
	}
	for _, q := range []url.Values{{"limit": {"0"}}, {"limit": {"1001"}}, {"limit": {"x"}}, {"cursor": {"garbage!"}}} {
		expectProblem(t, h.request(http.MethodGet, "/v1/blobs?"+q.Encode(), nil, nil), http.StatusBadRequest, "invalid_request")
	}
}

// TestRawUploadLimits checks MAX_UPLOAD_BYTES, declared and chunked, and a
// body that ends before its Content-Length: each stores nothing.
func TestRawUploadLimits(t *testing.T) {
	h := startStack(t, stacks[0], func(c *config.Config) { c.MaxUploadBytes = 1 << 20 })
	expectProblem(t, h.putRaw("declared", make([]byte, 1<<20+1), nil), http.StatusRequestEntityTooLarge, "too_large")
	expectStatus(t, h.putRaw("exact", make([]byte, 1<<20), nil), http.StatusCreated)

	req, _ := http.NewRequest(http.MethodPut, h.url+blobPath("chunked"), io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), strings.NewReader("x")))
	req.Header.Set("Authorization", "Bearer "+token)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	expectProblem(t, response{resp, body}, http.StatusRequestEntityTooLarge, "too_large")

	// A client that promises 1000 bytes, sends 10 and hangs up.
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n0123456789", blobPath("short"), token)
	conn.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, conn) // the server's answer, or its hang-up
	conn.Close()
	for _, id := range []string{"declared", "chunked", "short"} {
		expectProblem(t, h.request(http.MethodGet, blobPath(id)+"?meta=1", nil, nil), http.StatusNotFound, "blob_not_found")
	}
}

// TestGetRacingDelete deletes a 20 MiB blob while readers stream it, on
// every backend, and runs the collector (as the server or the gc command
// does, over the same database and backend) before they finish: with
// DELETE_GRACE not yet over, the collection must leave the bytes, so
// every reader gets the whole blob (by SHA-256) or 404, never a 500 or a
// short body. The readers are of two kinds: HTTP GETs paused mid-body,
// and a handle whose metadata was read before the delete and whose bytes
// are opened only after the collection (a request between its lookup and
// its read), which catches bytes deleted early even on backends where an
// open file outlives its deletion. A collection once the grace is over
// then removes the bytes.
func TestGetRacingDelete(t *testing.T) {
	const grace = time.Hour
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			c := stackConfig(t, s, func(c *config.Config) { c.DeleteGrace = grace })
			h := serve(t, newApp(t, c))
			ctx := context.Background()
			collector, err := app.OpenCore(ctx, c, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer collector.Close()
			data := randomBytes(t, 20<<20)
			expectStatus(t, h.putRaw("raced", data, nil), http.StatusCreated)
			want := sha256.Sum256(data)
			opened, err := collector.Service.Open(ctx, "raced")
			if err != nil {
				t.Fatal(err)
			}

			const readers = 3
			streaming := make(chan struct{}, readers)
			collected := make(chan struct{})
			results := make(chan string, readers)
			for range readers {
				go func() {
					req, _ := http.NewRequest(http.MethodGet, h.url+blobPath("raced")+"?alt=media", nil)
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := http.DefaultClient.Do(req)
					streaming <- struct{}{}
					if err != nil {
						results <- err.Error()
						return
					}
					defer resp.Body.Close()
					// The server has sent the headers and the bytes the
					// connection buffers hold; the rest waits for the
					// collection.
					<-collected
					results <- wholeOr404(resp, want)
				}()
			}
			for range readers {
				<-streaming
			}
			expectStatus(t, h.request(http.MethodDelete, blobPath("raced"), nil, nil), http.StatusNoContent)
			expectProblem(t, h.request(http.MethodGet, blobPath("raced")+"?alt=media", nil, nil), http.StatusNotFound, "blob_not_found")
			if _, err := collector.Service.CollectGarbage(ctx, time.Now()); err != nil {
				t.Fatalf("collecting within the grace: %v", err)
			}
			close(collected)
			counts := map[string]int{}
			for range readers {
				counts[<-results]++
			}
			if counts["whole"] != readers {
				t.Errorf("GETs streaming across the delete and a collection got %v; want %d whole", counts, readers)
			}
			rc, err := opened.Reader(ctx)
			if err != nil {
				t.Fatalf("opening the bytes of a blob looked up before its delete, after a collection within the grace: %v", err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if sum := sha256.Sum256(got); err != nil || sum != want {
				t.Fatalf("reading a blob looked up before its delete gave %d bytes (err %v), not the blob", len(got), err)
			}

			// Once the grace is over, the collector removes the bytes.
			if n, err := collector.Service.CollectGarbage(ctx, time.Now().Add(grace+time.Minute)); err != nil || n != 1 {
				t.Fatalf("collecting after the grace removed %d (err %v); want the deleted blob's bytes", n, err)
			}
			if rc, err := opened.Reader(ctx); !errors.Is(err, blob.ErrDataMissing) {
				if err == nil {
					rc.Close()
				}
				t.Fatalf("opening the bytes after the grace's collection = %v; want them gone", err)
			}
		})
	}
}

// wholeOr404 reads resp to its end and names its outcome: "whole" for a 200
// with the blob whose SHA-256 is want, "404", or what went wrong.
func wholeOr404(resp *http.Response, want [sha256.Size]byte) string {
	hash := sha256.New()
	_, err := io.Copy(hash, resp.Body)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "404"
	case resp.StatusCode != http.StatusOK || err != nil:
		return fmt.Sprintf("status %d, read error %v", resp.StatusCode, err)
	case !bytes.Equal(hash.Sum(nil), want[:]):
		return "a body that is not the blob"
	}
	return "whole"
}
