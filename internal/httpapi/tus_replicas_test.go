package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// tusClientDir returns the directory where scripts/services/node.sh
// installed tus-js-client, and the node binary. Like every service of the
// tests, a missing one skips, or fails under SIMPLEDRIVE_REQUIRE_SERVICES=1.
func tusClientDir(t *testing.T) (node, dir string) {
	dir = testenv.Lookup(t, "TEST_TUS_CLIENT_DIR")[0]
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("SIMPLEDRIVE_REQUIRE_SERVICES") == "1" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node (Node.js) is not installed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tus-js-client")); err != nil {
		missing("tus-js-client is not installed in TEST_TUS_CLIENT_DIR: %v", err)
	}
	return node, dir
}

// cuttingProxy forwards TCP connections to target and, once, cuts the
// connection that carries the cutAt-th byte sent by clients.
type cuttingProxy struct {
	ln     net.Listener
	target string
	cutAt  int64
	sent   atomic.Int64
	cuts   atomic.Int32
	wg     sync.WaitGroup
}

func newCuttingProxy(t *testing.T, target string, cutAt int64) *cuttingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, target: target, cutAt: cutAt}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go p.handle(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cuttingProxy) handle(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		io.Copy(client, server)
		client.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			total := p.sent.Add(int64(n))
			if total >= p.cutAt && total-int64(n) < p.cutAt {
				p.cuts.Add(1)
				return // closes both sides mid-request
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestTusJSClient uploads 50 MiB with tus-js-client in 5 MiB chunks
// through a proxy that cuts the connection once, mid-PATCH: the client
// resumes by itself and the blob reads back byte-identical.
func TestTusJSClient(t *testing.T) {
	node, dir := tusClientDir(t)
	for _, s := range []stack{stacks[0], stackNamed(t, "s3+PostgreSQL")} {
		t.Run(s.name, func(t *testing.T) {
			h := startTus(t, s, func(c *config.Config) { c.MaxUploadBytes = 64 << 20 })
			u, _ := url.Parse(h.url)
			proxy := newCuttingProxy(t, u.Host, 17<<20+12345) // inside the fourth chunk
			data := testData(50<<20, 9)
			file := filepath.Join(t.TempDir(), "upload.bin")
			if err := os.WriteFile(file, data, 0o600); err != nil {
				t.Fatal(err)
			}
			id := "tus-js-client/" + s.name + "/file.bin"
			cmd := exec.Command(node, "testdata/tusclient/upload.js", "http://"+proxy.ln.Addr().String()+"/v1/uploads/", file, id)
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"), "SIMPLEDRIVE_TOKEN="+token)
			out, err := cmd.CombinedOutput()
			t.Logf("tus-js-client:\n%s", out)
			if err != nil {
				t.Fatalf("tus-js-client failed: %v", err)
			}
			if proxy.cuts.Load() != 1 {
				t.Fatalf("the proxy cut %d connections; want 1", proxy.cuts.Load())
			}
			if !bytes.Contains(out, []byte("retrying after")) {
				t.Fatal("tus-js-client did not report resuming after the cut")
			}
			h.expectBlob(id, data, "application/x-tus-test")
		})
	}
}

func stackNamed(t *testing.T, name string) stack {
	for _, s := range stacks {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no stack %q", name)
	return stack{}
}

// replicas starts n servers over the same configuration of s (one
// PostgreSQL schema, one S3 prefix): replicas of one deployment. Each
// reports the first body read of every PATCH it serves on bodyRead, which
// happens only once that PATCH holds the upload's lock. The clock of each
// one's uploads runs ahead of the real one by its entry of ahead.
func replicas(t *testing.T, s stack, n int) (hs []*tusHarness, reads []chan struct{}, ahead []*atomic.Int64) {
	c := testConfig(t)
	s.configure(t, &c)
	for range n {
		a, err := app.New(context.Background(), c, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		skew := new(atomic.Int64)
		a.Uploads().SetClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
		ahead = append(ahead, skew)
		bodyRead := make(chan struct{}, 100)
		inner := a.Handler()
		hs = append(hs, serveTus(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch {
				r.Body = &firstReadReporter{ReadCloser: r.Body, ch: bodyRead}
			}
			inner.ServeHTTP(w, r)
		})))
		reads = append(reads, bodyRead)
	}
	return hs, reads, ahead
}

// heldPatch sends a PATCH of size bytes at offset on h whose body the
// caller writes to body when it pleases; done gets its status (0 for a
// failed exchange). It returns once h's handler holds the upload's lock
// and reads the body, as reported on bodyRead. The body is closed with an
// error if the test ends first, so no server waits on it.
func heldPatch(t *testing.T, h *tusHarness, bodyRead chan struct{}, loc string, offset, size int64) (body *io.PipeWriter, done <-chan int) {
	t.Helper()
	// Earlier PATCHes on h left their reports: drop them, so the report
	// waited for below is this PATCH's.
	for len(bodyRead) > 0 {
		<-bodyRead
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("the test ended")) })
	req, _ := http.NewRequest(http.MethodPatch, h.url+loc, pr)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-bodyRead
	return pw, status
}

type firstReadReporter struct {
	io.ReadCloser
	ch   chan struct{}
	once sync.Once
}

func (f *firstReadReporter) Read(p []byte) (int, error) {
	f.once.Do(func() { f.ch <- struct{}{} })
	return f.ReadCloser.Read(p)
}

