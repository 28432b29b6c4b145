package httpapi_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/meta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
)

// A transfer that keeps moving has no deadline (DESIGN section 11): the
// tests below move bodies slowly but steadily over real TCP, paced by a
// token bucket in the client, and check that they arrive whole; and stop
// them, and check that they are cut. Their full-size versions (the
// reproductions of issue 19) run with SIMPLEDRIVE_SLOW_TESTS=1.

// slowTests reports whether the multi-second versions run.
func slowTests() bool { return os.Getenv("SIMPLEDRIVE_SLOW_TESTS") == "1" }

// pacer is a token bucket: wait(n) returns when n more bytes may move
// without exceeding rate bytes per second since the first call. It paces a
// client; it synchronises nothing.
type pacer struct {
	rate  float64
	start time.Time
	moved int64
}

func (p *pacer) wait(n int) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	p.moved += int64(n)
	time.Sleep(time.Until(p.start.Add(time.Duration(float64(p.moved) / p.rate * float64(time.Second)))))
}

// pacedReader yields r's bytes at most step at a time, at the pacer's
// rate.
type pacedReader struct {
	r    io.Reader
	step int
	p    pacer
}

func (pr *pacedReader) Read(b []byte) (int, error) {
	b = b[:min(len(b), pr.step)]
	pr.p.wait(len(b))
	return pr.r.Read(b)
}

func paced(r io.Reader, rate float64, step int) *pacedReader {
	return &pacedReader{r: r, step: step, p: pacer{rate: rate}}
}

// ends is an httpapi.Observer that reports each request's end.
type ends chan int

func (e ends) ObserveRequest(_, _ string, status int, _, _ int64, _ time.Duration) { e <- status }
func (ends) RateLimited()                                                          {}

// await returns the status of the next request to end, failing t if none
// ends within a bound that only a hung server reaches.
func (e ends) await(t *testing.T) int {
	t.Helper()
	select {
	case s := <-e:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("no request ended")
		return 0
	}
}

// TestMovingUploadOutlivesRequestTimeout: a raw PUT sent steadily for
// several times REQUEST_TIMEOUT is stored whole (issue 19, finding 1:
// 6 MiB at 1 MiB/s with REQUEST_TIMEOUT=2s was cut at 2.8 s).
func TestMovingUploadOutlivesRequestTimeout(t *testing.T) {
	size, rate, timeout := 3<<19, float64(1<<20), 300*time.Millisecond // 1.5 s, five timeouts
	if slowTests() {
		size, timeout = 6<<20, 2*time.Second
	}
	g := startGuarded(t, guardOptions{maxBlob: 8 << 20, idle: time.Second, requestTimeout: timeout})
	data := bytes.Repeat([]byte("moving upload "), size/14+1)[:size]
	r := g.request(http.MethodPut, "/v1/blobs/moving", paced(bytes.NewReader(data), rate, 16<<10), nil)
	expectStatus(t, r, http.StatusCreated)
	sum := sha256.Sum256(data)
	if !strings.Contains(string(r.body), hex.EncodeToString(sum[:])) {
		t.Fatalf("the PUT stored other bytes: %s", r.body)
	}
}

// TestSlowReaderGetsWholeDownload: an alt=media download read steadily,
// but so slowly that one 256 KiB write of the handler takes longer than
// HTTP_IDLE_BODY_TIMEOUT, arrives whole (issue 19, finding 2: 7 MiB read
// at 180 KiB/s with a 1 s timeout was cut after 3.3 MB). A TCP reader's
// progress reaches the server in steps of about half its receive buffer,
// which the fast version keeps small to keep those steps short. The blob
// is a local file, so the ranged download goes out by sendfile.
func TestSlowReaderGetsWholeDownload(t *testing.T) {
	o := guardOptions{maxBlob: 8 << 20, idle: 300 * time.Millisecond, backend: localDriver(t)}
	size, rate, window := 1<<20, float64(640<<10), 64<<10 // 1.6 s; a 256 KiB write waits 0.4 s
	if slowTests() {
		o.idle = time.Second
		size, rate, window = 7<<20, 180<<10, 0
	}
	g := startGuarded(t, o)
	data := bytes.Repeat([]byte("slow reader "), size/12+1)[:size]
	expectStatus(t, g.request(http.MethodPut, "/v1/blobs/slow", bytes.NewReader(data), nil), http.StatusCreated)

	for _, c := range []struct {
		name, header string
		status       int
		want         []byte
	}{
		{"whole", "", http.StatusOK, data},
		{"range", "Range: bytes=1-\r\n", http.StatusPartialContent, data[1:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := dial(t, g.addr, window)
			fmt.Fprintf(conn, "GET /v1/blobs/slow?alt=media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%sConnection: close\r\n\r\n", token, c.header)
			resp, err := http.ReadResponse(bufio.NewReaderSize(paced(conn, rate, 4<<10), 4<<10), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("slow download: status %d, %d of %d bytes, error %v; want %d and all of them", resp.StatusCode, len(got), len(c.want), err, c.status)
			}
		})
	}
}

