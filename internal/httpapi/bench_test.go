package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

// Benchmarks of the whole service: the real app from app.New behind an
// httptest server (or called directly, where only the server's own
// allocations are wanted). They run only with -bench, for example:
//
//	scripts/test -run '^$' -bench . -benchtime 2s ./internal/httpapi
//
// They run on every stack of the API suite; a stack whose service is not
// configured (TEST_DATABASE_URL, TEST_S3_*, TEST_FTP_*) skips. SetBytes is always
// the decoded blob size, so MB/s are blob bytes, not bytes on the wire. The
// B/op and allocs/op of the HTTP benchmarks count the whole process, client
// and transport included; the *AllocsPerByte benchmarks call the handler
// directly, so theirs are the server's alone.

// benchSizes are the blob sizes of BenchmarkCreate and BenchmarkGet.
var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"1MiB", 1 << 20}}

// benchIDs numbers the blobs that benchmarks create, so every id is unique
// in the process.
var benchIDs atomic.Int64

// nextBenchID returns a fresh blob id made of unreserved characters only,
// so it needs no escaping in JSON or in a path.
func nextBenchID() string { return "bench-" + strconv.FormatInt(benchIDs.Add(1), 10) }

// benchData returns n deterministic pseudo-random bytes.
func benchData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

// benchClient sends requests to an httptest server of one handler, over
// kept-alive connections.
type benchClient struct {
	url    string
	client *http.Client
}

// newBenchClient serves h on a loopback httptest server, closed by
// tb.Cleanup, and returns a client of it.
func newBenchClient(tb testing.TB, h http.Handler) *benchClient {
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &benchClient{url: srv.URL, client: srv.Client()}
}

// createTail is the part of a POST /v1/blobs body after the id: the base64
// of data and the end of the object.
func createTail(data []byte) []byte {
	tail := make([]byte, 0, len(data)/3*4+16)
	tail = append(tail, `","data":"`...)
	tail = base64.StdEncoding.AppendEncode(tail, data)
	return append(tail, `"}`...)
}

// createRequest returns a POST /v1/blobs of id, whose body ends with tail
// (see createTail) or is read from tailReader of tailLen bytes when tail is
// nil. The tail is streamed, never copied, so the client allocates little.
func (c *benchClient) createRequest(tb testing.TB, id string, tail []byte, tailReader func() io.Reader, tailLen int64) *http.Request {
	tb.Helper()
	head := `{"id":"` + id
	if tail != nil {
		tailReader = func() io.Reader { return bytes.NewReader(tail) }
		tailLen = int64(len(tail))
	}
	body := func() io.ReadCloser {
		// Hiding MultiReader's WriteTo, which allocates a 32 KiB buffer per
		// call, lets the transport copy through its own buffer instead.
		return io.NopCloser(struct{ io.Reader }{io.MultiReader(strings.NewReader(head), tailReader())})
	}
	req, err := http.NewRequest(http.MethodPost, c.url+"/v1/blobs", body())
	if err != nil {
		tb.Fatal(err)
	}
	req.ContentLength = int64(len(head)) + tailLen
	req.GetBody = func() (io.ReadCloser, error) { return body(), nil }
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// getRequest returns a GET of the blob id.
func (c *benchClient) getRequest(tb testing.TB, id string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url+blobPath(id), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// do sends req, fails tb unless the answer has status want, and copies the
// response body to into, returning its length.
func (c *benchClient) do(tb testing.TB, req *http.Request, want int, into io.Writer) int64 {
	tb.Helper()
	resp, err := c.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		tb.Fatalf("%s %s = %d %s; want %d", req.Method, req.URL.Path, resp.StatusCode, msg, want)
	}
	n, err := io.Copy(into, resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	return n
}

// BenchmarkCreate measures POST /v1/blobs over HTTP, one request at a time.
func BenchmarkCreate(b *testing.B) {
	for _, s := range stacks {
		b.Run(s.name, func(b *testing.B) {
			c := newBenchClient(b, startApp(b, s))
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) {
					tail := createTail(benchData(sz.size))
					b.ReportAllocs()
					b.SetBytes(int64(sz.size))
					for b.Loop() {
						c.do(b, c.createRequest(b, nextBenchID(), tail, nil, 0), http.StatusCreated, io.Discard)
					}
				})
			}
		})
	}
}

