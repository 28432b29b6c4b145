package app

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

// TestServerCollectsOrphans: the server's periodic collection removes
// unreferenced bytes older than GC_GRACE, keeps younger ones and every
// blob's bytes, and holds the collectors' lease while it runs.
func TestServerCollectsOrphans(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"API_TOKEN": "token", "DATABASE_URL": dir + "/meta.db", "LOCAL_STORAGE_PATH": dir + "/blobs",
			"GC_INTERVAL": "5ms", "GC_GRACE": "1h"}[name]
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := make(messages, 1000)
	a, err := New(context.Background(), cfg, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	for key, age := range map[string]time.Duration{"00/00/old": 2 * time.Hour, "00/00/young": time.Minute} {
		if err := a.backend.Put(ctx, key, bytes.NewReader([]byte(key)), int64(len(key))); err != nil {
			t.Fatal(err)
		}
		then := time.Now().Add(-age)
		if err := os.Chtimes(filepath.Join(dir, "blobs", filepath.FromSlash(key)), then, then); err != nil {
			t.Fatal(err)
		}
	}
	ln := listen(t)
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.Serve(serveCtx, ln) }()
	req, _ := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/v1/blobs/kept", bytes.NewReader([]byte("k")))
	req.Header.Set("Authorization", "Bearer token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %v, %v", resp, err)
	}
	resp.Body.Close()
	for msg := range logs {
		if msg == "garbage collected" {
			break
		}
	}
	var holders int
	if err := a.db.Reader().QueryRow(`SELECT count(*) FROM leases WHERE name = 'gc'`).Scan(&holders); err != nil || holders != 1 {
		t.Fatalf("leases of the collector = %d, %v; want 1 while the server runs", holders, err)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	keys, err := a.backend.ListKeys(ctx, "", "", 10)
	if err != nil || len(keys) != 2 || keys[0].Key != "00/00/young" {
		t.Fatalf("after a collection the backend holds %v (%v); want the young orphan and the blob", keys, err)
	}
	if err := a.db.Reader().QueryRow(`SELECT count(*) FROM leases`).Scan(&holders); err != nil || holders != 0 {
		t.Fatalf("%d leases after the server stopped (%v); want it given up", holders, err)
	}
}
