package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

// faultyBackend is a memory backend whose operations fail with err while it
// is set.
type faultyBackend struct {
	*memory.Store
	mu  sync.Mutex
	err error
}

func (f *faultyBackend) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *faultyBackend) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faultyBackend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Store.Put(ctx, key, r, size)
}

func (f *faultyBackend) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.failure(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, key)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startFaulty serves the API over a memory backend the test can break, and
// returns the log it writes.
func startFaulty(t *testing.T) (*harness, *faultyBackend, *syncBuffer) {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	backend := &faultyBackend{Store: memory.New()}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	svc := blob.New(sqlmeta.New(d), storage.NewBucket("memory", backend), blob.Options{Timeout: 10 * time.Second}, log)
	api := httpapi.New(svc, httpapi.Config{
		Token: token, MaxBlobBytes: 1 << 20, RequestTimeout: 10 * time.Second, Ping: d.Ping, Logger: log,
	})
	return serve(t, api), backend, logs
}

// TestServerSideErrors covers the 5xx rows of the error table.
func TestServerSideErrors(t *testing.T) {
	h, backend, logs := startFaulty(t)
	expectStatus(t, h.postBlob("stored", []byte("intact")), http.StatusCreated)

	backend.fail(errors.New("backend: connection to 10.0.0.1 refused: " + storage.ErrUnavailable.Error()))
	r := h.postBlob("new", []byte("x"))
	expectProblem(t, r, http.StatusInternalServerError, "internal")
	if strings.Contains(string(r.body), "10.0.0.1") {
		t.Errorf("internal error details reached the client: %s", r.body)
	}

	backend.fail(storage.ErrUnavailable)
	for _, r := range []response{h.postBlob("new", []byte("x")), h.get("stored")} {
		expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}

	backend.fail(storage.ErrInsufficientStorage)
	expectProblem(t, h.postBlob("new", []byte("x")), http.StatusInsufficientStorage, "insufficient_storage")

	backend.fail(nil)
	expectProblem(t, h.get("new"), http.StatusNotFound, "blob_not_found")
	if got := decodeBlob(t, h.get("stored")); got.Size != 6 {
		t.Fatalf("the stored blob changed: %+v", got)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the token appears in the log")
	}
	if !strings.Contains(logs.String(), `"route":"/v1/blobs/{id}"`) || strings.Contains(logs.String(), `stored"`) {
		t.Errorf("request log should name routes, never ids:\n%s", logs.String())
	}
}

func TestIntegrityFaults(t *testing.T) {
	h, backend, logs := startFaulty(t)
	small := bytes.Repeat([]byte("s"), 48<<10)  // exactly one GET block
	large := bytes.Repeat([]byte("L"), 256<<10) // past the bytes verified before answering
	for id, data := range map[string][]byte{"small": small, "large": large, "gone": []byte("x")} {
		expectStatus(t, h.postBlob(id, data), http.StatusCreated)
	}
	keys := backendKeys(t, backend)

	// Replace every blob's bytes behind the service's back.
	for _, key := range keys {
		rc, _ := backend.Store.Get(context.Background(), key)
		data, _ := io.ReadAll(rc)
		backend.Store.Delete(context.Background(), key)
		if len(data) > 1 {
			data[len(data)-1] ^= 1
			backend.Store.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)))
		}
	}
	corrupt := h.get("small")
	expectProblem(t, corrupt, http.StatusInternalServerError, "blob_corrupt")
	if tag := corrupt.Header.Get("ETag"); tag != "" {
		t.Errorf("an error response carries the blob's ETag %s", tag)
	}
	expectProblem(t, h.get("gone"), http.StatusInternalServerError, "blob_data_missing")

	// A large blob is corrupt only at its end, after 200 was sent: the
	// response is cut short of its Content-Length.
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/blobs/large", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a corrupt large blob was served in full")
	}
	if !strings.Contains(logs.String(), "integrity fault") {
		t.Error("integrity faults were not logged")
	}
}

// backendKeys lists the keys the memory store holds.
func backendKeys(t *testing.T, b *faultyBackend) []string {
	t.Helper()
	keys := b.Store.Keys()
	if len(keys) == 0 {
		t.Fatal("no keys stored")
	}
	return keys
}
