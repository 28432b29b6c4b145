package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	// onBytes, when set, is called with the running total of those
	// counters as bytes move.
	mu      sync.Mutex
	onBytes func(kind string, total int64)

	tus *tusStandIn
	// standIns are the routes served by stand-ins because the server has
	// none of its own yet: "uploads", "links", "keys".
	standIns map[string]bool
	keys     *keysStandIn
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
	s.tus = &tusStandIn{api: a.Handler(), uploads: map[string]*tusUpload{}}
	s.keys = &keysStandIn{}
	s.standIns = map[string]bool{
		"uploads": !hasRoute(a.Handler(), http.MethodPost, "/v1/uploads/"),
		"links":   !hasRoute(a.Handler(), http.MethodPost, "/v1/links"),
		"keys":    !hasRoute(a.Handler(), http.MethodGet, "/v1/keys"),
	}
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

// setHook sets the function called as bytes move.
func (s *server) setHook(f func(kind string, total int64)) {
	s.mu.Lock()
	s.onBytes = f
	s.mu.Unlock()
}

// wrap counts bytes and routes /v1/uploads/ to the tus stand-in while the
// server has no tus endpoint of its own.
func (s *server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			r.Body = &countReader{r: r.Body, n: &s.patched, kind: "patch", hook: s.hook}
		}
		if r.URL.Query().Get("alt") == "media" && r.Method == http.MethodGet {
			w = &countWriter{ResponseWriter: w, n: &s.media, kind: "media", hook: s.hook}
		}
		switch {
		case s.standIns["uploads"] && strings.HasPrefix(r.URL.Path, "/v1/uploads/"):
			s.tus.ServeHTTP(w, r)
			return
		case s.standIns["links"] && r.URL.Path == "/v1/links":
			serveLink(w, r)
			return
		case s.standIns["keys"] && strings.HasPrefix(r.URL.Path, "/v1/keys"):
			s.keys.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

type countReader struct {
	r    io.ReadCloser
	n    *atomic.Int64
	kind string
	hook func(string, int64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
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

// tusStandIn is the server side of tus 1.0.0 core and creation, enough for
// the client: it keeps uploads in memory and, once complete, stores the
// blob through the real API's PUT. (The server's own tus endpoint replaces
// it when it lands.)
type tusStandIn struct {
	api     http.Handler
	mu      sync.Mutex
	uploads map[string]*tusUpload
	next    int
}

type tusUpload struct {
	mu        sync.Mutex
	id, ctype string
	length    int64
	data      []byte
	done      bool
}

func (t *tusStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, `{"status":401,"code":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/v1/uploads/")
	if r.Method == http.MethodPost && name == "" {
		length, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
		if err != nil {
			http.Error(w, "bad length", http.StatusBadRequest)
			return
		}
		u := &tusUpload{length: length}
		for _, kv := range strings.Split(r.Header.Get("Upload-Metadata"), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), " ")
			b, _ := base64.StdEncoding.DecodeString(v)
			switch k {
			case "id":
				u.id = string(b)
			case "content_type":
				u.ctype = string(b)
			}
		}
		t.mu.Lock()
		t.next++
		name = fmt.Sprintf("u%d", t.next)
		t.uploads[name] = u
		t.mu.Unlock()
		w.Header().Set("Location", "/v1/uploads/"+name)
		w.WriteHeader(http.StatusCreated)
		return
	}
	t.mu.Lock()
	u := t.uploads[name]
	t.mu.Unlock()
	if u == nil {
		http.Error(w, `{"status":404,"code":"not_found"}`, http.StatusNotFound)
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch r.Method {
	case http.MethodHead:
		w.Header().Set("Upload-Offset", strconv.Itoa(len(u.data)))
		w.Header().Set("Upload-Length", strconv.FormatInt(u.length, 10))
		w.WriteHeader(http.StatusOK)
	case http.MethodPatch:
		off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		if off != int64(len(u.data)) {
			http.Error(w, `{"status":409,"code":"offset_mismatch"}`, http.StatusConflict)
			return
		}
		// Like tusd, keep what arrived even when the body is cut.
		b, _ := io.ReadAll(r.Body)
		u.data = append(u.data, b...)
		if int64(len(u.data)) == u.length && !u.done {
			req := httptest.NewRequest(http.MethodPut, "/v1/blobs/"+url.PathEscape(u.id), bytes.NewReader(u.data))
			req.Header.Set("Authorization", "Bearer "+testToken)
			if u.ctype != "" {
				req.Header.Set("Content-Type", u.ctype)
			}
			rec := httptest.NewRecorder()
			t.api.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
			u.done = true
		}
		w.Header().Set("Upload-Offset", strconv.Itoa(len(u.data)))
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

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

// hasRoute reports whether h serves method on path: the API answers routes
// it does not have with 404 not_found.
func hasRoute(h http.Handler, method, path string) bool {
	req := httptest.NewRequest(method, path, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return !(rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), `"not_found"`))
}

// serveLink is a stand-in of POST /v1/links (DESIGN section 7).
func serveLink(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID        string `json:"id"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ID == "" || req.ExpiresIn <= 0 {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"url":"/v1/blobs/%s?alt=media&expires=%d&sig=stand-in"}`, url.PathEscape(req.ID), time.Now().Unix()+req.ExpiresIn)
}

// keysStandIn is a stand-in of /v1/keys (DESIGN section 8).
type keysStandIn struct {
	mu   sync.Mutex
	keys []map[string]any
}

func (k *keysStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/keys":
		var req map[string]any
		json.NewDecoder(r.Body).Decode(&req)
		id := fmt.Sprintf("k%d", len(k.keys)+1)
		key := map[string]any{"key_id": id, "name": req["name"], "scopes": req["scopes"], "created_at": time.Now().UTC()}
		k.keys = append(k.keys, key)
		out := maps.Clone(key)
		out["token"] = "sd_" + id + "_secret"
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/keys":
		json.NewEncoder(w).Encode(map[string]any{"keys": k.keys})
	case r.Method == http.MethodDelete:
		id := strings.TrimPrefix(r.URL.Path, "/v1/keys/")
		for _, key := range k.keys {
			if key["key_id"] == id && key["revoked_at"] == nil {
				key["revoked_at"] = time.Now().UTC()
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"title":"Not Found","status":404,"detail":"no such key","code":"key_not_found"}`)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}