// localDriver returns the local backend on a directory of the test.
func localDriver(t *testing.T) storage.Driver {
	t.Helper()
	st, err := local.New(local.Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// dial connects to addr with a receive buffer of window bytes (0: the
// system's), so that the server soon feels a slow or stopped reader, and
// with the MSS of an Ethernet link: loopback's 64 KiB segments would make
// a small window open in steps too coarse for a short timeout.
func dial(t *testing.T, addr string, window int) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1460)
		})
		return cmp.Or(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*net.TCPConn)
	if window > 0 {
		tc.SetReadBuffer(window)
	}
	return tc
}

// TestStalledTransfersAreCut: a download whose reader stops, and an upload
// whose body stops, are cut after HTTP_IDLE_BODY_TIMEOUT, however long
// REQUEST_TIMEOUT is.
func TestStalledTransfersAreCut(t *testing.T) {
	end := make(ends, 8)
	g := startGuarded(t, guardOptions{maxBlob: 8 << 20, idle: 300 * time.Millisecond, metrics: end, backend: localDriver(t)})
	data := bytes.Repeat([]byte("stalled "), 1<<18) // 2 MiB, more than the buffers hold
	expectStatus(t, g.request(http.MethodPut, "/v1/blobs/stalled", bytes.NewReader(data), nil), http.StatusCreated)
	end.await(t)

	for _, name := range []string{"download", "ranged download"} {
		t.Run(name, func(t *testing.T) {
			rng := ""
			if name == "ranged download" {
				rng = "Range: bytes=1-\r\n" // sent by sendfile
			}
			c := dial(t, g.addr, 64<<10)
			fmt.Fprintf(c, "GET /v1/blobs/stalled?alt=media HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s\r\n", token, rng)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The reader stops here; the server's request ends only if the
			// server cuts it.
			end.await(t)
			got, _ := io.ReadAll(resp.Body)
			if len(got) >= len(data)-1 {
				t.Fatalf("a download whose reader stopped was not cut: all %d bytes arrived", len(got))
			}
		})
	}
	t.Run("upload", func(t *testing.T) {
		c := dial(t, g.addr, 64<<10)
		fmt.Fprintf(c, "PUT /v1/blobs/stalled-upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", token, len(data))
		c.Write(data[:len(data)/2])
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if status := end.await(t); resp.StatusCode != http.StatusRequestTimeout || status != http.StatusRequestTimeout {
			t.Fatalf("a stalled upload answered %d (logged %d); want 408", resp.StatusCode, status)
		}
	})
}

// stuckReads is a metadata store whose record reads never answer: each
// waits until its context ends.
type stuckReads struct{ meta.Store }

func (stuckReads) Get(ctx context.Context, _ string) (meta.Record, error) {
	<-ctx.Done()
	return meta.Record{}, ctx.Err()
}

// TestServerDeadlineIsTimeout: the server's own work running out of
// REQUEST_TIMEOUT answers 504 "timeout", not 503 "unavailable" (which
// clients retry).
func TestServerDeadlineIsTimeout(t *testing.T) {
	g := startGuarded(t, guardOptions{maxBlob: 1 << 20, requestTimeout: 50 * time.Millisecond,
		meta: func(m meta.Store) meta.Store { return stuckReads{m} }})
	for _, path := range []string{"/v1/blobs/any?meta=1", "/v1/blobs/any?alt=media", "/v1/blobs/any"} {
		r := g.request(http.MethodGet, path, nil, nil)
		expectProblem(t, r, http.StatusGatewayTimeout, "timeout")
		if r.Header.Get("Retry-After") != "" {
			t.Errorf("GET %s: a timeout carries Retry-After %q", path, r.Header.Get("Retry-After"))
		}
	}
}

// TestStallWatchFollowsAcknowledgements: one response write far longer
// than HTTP_IDLE_BODY_TIMEOUT, to a reader that keeps taking bytes, is not
// cut: the guard's stall watch sees the reader's progress in the bytes the
// TCP connection has acknowledged (httpapi.ConnContext), not only in the
// writes that completed. A reader that then stops is cut.
func TestStallWatchFollowsAcknowledgements(t *testing.T) {
	const size, rate, idle = 2 << 20, float64(1 << 20), 250 * time.Millisecond // one write of 2 s
	data := bytes.Repeat([]byte("acknowledged "), size/13+1)[:size]
	stalled := make(chan struct{})
	srv := httptest.NewUnstartedServer(httpapi.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(2*size))
		if _, err := w.Write(data); err != nil {
			t.Errorf("the write to a moving reader failed: %v", err)
			return
		}
		_, err := w.Write(data) // the reader has stopped
		if err == nil {
			t.Error("the write to a stopped reader succeeded")
		}
		close(stalled)
	}), httpapi.Limits{IdleBodyTimeout: idle}))
	srv.Config.ConnContext = httpapi.ConnContext // as app.Serve does
	srv.Start()
	defer srv.Close()
	conn := dial(t, srv.Listener.Addr().String(), 64<<10)
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReaderSize(paced(conn, rate, 4<<10), 4<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadFull(resp.Body, make([]byte, size)); err != nil {
		t.Fatalf("the moving reader got %d of %d bytes: %v", got, size, err)
	}
	select {
	case <-stalled:
	case <-time.After(20 * time.Second):
		t.Fatal("the write to a stopped reader was not cut")
	}
}