// BenchmarkGet measures GET /v1/blobs/{id} of one stored blob over HTTP,
// one request at a time. The response is checked in full once, then only
// its length.
func BenchmarkGet(b *testing.B) {
	for _, s := range stacks {
		b.Run(s.name, func(b *testing.B) {
			c := newBenchClient(b, startApp(b, s))
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) {
					data := benchData(sz.size)
					id := nextBenchID()
					c.do(b, c.createRequest(b, id, createTail(data), nil, 0), http.StatusCreated, io.Discard)
					var first bytes.Buffer
					length := c.do(b, c.getRequest(b, id), http.StatusOK, &first)
					var got blobJSON
					if err := json.Unmarshal(first.Bytes(), &got); err != nil || got.Data != base64.StdEncoding.EncodeToString(data) {
						b.Fatalf("GET %s returned other data (%v)", id, err)
					}
					b.ReportAllocs()
					b.SetBytes(int64(sz.size))
					for b.Loop() {
						if n := c.do(b, c.getRequest(b, id), http.StatusOK, io.Discard); n != length {
							b.Fatalf("GET %s: %d bytes; want %d", id, n, length)
						}
					}
				})
			}
		})
	}
}

// fixedIDBody is a POST /v1/blobs body whose id is "alloc-" and a fixed
// number of digits, rewritten in place for each request, so that one
// buffer serves every create.
type fixedIDBody struct {
	buf    []byte
	digits []byte // the id's digits, within buf
}

// newFixedIDBody returns the body of a create of data.
func newFixedIDBody(data []byte) *fixedIDBody {
	const head = `{"id":"alloc-`
	const width = 12
	buf := append([]byte(head), bytes.Repeat([]byte{'0'}, width)...)
	buf = append(buf, createTail(data)...)
	return &fixedIDBody{buf: buf, digits: buf[len(head) : len(head)+width]}
}

// setID makes the body's id end with the number n.
func (f *fixedIDBody) setID(n int) {
	for i := len(f.digits) - 1; i >= 0; i-- {
		f.digits[i] = byte('0' + n%10)
		n /= 10
	}
}

// discardResponse is an http.ResponseWriter that counts the body and drops
// it, so that measuring a handler counts no response buffer.
type discardResponse struct {
	header http.Header
	status int
	n      int64
}

func (d *discardResponse) Header() http.Header { return d.header }

func (d *discardResponse) WriteHeader(status int) {
	if d.status == 0 {
		d.status = status
	}
}

func (d *discardResponse) Write(p []byte) (int, error) {
	d.WriteHeader(http.StatusOK)
	d.n += int64(len(p))
	return len(p), nil
}

// reset readies d for the next request.
func (d *discardResponse) reset() {
	if d.header == nil {
		d.header = make(http.Header)
	}
	clear(d.header)
	d.status, d.n = 0, 0
}

// totalAlloc returns the bytes allocated on the heap since the process
// started (MemStats.TotalAlloc).
func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// alloc5MiB is the blob size of the allocs-per-byte benchmarks.
const alloc5MiB = 5 << 20

// BenchmarkCreate5MiBAllocsPerByte measures the bytes the server allocates
// per blob byte for a 5 MiB JSON upload ("alloc-B/blob-B"). The handler is
// called directly with a prebuilt body and an httptest.ResponseRecorder, so
// no client or connection allocations are counted.
func BenchmarkCreate5MiBAllocsPerByte(b *testing.B) {
	for _, s := range stacks {
		b.Run(s.name, func(b *testing.B) {
			h := startApp(b, s)
			body := newFixedIDBody(benchData(alloc5MiB))
			b.ReportAllocs()
			b.SetBytes(alloc5MiB)
			n := 0
			var allocated uint64
			for b.Loop() {
				n++
				body.setID(n)
				req := httptest.NewRequest(http.MethodPost, "/v1/blobs", bytes.NewReader(body.buf))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				before := totalAlloc()
				h.ServeHTTP(rec, req)
				allocated += totalAlloc() - before
				if rec.Code != http.StatusCreated {
					b.Fatalf("POST = %d %s; want 201", rec.Code, truncate(rec.Body.Bytes()))
				}
			}
			b.ReportMetric(float64(allocated)/float64(n)/alloc5MiB, "alloc-B/blob-B")
		})
	}
}

// BenchmarkGet5MiBAllocsPerByte is the read-side counterpart of
// BenchmarkCreate5MiBAllocsPerByte: GET of a stored 5 MiB blob, the
// handler called directly with a ResponseWriter that keeps no body.
func BenchmarkGet5MiBAllocsPerByte(b *testing.B) {
	for _, s := range stacks {
		b.Run(s.name, func(b *testing.B) {
			h := startApp(b, s)
			body := newFixedIDBody(benchData(alloc5MiB))
			body.setID(1)
			req := httptest.NewRequest(http.MethodPost, "/v1/blobs", bytes.NewReader(body.buf))
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("POST = %d %s; want 201", rec.Code, truncate(rec.Body.Bytes()))
			}
			want := int64(base64.StdEncoding.EncodedLen(alloc5MiB))
			var w discardResponse
			b.ReportAllocs()
			b.SetBytes(alloc5MiB)
			n := 0
			var allocated uint64
			for b.Loop() {
				n++
				req := httptest.NewRequest(http.MethodGet, "/v1/blobs/alloc-000000000001", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				w.reset()
				before := totalAlloc()
				h.ServeHTTP(&w, req)
				allocated += totalAlloc() - before
				if w.status != http.StatusOK || w.n < want {
					b.Fatalf("GET = %d with %d bytes; want 200 with over %d", w.status, w.n, want)
				}
			}
			b.ReportMetric(float64(allocated)/float64(n)/alloc5MiB, "alloc-B/blob-B")
		})
	}
}

