package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
	"github.com/simpledrive/simpledrive/internal/testenv"
	"github.com/simpledrive/simpledrive/internal/tusapi"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// guarded is an API over a given backend behind httpapi.Guard, as app.Serve
// runs it.
type guarded struct {
	*harness
	addr   string
	budget *httpapi.Budget
	logs   *syncBuffer
}

type guardOptions struct {
	maxBlob  int64
	inflight int64
	idle     time.Duration
	backend  storage.Driver
	dbURL    string
	// requestTimeout is REQUEST_TIMEOUT (default a minute).
	requestTimeout time.Duration
	// meta, when set, wraps the metadata store (fault injection).
	meta func(meta.Store) meta.Store
	// metrics, when set, is told of every request.
	metrics httpapi.Observer
}

func startGuarded(t *testing.T, o guardOptions) *guarded {
	t.Helper()
	if o.dbURL == "" {
		o.dbURL = filepath.Join(t.TempDir(), "meta.db")
	}
	d, err := db.Open(context.Background(), o.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if o.backend == nil {
		o.backend = memory.New()
	}
	if o.inflight == 0 {
		o.inflight = 512 << 20
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	if o.requestTimeout == 0 {
		o.requestTimeout = time.Minute
	}
	plain := sqlmeta.New(d)
	var m meta.Store = plain
	if o.meta != nil {
		m = o.meta(m)
	}
	// One budget for the parse buffers and the backend's, as app wires it.
	budget := httpapi.NewBudget(o.inflight)
	bucket := storage.NewBucket("memory", o.backend)
	bucket.SetMemory(budget)
	svc := blob.New(m, bucket, blob.Options{Timeout: o.requestTimeout}, log)
	uploads := upload.NewService(plain, plain, bucket, svc, upload.Config{Expiry: time.Hour, MaxSize: 1 << 30, Timeout: o.requestTimeout}, log)
	api := httpapi.New(svc, httpapi.Config{
		Token: token, MaxBlobBytes: o.maxBlob, MaxUploadBytes: o.maxBlob, RequestTimeout: o.requestTimeout,
		Ping: d.Ping, Logger: log, Metrics: o.metrics, Tus: tusapi.New(uploads, log),
	})
	srv := httptest.NewUnstartedServer(httpapi.Guard(api, httpapi.Limits{Inflight: budget, IdleBodyTimeout: o.idle}))
	srv.Config.ConnContext = httpapi.ConnContext // as app.Serve does
	srv.Start()
	t.Cleanup(srv.Close)
	return &guarded{harness: &harness{t: t, url: srv.URL}, addr: srv.Listener.Addr().String(), budget: budget, logs: logs}
}

// wrapJSON returns enc as the inside of a JSON string: each '/' escaped as
// `\/` when slashes is set, and an escaped CRLF every width characters.
func wrapJSON(enc string, width int, slashes bool) string {
	var b strings.Builder
	for i := 0; i < len(enc); i += width {
		if i > 0 {
			b.WriteString(`\r\n`)
		}
		line := enc[i:min(i+width, len(enc))]
		if slashes {
			line = strings.ReplaceAll(line, "/", `\/`)
		}
		b.WriteString(line)
	}
	return b.String()
}

// TestLimitAdmitsEveryEncoding: a blob of exactly MAX_BLOB_BYTES is
// admitted in the verbose encodings clients produce, and one byte more is
// refused, in each.
func TestLimitAdmitsEveryEncoding(t *testing.T) {
	const limit = 1 << 20
	g := startGuarded(t, guardOptions{maxBlob: limit})
	encodings := []struct {
		name    string
		width   int
		slashes bool
	}{
		{"MIME 76 columns, CRLF escaped", 76, false},
		{"PHP: every / as \\/, 76 columns", 76, true},
		{"PEM 64 columns, every / as \\/", 64, true},
	}
	for _, e := range encodings {
		for _, size := range []int{limit, limit + 1} {
			// All 0xFF bytes: base64 of nothing but '/', the worst case of
			// the \/ escape.
			data := bytes.Repeat([]byte{0xFF}, size)
			id := fmt.Sprintf("%s-%d", e.name, size)
			body := `{"id":` + string(mustJSON(id)) + `,"data":"` + wrapJSON(base64.StdEncoding.EncodeToString(data), e.width, e.slashes) + `"}`
			r := g.post(body)
			if size == limit {
				expectStatus(t, r, http.StatusCreated)
				if got := decodeBlob(t, g.get(id)); got.Size != limit || got.Data != base64.StdEncoding.EncodeToString(data) {
					t.Fatalf("%s: stored %d other bytes", e.name, got.Size)
				}
			} else {
				expectProblem(t, r, http.StatusRequestEntityTooLarge, "too_large")
			}
		}
	}
	if n := g.budget.InUse(); n != 0 {
		t.Fatalf("%d bytes still reserved after every upload ended", n)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestContentEncodingRefused(t *testing.T) {
	g := startGuarded(t, guardOptions{maxBlob: 1 << 20})
	body := createBody("gz", []byte("x"))
	for _, ce := range []string{"gzip", "br", "identity, gzip"} {
		r := g.request(http.MethodPost, "/v1/blobs", strings.NewReader(body), map[string]string{"Content-Encoding": ce})
		expectProblem(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	expectProblem(t, g.get("gz"), http.StatusNotFound, "blob_not_found")
	r := g.request(http.MethodPost, "/v1/blobs", strings.NewReader(body), map[string]string{"Content-Encoding": "identity"})
	expectStatus(t, r, http.StatusCreated)
}

// rawRequest sends text on a new connection and returns what the server
// answers until it closes the connection.
func rawRequest(t *testing.T, addr, text string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second)) // a failure bound, not a wait
	io.WriteString(c, text)
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v (got %q)", err, out)
	}
	return string(out)
}

// TestContentLengthWithChunkedClosesConnection: a request carrying both
// Content-Length and Transfer-Encoding: chunked is answered and its
// connection closed, so a request pipelined behind it is never served.
func TestContentLengthWithChunkedClosesConnection(t *testing.T) {
	g := startGuarded(t, guardOptions{maxBlob: 1 << 20})
	body := createBody("smuggler", []byte("x"))
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	second := "GET /v1/blobs/pipelined HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n\r\n"
	out := rawRequest(t, g.addr, "POST /v1/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+token+
		"\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked+second)
	if n := strings.Count(out, "HTTP/1.1 "); n != 1 || !strings.HasPrefix(out, "HTTP/1.1 201") || !strings.Contains(out, "Connection: close") {
		t.Fatalf("answer:\n%s\nwant one 201 with Connection: close and nothing for the pipelined request", out)
	}
	if strings.Count(g.logs.String(), `"msg":"request"`) != 1 {
		t.Fatalf("the pipelined request was served:\n%s", g.logs.String())
	}
}

// TestBodyTimeout: a body that stops arriving for the idle timeout gets
// 408; one that keeps arriving, slower in total than that timeout, is
// served.
func TestBodyTimeout(t *testing.T) {
	const idle = time.Second
	g := startGuarded(t, guardOptions{maxBlob: 1 << 20, idle: idle})
	head := "POST /v1/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
	out := rawRequest(t, g.addr, head+`{"id":"stalled","da`)
	if !strings.HasPrefix(out, "HTTP/1.1 408") || !strings.Contains(out, `"code":"request_timeout"`) {
		t.Fatalf("stalled body answered:\n%s\nwant 408 request_timeout", out)
	}

	pr, pw := io.Pipe()
	go func() {
		body := createBody("slow", bytes.Repeat([]byte("s"), 3000))
		step := len(body)/15 + 1
		for i := 0; i < len(body); i += step {
			time.Sleep(idle / 10) // pacing the client: 1.5 idle timeouts in all
			pw.Write([]byte(body[i:min(i+step, len(body))]))
		}
		pw.Close()
	}()
	expectStatus(t, g.request(http.MethodPost, "/v1/blobs", pr, nil), http.StatusCreated)
}

// TestAbortedGetLoggedOnce: a GET cut short mid-stream is logged on the
// request's one line, as aborted, with its route and bytes.
func TestAbortedGetLoggedOnce(t *testing.T) {
	h, backend, logs := startFaulty(t)
	large := bytes.Repeat([]byte("L"), 256<<10)
	expectStatus(t, h.postBlob("large", large), http.StatusCreated)
	for _, key := range backendKeys(t, backend) {
		backend.Store.Delete(context.Background(), key)
		large[len(large)-1] ^= 1
		backend.Store.Put(context.Background(), key, bytes.NewReader(large), int64(len(large)))
	}
	before := len(logs.String())
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/blobs/large", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a corrupt blob was served in full")
	}
	resp.Body.Close()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()[before:]), "\n") {
		var m map[string]any
		json.Unmarshal([]byte(line), &m)
		if m["msg"] == "request" || strings.Contains(line, "mid-response") {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d request lines for one aborted GET: %v", len(lines), lines)
	}
	l := lines[0]
	if l["aborted"] != true || l["route"] != "/v1/blobs/{id}" || l["method"] != "GET" || l["status"] != 200.0 ||
		l["bytes_out"].(float64) <= 0 || l["level"] != "ERROR" || !strings.Contains(fmt.Sprint(l["error"]), "mid-response") {
		t.Fatalf("request line = %v; want aborted=true with the route, status 200, bytes written, the cause, at ERROR", l)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeaderOnlyUploadsHoldNoMemory: 50 uploads that send headers claiming
// a body near the limit, with Expect: 100-continue, and nothing more. The
// ones the in-flight budget admits are told to continue and wait for bytes
// with a buffer of their first read only; the others get 503 with
// Retry-After before their body is read. The heap stays under a fixed
// bound while they are held. (Before buffers grew as bytes arrived, the
// same 50 requests, at this 6 MiB limit, raised the live heap by 401 MiB.)
// A JSON upload streams and reserves a fixed amount whatever its
// Content-Length, so the budget here holds 20 of them.
func TestHeaderOnlyUploadsHoldNoMemory(t *testing.T) {
	const maxBlob = 6 << 20
	g := startGuarded(t, guardOptions{maxBlob: maxBlob, inflight: 20 * httpapi.CreateStreamMemory})
	contentLength := 2 * (maxBlob / 3 * 4) // near the largest body accepted
	before := liveHeap()
	var continued, refused int
	for i := range 50 {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/blobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", token, contentLength)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		switch resp.StatusCode {
		case http.StatusContinue:
			continued++
		case http.StatusServiceUnavailable:
			refused++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		default:
			t.Fatalf("request %d answered %d", i, resp.StatusCode)
		}
	}
	growth := int64(liveHeap()) - int64(before)
	t.Logf("50 held header-only uploads: %d continued, %d refused (503); live heap growth %.1f MiB", continued, refused, float64(growth)/(1<<20))
	if growth > 16<<20 {
		t.Fatalf("live heap grew by %d bytes; want under 16 MiB", growth)
	}
	if continued == 0 || refused == 0 {
		t.Fatalf("%d continued, %d refused; want the budget to admit some and refuse the rest", continued, refused)
	}
}

// discardBackend stores nothing: a Put reads its bytes and drops them.
type discardBackend struct{ *memory.Store }

func (discardBackend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	n, err := io.Copy(io.Discard, r)
	if err == nil && size >= 0 && n != size { // a JSON upload's size is unknown (-1)
		err = fmt.Errorf("read %d bytes, want %d", n, size)
	}
	return err
}

// TestConcurrentLargeUploadsStayInBudget: 50 concurrent 60 MB uploads
// (80 MB of JSON each, 4 GB in all) against a 256 MiB in-flight budget:
// every answer is 201 or 503, and the live heap stays within the budget
// plus a fixed slack.
func TestConcurrentLargeUploadsStayInBudget(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("moves 4 GB through the server; set SIMPLEDRIVE_SLOW_TESTS=1 (scripts/test does) to run it")
	}
	const budget = 256 << 20
	g := startGuarded(t, guardOptions{maxBlob: 64 << 20, inflight: budget, backend: discardBackend{memory.New()}})
	data := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5A}, 60e6))
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute, MaxConnsPerHost: 100}}

	base := liveHeap()
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() { // samples the live heap until the uploads end
		var max uint64
		for {
			select {
			case <-done:
				peak <- max
				return
			default:
			}
			if h := liveHeap(); h > max {
				max = h
			}
		}
	}()
	statuses := make([]int, 50)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := io.MultiReader(strings.NewReader(fmt.Sprintf(`{"id":"big-%d","data":"`, i)), strings.NewReader(data), strings.NewReader(`"}`))
			req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/blobs", body)
			req.ContentLength = int64(len(fmt.Sprintf(`{"id":"big-%d","data":""}`, i)) + len(data))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Expect", "100-continue")
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	close(done)
	growth := int64(<-peak) - int64(base)
	created := 0
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusServiceUnavailable:
		default:
			t.Fatalf("upload %d answered %d; want 201 or 503", i, s)
		}
	}
	t.Logf("%d of 50 created; peak live heap growth %.0f MiB (budget %d MiB)", created, float64(growth)/(1<<20), budget>>20)
	if created == 0 {
		t.Fatal("no upload was admitted")
	}
	if growth > budget+64<<20 {
		t.Fatalf("peak live heap grew by %d MiB; want within the %d MiB budget plus 64 MiB", growth>>20, budget>>20)
	}
}

