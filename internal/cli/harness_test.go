package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/cli"
	"github.com/simpledrive/simpledrive/internal/config"
)

const testToken = "test-token"

// server is a real Simple Drive (local backend, SQLite) serving on a
// loopback port, with counters and hooks a test uses to watch and cut
// transfers.
type server struct {
	URL   string
	vars  map[string]string
	app   *app.App
	cache string // XDG_CACHE_HOME of the commands run against it

	// patched counts tus PATCH body bytes received; media counts alt=media
	// response bytes sent.
	patched, media atomic.Int64
	// flip, when set, flips the first byte of every PATCH body the
	// server receives.
	flip atomic.Bool
	// noCRC, when set, leaves the CRC-32C out of alt=media answers, as
	// for a blob stored before the server recorded one; noDigest leaves
	// out their Repr-Digest, as an older server or a proxy does.
	noCRC, noDigest atomic.Bool
	// onBytes, when set, is called with the running total of those
	// counters as bytes move.
	mu      sync.Mutex
	onBytes func(kind string, total int64)
	// handling counts the requests whose handler has not returned.
	handling sync.WaitGroup
}

// startServer starts a server with the environment vars added to the test
// defaults. It is stopped by t.Cleanup.
func startServer(t *testing.T, vars map[string]string) *server {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"API_TOKEN":          testToken,
		"DATABASE_URL":       filepath.Join(dir, "meta.db"),
		"LOCAL_STORAGE_PATH": filepath.Join(dir, "blobs"),
		"LOG_LEVEL":          "error",
	}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(func(n string) string { return env[n] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{vars: env, app: a, cache: t.TempDir()}
	ts := httptest.NewServer(s.wrap(a.Handler()))
	t.Cleanup(func() { ts.Close(); a.Close() })
	s.URL = ts.URL
	return s
}

func (s *server) hook(kind string, total int64) {
	s.mu.Lock()
	f := s.onBytes
	s.mu.Unlock()
	if f != nil {
		f(kind, total)
	}
}

// settle waits until every request the server has received is answered,
// such as a PATCH whose client went away and whose handler still records
// what arrived. No command may be running.
func (s *server) settle() { s.handling.Wait() }

// setHook sets the function called as bytes move.
func (s *server) setHook(f func(kind string, total int64)) {
	s.mu.Lock()
	s.onBytes = f
	s.mu.Unlock()
}

// wrap counts the tus PATCH bytes the server receives and the alt=media
// bytes it sends.
func (s *server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handling.Add(1)
		defer s.handling.Done()
		if r.Method == http.MethodPatch {
			r.Body = &countReader{r: r.Body, n: &s.patched, kind: "patch", hook: s.hook, flip: s.flip.Load()}
		}
		if r.URL.Query().Get("alt") == "media" && r.Method == http.MethodGet {
			w = &countWriter{ResponseWriter: w, n: &s.media, kind: "media", hook: s.hook}
		}
		if r.URL.Query().Get("alt") == "media" && (s.noCRC.Load() || s.noDigest.Load()) {
			w = &withoutCRC{ResponseWriter: w, all: s.noDigest.Load()}
		}
		h.ServeHTTP(w, r)
	})
}

type countReader struct {
	r    io.ReadCloser
	n    *atomic.Int64
	kind string
	hook func(string, int64)
	flip bool // flip the first byte read
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.flip && n > 0 {
		p[0] ^= 1
		c.flip = false
	}
	c.hook(c.kind, c.n.Add(int64(n)))
	return n, err
}

func (c *countReader) Close() error { return c.r.Close() }

type countWriter struct {
	http.ResponseWriter
	n    *atomic.Int64
	kind string
	hook func(string, int64)
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.hook(c.kind, c.n.Add(int64(n)))
	return n, err
}

func (c *countWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// withoutCRC takes the CRC-32C out of a response's digest headers, or,
// with all, the whole Repr-Digest.
type withoutCRC struct {
	http.ResponseWriter
	all bool
}

func (w *withoutCRC) WriteHeader(code int) {
	h := w.Header()
	if w.all {
		h.Del("Repr-Digest")
	}
	var kept []string
	for _, d := range strings.Split(h.Get("Repr-Digest"), ",") {
		if !strings.HasPrefix(strings.TrimSpace(d), "crc32c=") {
			kept = append(kept, strings.TrimSpace(d))
		}
	}
	h.Set("Repr-Digest", strings.Join(kept, ", "))
	h.Del("X-Amz-Checksum-Crc32c")
	w.ResponseWriter.WriteHeader(code)
}

func (w *withoutCRC) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// run runs the command line args against s with its own cache directory
// and returns the exit code, stdout and stderr.
func (s *server) run(ctx context.Context, t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := s.runEnv(ctx, stdin, &stdout, &stderr, args...)
	return code, stdout.String(), stderr.String()
}

func (s *server) runEnv(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args ...string) int {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	vars := map[string]string{"SIMPLEDRIVE_URL": s.URL, "SIMPLEDRIVE_TOKEN": testToken, "XDG_CACHE_HOME": s.cache}
	return cli.Main(ctx, args, cli.Env{Stdin: stdin, Stdout: stdout, Stderr: stderr,
		Getenv: func(n string) string {
			if v, ok := vars[n]; ok {
				return v
			}
			return s.vars[n]
		}})
}

// randomFile writes n random bytes to a file in dir and returns its path
// and contents.
func randomFile(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}
