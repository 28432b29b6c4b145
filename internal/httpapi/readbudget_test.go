package httpapi_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage/sqlstore"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestDatabaseReadReserves: a GET from the database backend reserves the
// reader's 1 MiB chunk buffer from MAX_INFLIGHT_BYTES; with the budget
// spent, the JSON GET and alt=media get 503 with Retry-After, and once
// memory is free they succeed (the release on Close is checked in
// package sqlstore's TestReaderReservesItsChunk).
func TestDatabaseReadReserves(t *testing.T) {
	const budget = 4 << 20
	backend := sqlstore.New(testenv.OpenDB(t, filepath.Join(t.TempDir(), "data.db")))
	g := startGuarded(t, guardOptions{maxBlob: 1 << 20, inflight: budget, backend: backend})
	expectStatus(t, g.putRaw("docs/a.txt", []byte("hello"), nil), http.StatusCreated)
	if !g.budget.TryAcquire(budget - sqlstore.ChunkSize + 1) {
		t.Fatal("the budget is not free")
	}
	expectBusy(t, g.get("docs/a.txt"))
	expectBusy(t, g.request(http.MethodGet, blobPath("docs/a.txt")+"?alt=media", nil, nil))
	g.budget.Release(budget - sqlstore.ChunkSize + 1)
	expectStatus(t, g.get("docs/a.txt"), http.StatusOK)
	if r := g.request(http.MethodGet, blobPath("docs/a.txt")+"?alt=media", nil, nil); r.StatusCode != http.StatusOK || string(r.body) != "hello" {
		t.Fatalf("alt=media = %d, %q", r.StatusCode, r.body)
	}
}