// gatedBackend holds every Put until n have started: the creates that get
// there have all passed the service's existence check, so they race into
// the metadata insert, which alone must pick the winner.
type gatedBackend struct {
	*memory.Store
	open    chan struct{}
	n       int
	mu      sync.Mutex
	started int
}

func newGatedBackend(n int) *gatedBackend {
	return &gatedBackend{Store: memory.New(), open: make(chan struct{}), n: n}
}

func (g *gatedBackend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	g.mu.Lock()
	g.started++
	if g.started == g.n {
		close(g.open)
	}
	g.mu.Unlock()
	<-g.open
	return g.Store.Put(ctx, key, r, size)
}

// TestConcurrentCreatesRaceIntoInsert: n creates of one id, every one held
// in the backend until all have stored their bytes: exactly one 201, the
// others 409, the winner's bytes served, the losers' bytes deleted.
func TestConcurrentCreatesRaceIntoInsert(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "meta.db") }},
		{"PostgreSQL", func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(engine.name, func(t *testing.T) {
			const n = 20
			backend := newGatedBackend(n)
			g := startGuarded(t, guardOptions{maxBlob: 1 << 20, backend: backend, dbURL: engine.url(t)})
			statuses := make([]int, n)
			bodies := make([][]byte, n)
			var wg sync.WaitGroup
			for i := range n {
				bodies[i] = randomBytes(t, 100+i)
				body := createBody("contended", bodies[i])
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodPost, g.url+"/v1/blobs", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				}()
			}
			wg.Wait()
			winner := -1
			for i, s := range statuses {
				switch {
				case s == http.StatusCreated && winner < 0:
					winner = i
				case s == http.StatusConflict:
				default:
					t.Fatalf("create %d answered %d (statuses %v); want one 201 and 409s", i, s, statuses)
				}
			}
			if winner < 0 {
				t.Fatal("no create won")
			}
			if got := decodeBlob(t, g.get("contended")); got.Data != base64.StdEncoding.EncodeToString(bodies[winner]) {
				t.Fatal("the stored bytes are not the winner's")
			}
			if keys := backend.Keys(); len(keys) != 1 {
				t.Fatalf("the backend holds %d blobs; want the winner's only", len(keys))
			}
		})
	}
}