// TestTusReplicas: two server processes' worth of servers over PostgreSQL
// and S3. An upload started on one continues on the other, and PATCHes of
// one upload sent through both at once never interleave: one holds the
// lock, the other is refused with 423 or 409.
func TestTusReplicas(t *testing.T) {
	s := stackNamed(t, "s3+PostgreSQL")
	hs, reads, ahead := replicas(t, s, 2)
	a, b := hs[0], hs[1]

	t.Run("ContinueOnTheOther", func(t *testing.T) {
		a.t, b.t = t, t
		id := "replicas/continued"
		data := testData(3<<20, 11)
		loc := a.create(id, int64(len(data)))
		expectStatus(t, a.patch(loc, 0, data[:1<<20], nil), http.StatusNoContent)
		if off := b.offset(loc); off != 1<<20 {
			t.Fatalf("offset on the other replica = %d; want %d", off, 1<<20)
		}
		expectStatus(t, b.patch(loc, 1<<20, data[1<<20:2<<20], nil), http.StatusNoContent)
		expectStatus(t, a.patch(loc, 2<<20, data[2<<20:], nil), http.StatusNoContent)
		a.expectBlob(id, data, "")
		b.expectBlob(id, data, "")
	})

	t.Run("PatchHeldWhileOtherTries", func(t *testing.T) {
		a.t, b.t = t, t
		id := "replicas/held"
		data := testData(2<<20, 12)
		loc := a.create(id, int64(len(data)))
		// A PATCH on a whose body arrives only when the test says so.
		pw, done := heldPatch(t, a, reads[0], loc, 0, int64(len(data)))
		r := b.patch(loc, 0, testData(len(data), 99), nil)
		if r.StatusCode != http.StatusLocked {
			t.Fatalf("PATCH on b while a's PATCH streams = %d %s; want 423", r.StatusCode, r.body)
		}
		expectStatus(t, b.tus(http.MethodDelete, loc, nil, nil), http.StatusLocked)
		pw.Write(data)
		pw.Close()
		if st := <-done; st != http.StatusNoContent {
			t.Fatalf("a's PATCH = %d; want 204", st)
		}
		b.expectBlob(id, data, "")
	})

	// A writer whose lease lapsed (a process paused mid-PATCH) while
	// another took the upload over cannot commit: neither a part nor, when
	// its bytes would complete the upload, the blob. b's upload clock runs
	// an hour ahead, so to b every lease a takes has lapsed; a's PATCH
	// holds the lease, b PATCHes the first half, then a's body arrives.
	t.Run("LapsedLeaseFenced", func(t *testing.T) {
		a.t, b.t = t, t
		ahead[1].Store(int64(time.Hour))
		defer ahead[1].Store(0)
		const size = 2 << 20
		for _, c := range []struct {
			name string
			held int // how much a's PATCH carries: half, or all that completes the upload
		}{{"part", size / 2}, {"assembly", size}} {
			t.Run(c.name, func(t *testing.T) {
				a.t, b.t = t, t
				id := "replicas/lapsed-" + c.name
				stale, fresh := testData(size, 21), testData(size, 22)
				loc := a.create(id, size)
				pw, done := heldPatch(t, a, reads[0], loc, 0, int64(c.held))
				expectStatus(t, b.patch(loc, 0, fresh[:size/2], nil), http.StatusNoContent)
				pw.Write(stale[:c.held])
				pw.Close()
				if st := <-done; st != http.StatusLocked {
					t.Errorf("the lapsed writer's PATCH = %d; want 423", st)
				}
				if off := b.offset(loc); off != size/2 {
					t.Fatalf("offset after the lapsed writer's PATCH = %d; want %d, the other writer's", off, size/2)
				}
				expectStatus(t, b.patch(loc, size/2, fresh[size/2:], nil), http.StatusNoContent)
				a.expectBlob(id, fresh, "")
			})
		}
	})

	t.Run("ConcurrentPatchesNeverCorrupt", func(t *testing.T) {
		a.t, b.t = t, t
		id := "replicas/raced"
		const size = 512 << 10
		loc := a.create(id, size)
		const writers = 8
		statuses := make([]int, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			h := hs[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Each writer sends the first half then the second, each
				// with its own bytes, whatever the answer to the first.
				data := testData(size, byte(i+1))
				for _, half := range [][2]int{{0, size / 2}, {size / 2, size}} {
					req, _ := http.NewRequest(http.MethodPatch, h.url+loc, bytes.NewReader(data[half[0]:half[1]]))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Tus-Resumable", "1.0.0")
					req.Header.Set("Content-Type", "application/offset+octet-stream")
					req.Header.Set("Upload-Offset", strconv.Itoa(half[0]))
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses[i] = statuses[i]*1000 + resp.StatusCode
				}
			}()
		}
		close(start)
		wg.Wait()
		for i, st := range statuses {
			for st > 0 {
				code := st % 1000
				if code != http.StatusNoContent && code != http.StatusLocked && code != http.StatusConflict {
					t.Fatalf("writer %d got %d; want only 204, 423 or 409", i, code)
				}
				st /= 1000
			}
		}
		// Whatever the interleaving, the blob is one writer's first half
		// followed by one writer's second half, never a mix within a
		// PATCH; and the offset only ever moved by whole PATCHes.
		r := a.request(http.MethodGet, blobPath(id)+"?alt=media", nil, nil)
		if r.StatusCode == http.StatusNotFound {
			t.Fatal("no writer finished the upload")
		}
		expectStatus(t, r, http.StatusOK)
		first, second := -1, -1
		for i := range writers {
			d := testData(size, byte(i+1))
			if bytes.Equal(r.body[:size/2], d[:size/2]) {
				first = i
			}
			if bytes.Equal(r.body[size/2:], d[size/2:]) {
				second = i
			}
		}
		if first < 0 || second < 0 {
			t.Fatal("the blob's halves are not whole PATCHes of any writer: bytes interleaved")
		}
		t.Logf("statuses %v; first half by writer %d, second by writer %d", statuses, first, second)
	})
}