// heapSampler polls the runtime's heap statistics every millisecond while
// running, recording their peaks. runtime/metrics.Read, unlike
// runtime.ReadMemStats, does not stop the world, so sampling barely
// disturbs the measured work.
type heapSampler struct {
	stop chan struct{}
	done chan heapPeaks
}

// heapPeaks is what a heapSampler found: peaks above the values when it
// started, in bytes, and the number of GC cycles that ran.
type heapPeaks struct {
	// heap is the peak of heap memory in objects, live or not yet swept
	// garbage (MemStats.HeapAlloc): what the process had to hold.
	heap float64
	// live is the peak of the heap marked live by the last GC cycle: a
	// lower bound of the peak live heap, seen only at GC cycles' ends.
	live float64
	// gcs is the number of GC cycles completed.
	gcs float64
	// rss is the peak resident set size of the process (Linux; zero
	// elsewhere), not relative to the start.
	rss float64
}

// heapMetrics are the runtime/metrics a heapSampler reads, in the order of
// the fields of heapPeaks.
var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
	"/gc/cycles/total:gc-cycles",
}

// readHeap reads heapMetrics into s and returns them as heapPeaks.
func readHeap(s []metrics.Sample) heapPeaks {
	metrics.Read(s)
	return heapPeaks{float64(s[0].Value.Uint64()), float64(s[1].Value.Uint64()), float64(s[2].Value.Uint64()), 0}
}

// startHeapSampler takes the baseline and starts sampling.
func startHeapSampler() *heapSampler {
	hs := &heapSampler{stop: make(chan struct{}), done: make(chan heapPeaks, 1)}
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	base := readHeap(samples)
	go func() {
		peak := base
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var stopped bool
			select {
			case <-tick.C:
			case <-hs.stop:
				stopped = true
			}
			now := readHeap(samples)
			peak.heap = max(peak.heap, now.heap)
			peak.live = max(peak.live, now.live)
			peak.rss = max(peak.rss, residentBytes())
			if stopped {
				hs.done <- heapPeaks{peak.heap - base.heap, max(peak.live-base.live, 0), now.gcs - base.gcs, peak.rss}
				return
			}
		}
	}()
	return hs
}

// residentBytes returns the resident set size of the process, from
// /proc/self/statm (Linux), or 0.
func residentBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident float64
	fmt.Sscan(string(b), &size, &resident)
	return resident * float64(os.Getpagesize())
}

// finish stops sampling and returns the peaks.
func (hs *heapSampler) finish() heapPeaks {
	close(hs.stop)
	return <-hs.done
}

// base64Reader streams the standard base64 (with padding) of src.
type base64Reader struct {
	src     io.Reader
	raw     [48 << 10]byte // a multiple of 3, so only the last chunk pads
	enc     [64 << 10]byte
	pending []byte
	eof     bool
}

func (r *base64Reader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		n, err := io.ReadFull(r.src, r.raw[:])
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			r.eof = true
		default:
			return 0, err
		}
		base64.StdEncoding.Encode(r.enc[:], r.raw[:n])
		r.pending = r.enc[:base64.StdEncoding.EncodedLen(n)]
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// streamedBlob is a large blob that the client never holds in memory: its
// bytes are regenerated from a seed whenever they are needed, so the heap
// measured is the server's.
type streamedBlob struct {
	seed [32]byte
	size int64
}

// base64 returns a reader of the blob's base64 text.
func (s streamedBlob) base64() io.Reader {
	return &base64Reader{src: io.LimitReader(rand.NewChaCha8(s.seed), s.size)}
}

// createTail is the streamed form of the function createTail: it returns
// a function that opens a reader of the tail of the blob's create body,
// and the tail's length.
func (s streamedBlob) createTail() (func() io.Reader, int64) {
	const open, end = `","data":"`, `"}`
	return func() io.Reader {
		return io.MultiReader(strings.NewReader(open), s.base64(), strings.NewReader(end))
	}, int64(len(open) + base64.StdEncoding.EncodedLen(int(s.size)) + len(end))
}

