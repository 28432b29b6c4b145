package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
)

// TestInflightMemoryIsBounded is finding 4 of issue 19 on every backend:
// with MAX_INFLIGHT_BYTES=128MiB, 40 tus PATCHes of 8 MiB with known
// lengths (each finishing its upload) and 40 chunked raw PUTs of 16 MiB,
// all at once, against the real server (app.Serve). Every answer is a
// success or 503 with Retry-After, and the peak live heap stays under the
// budget plus a fixed cost per connection; the peak heap, with the
// garbage the collector has not yet reclaimed (GOGC=100), under twice
// that.
func TestInflightMemoryIsBounded(t *testing.T) {
	if os.Getenv("SIMPLEDRIVE_SLOW_TESTS") != "1" {
		t.Skip("moves 1 GB through the server; set SIMPLEDRIVE_SLOW_TESTS=1 (scripts/test does) to run it")
	}
	const (
		budget     = 128 << 20
		patches    = 40
		patchSize  = 8 << 20
		puts       = 40
		putSize    = 16 << 20
		perConn    = 256 << 10 // buffers of both ends of a connection, hashes, a 64 KiB chunk
		fixed      = 16 << 20  // the server and the test's own, outside the load
		allowed    = budget + (patches+puts)*perConn + fixed
		heapFactor = 2 // GOGC=100 lets garbage reach the live heap
	)
	for _, s := range []stack{stacks[0], stacks[2], stackNamed(t, "s3+PostgreSQL"), stackNamed(t, "ftp+SQLite")} {
		t.Run(s.name, func(t *testing.T) {
			url := serveApp(t, s, func(c *config.Config) {
				c.MaxInflightBytes = budget
				c.MaxUploadBytes = 1 << 30
				// A tus assembly holds two FTP connections (reading a
				// part, writing the blob) and takes the second while
				// holding the first: with fewer than the load's
				// connections pooled, assemblies wait on each other
				// until their deadline.
				c.FTP.MaxConns = 90
			})
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: patches + puts, MaxIdleConnsPerHost: patches + puts}}
			t.Cleanup(client.CloseIdleConnections)
			do := func(req *http.Request) (int, string) {
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
					return 0, ""
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, resp.Header.Get("Retry-After")
			}
			locs := make([]string, patches)
			for i := range locs {
				req, _ := http.NewRequest(http.MethodPost, url+"/v1/uploads", nil)
				req.Header.Set("Tus-Resumable", "1.0.0")
				req.Header.Set("Upload-Length", strconv.Itoa(patchSize))
				req.Header.Set("Upload-Metadata", metadata("id", "tus-"+strconv.Itoa(i)))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusCreated {
					t.Fatalf("creating upload %d: %v %v", i, resp, err)
				}
				resp.Body.Close()
				locs[i] = resp.Header.Get("Location")
			}
			data := make([]byte, patchSize) // shared by every PATCH
			rand.NewChaCha8([32]byte{'p'}).Read(data)

			debug.FreeOSMemory() // so that RSS starts near the live heap
			rssBase := residentBytes()
			hs := startHeapSampler()
			var wg sync.WaitGroup
			var mu sync.Mutex
			count := map[string]int{}
			record := func(kind string, status int, retryAfter string, ok int) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case status == ok:
					count[kind+" ok"]++
				case status == http.StatusServiceUnavailable && retryAfter != "":
					count[kind+" 503"]++
				default:
					t.Errorf("%s answered %d (Retry-After %q); want %d or 503 with Retry-After", kind, status, retryAfter, ok)
				}
			}
			for i := range patches {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodPatch, url+locs[i], bytes.NewReader(data))
					req.Header.Set("Tus-Resumable", "1.0.0")
					req.Header.Set("Content-Type", "application/offset+octet-stream")
					req.Header.Set("Upload-Offset", "0")
					status, retry := do(req)
					record("PATCH", status, retry, http.StatusNoContent)
				})
			}
			for i := range puts {
				wg.Go(func() {
					// A reader of unknown length: the client sends it chunked.
					body := io.LimitReader(rand.NewChaCha8([32]byte{byte(i)}), putSize)
					req, _ := http.NewRequest(http.MethodPut, url+"/v1/blobs/put-"+strconv.Itoa(i), body)
					status, retry := do(req)
					record("PUT", status, retry, http.StatusCreated)
				})
			}
			wg.Wait()
			p := hs.finish()
			t.Logf("%s: %v; peak live heap +%.0f MiB, peak heap +%.0f MiB, peak RSS %.0f MiB (+%.0f MiB) (MAX_INFLIGHT_BYTES %d MiB, allowed live %d MiB)",
				s.name, count, p.live/(1<<20), p.heap/(1<<20), p.rss/(1<<20), (p.rss-rssBase)/(1<<20), budget>>20, allowed>>20)
			if count["PATCH ok"] == 0 || count["PUT ok"] == 0 {
				t.Errorf("no PATCH or no PUT succeeded: %v", count)
			}
			if p.live > allowed || p.heap > heapFactor*allowed {
				t.Errorf("peak live heap +%.0f MiB, peak heap +%.0f MiB; want under %d MiB and %d MiB",
					p.live/(1<<20), p.heap/(1<<20), allowed>>20, heapFactor*allowed>>20)
			}
		})
	}
}

// serveApp serves the real service wired as s, edited by edit, with
// app.Serve (the guard and its budget included) until the test ends, and
// returns its base URL. A failed test shows the server's errors.
func serveApp(t *testing.T, s stack, edit ...func(*config.Config)) string {
	t.Helper()
	c := testConfig(t)
	s.configure(t, &c)
	for _, e := range edit {
		e(&c)
	}
	logs := &syncBuffer{}
	a, err := app.New(context.Background(), c, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-served:
		case <-time.After(time.Minute):
			t.Error("the server did not stop within a minute")
		}
		a.Close()
		if t.Failed() {
			t.Logf("the server's errors:\n%.4000s", logs)
		}
	})
	return "http://" + ln.Addr().String()
}
