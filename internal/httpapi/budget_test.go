package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

// bufferingBackend declares the buffer of the s3 driver: a Put of unknown
// size holds part bytes once it has read more than 64 KiB, one of known
// size a fixed amount. It records the size each Put was given.
type bufferingBackend struct {
	*memory.Store
	part int64

	mu    sync.Mutex
	sizes []int64
}

func (b *bufferingBackend) PutBuffer(size int64) storage.Buffer {
	if size >= 0 {
		return storage.Buffer{}
	}
	return storage.Buffer{Bytes: b.part, After: 64 << 10}
}

func (b *bufferingBackend) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	b.mu.Lock()
	b.sizes = append(b.sizes, size)
	b.mu.Unlock()
	return b.Store.Put(ctx, key, r, size)
}

// lastSize returns the size the last Put was given.
func (b *bufferingBackend) lastSize() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sizes[len(b.sizes)-1]
}

// chunked hides the length of data, so the client sends it chunked.
func chunked(data []byte) io.Reader { return io.MultiReader(bytes.NewReader(data)) }

// expectBusy fails unless r is a 503 unavailable with Retry-After.
func expectBusy(t *testing.T, r response) {
	t.Helper()
	expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
		t.Fatalf("Retry-After %q; want a number of seconds", r.Header.Get("Retry-After"))
	}
}

// TestBufferedUploadsReserve: with the in-flight budget nearly spent, the
// uploads a backend must buffer (a chunked raw PUT, a chunked PATCH, a
// JSON POST, each past 64 KiB) get 503 with Retry-After and store nothing,
// while those it streams (a raw PUT and a tus PATCH of known length) and
// those it does not buffer (64 KiB or less) succeed; once memory is free
// the refused ones succeed, and nothing stays reserved.
func TestBufferedUploadsReserve(t *testing.T) {
	const budget, part = 8 << 20, 4 << 20
	backend := &bufferingBackend{Store: memory.New(), part: part}
	g := startGuarded(t, guardOptions{maxBlob: 1 << 20, inflight: budget, backend: backend})
	h := &tusHarness{harness: g.harness}
	big, small := testData(100<<10, 1), testData(64<<10, 2)

	held := int64(budget - part + 1) // what other uploads hold: a part no longer fits
	if !g.budget.TryAcquire(held) {
		t.Fatal("the budget refused the test's own reservation")
	}
	expectBusy(t, g.request(http.MethodPut, blobPath("chunked-big"), chunked(big), map[string]string{"Content-Type": ""}))
	expectBusy(t, g.postBlob("json-big", big))
	expectStatus(t, g.putRaw("sized-big", big, nil), http.StatusCreated)
	if n := backend.lastSize(); n != int64(len(big)) {
		t.Fatalf("a raw PUT of %d bytes reached the backend with size %d", len(big), n)
	}
	expectStatus(t, g.request(http.MethodPut, blobPath("chunked-small"), chunked(small), map[string]string{"Content-Type": ""}), http.StatusCreated)
	expectStatus(t, g.postBlob("json-small", small), http.StatusCreated)

	loc := h.create("tus-big", 2*int64(len(big)))
	expectStatus(t, h.patch(loc, 0, big, nil), http.StatusNoContent)
	if n := backend.lastSize(); n != int64(len(big)) {
		t.Fatalf("a PATCH of %d bytes reached the backend with size %d; want it streamed at its length", len(big), n)
	}
	expectBusy(t, g.request(http.MethodPatch, loc, chunked(big), map[string]string{
		"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.Itoa(len(big)),
	}))
	if got := h.offset(loc); got != int64(len(big)) {
		t.Fatalf("offset after a refused PATCH = %d; want %d", got, len(big))
	}
	for _, id := range []string{"chunked-big", "json-big"} {
		expectStatus(t, g.get(id), http.StatusNotFound)
	}
	if n := g.budget.InUse(); n != held {
		t.Fatalf("%d bytes reserved after the uploads ended; want the test's %d", n, held)
	}

	g.budget.Release(held)
	expectStatus(t, g.request(http.MethodPut, blobPath("chunked-big"), chunked(big), map[string]string{"Content-Type": ""}), http.StatusCreated)
	expectStatus(t, g.postBlob("json-big", big), http.StatusCreated)
	expectStatus(t, h.patch(loc, int64(len(big)), big, nil), http.StatusNoContent)
	h.expectBlob("tus-big", append(big[:len(big):len(big)], big...), "application/octet-stream")
	if n := g.budget.InUse(); n != 0 {
		t.Fatalf("%d bytes reserved after every upload ended", n)
	}
}