// getHash returns the SHA-256 of the GET response of the blob stored as id
// at createdAt, computed without holding it.
func (s streamedBlob) getHash(id, createdAt string) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, `{"id":%q,"data":"`, id)
	io.Copy(h, s.base64())
	fmt.Fprintf(h, `","size":%d,"created_at":"%s"}`+"\n", s.size, createdAt)
	return [sha256.Size]byte(h.Sum(nil))
}

// BenchmarkRoundTrip64MiBPeakHeap measures the peak heap of one 64 MiB
// round trip, a POST then a GET over HTTP, with MAX_BLOB_BYTES raised to
// 64MiB, on every stack. See benchRoundTripPeakHeap for the metrics.
func BenchmarkRoundTrip64MiBPeakHeap(b *testing.B) {
	for _, s := range stacks {
		b.Run(s.name, func(b *testing.B) { benchRoundTripPeakHeap(b, s, 64<<20) })
	}
}

// benchRoundTripPeakHeap measures round trips of a blob of size bytes on
// stack s. The POST and the GET each start after a full GC (timer stopped);
// the client streams its body from a generator and hashes the response as
// it arrives, so it holds only a few small buffers and the peaks are
// essentially the server's:
//
//   - peak-heap-MiB: peak of heap objects (live or garbage not yet
//     collected, MemStats.HeapAlloc) above the start of the request, the
//     larger of post-peak-heap-MiB and get-peak-heap-MiB.
//   - peak-live-MiB: peak of the heap marked live at the end of a GC cycle,
//     above the start: a lower bound of the live set.
//   - gcs/op: GC cycles per round trip.
func benchRoundTripPeakHeap(b *testing.B, s stack, size int64) {
	c := newBenchClient(b, startApp(b, s, func(c *config.Config) { c.MaxBlobBytes = size }))
	blob := streamedBlob{seed: [32]byte{64}, size: size}
	tail, tailLen := blob.createTail()
	var post, get, total heapPeaks
	trips := 0
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		id := nextBenchID()
		b.StartTimer()

		hs := startHeapSampler()
		var created bytes.Buffer
		c.do(b, c.createRequest(b, id, nil, tail, tailLen), http.StatusCreated, &created)
		p := hs.finish()

		// The POST's garbage would otherwise count as the GET's baseline
		// and keep the GC goal high.
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		hs = startHeapSampler()
		h := sha256.New()
		c.do(b, c.getRequest(b, id), http.StatusOK, h)
		g := hs.finish()

		b.StopTimer()
		var cr createdJSON
		if err := json.Unmarshal(created.Bytes(), &cr); err != nil {
			b.Fatalf("201 body %q: %v", created.Bytes(), err)
		}
		if want := blob.getHash(id, cr.CreatedAt); [sha256.Size]byte(h.Sum(nil)) != want {
			b.Fatalf("GET %s: the response is not the blob that was sent", id)
		}
		trips++
		post.heap, post.live = max(post.heap, p.heap), max(post.live, p.live)
		get.heap, get.live = max(get.heap, g.heap), max(get.live, g.live)
		total.gcs += p.gcs + g.gcs
		b.StartTimer()
	}
	const MiB = 1 << 20
	b.ReportMetric(max(post.heap, get.heap)/MiB, "peak-heap-MiB")
	b.ReportMetric(post.heap/MiB, "post-peak-heap-MiB")
	b.ReportMetric(get.heap/MiB, "get-peak-heap-MiB")
	b.ReportMetric(max(post.live, get.live)/MiB, "peak-live-MiB")
	b.ReportMetric(total.gcs/float64(trips), "gcs/op")
}

// createdJSON is a decoded 201 body.
type createdJSON struct {
	ID        string `json:"id"`
	Size      int64  `json:"size"`
	CreatedAt string `json:"created_at"`
}

// BenchmarkGetMedia measures GET /v1/blobs/{id}?alt=media (the raw bytes,
// whole: on the local backend checked a block at a time and sent with
// sendfile) of one stored blob over HTTP, one request at a time.
func BenchmarkGetMedia(b *testing.B) {
	for _, s := range stacks {
		b.Run(s.name, func(b *testing.B) {
			c := newBenchClient(b, startApp(b, s))
			for _, sz := range benchSizes {
				b.Run(sz.name, func(b *testing.B) {
					id := nextBenchID()
					c.do(b, c.createRequest(b, id, createTail(benchData(sz.size)), nil, 0), http.StatusCreated, io.Discard)
					b.ReportAllocs()
					b.SetBytes(int64(sz.size))
					for b.Loop() {
						req := c.getRequest(b, id)
						req.URL.RawQuery = "alt=media"
						if n := c.do(b, req, http.StatusOK, io.Discard); n != int64(sz.size) {
							b.Fatalf("GET %s: %d bytes; want %d", id, n, sz.size)
						}
					}
				})
			}
		})
	}
}
