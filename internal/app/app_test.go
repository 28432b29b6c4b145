package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
)

func testConfig(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"API_TOKEN":          "token",
		"DATABASE_URL":       filepath.Join(dir, "meta.db"),
		"LOCAL_STORAGE_PATH": filepath.Join(dir, "blobs"),
	}
	for k, v := range vars {
		base[k] = v
	}
	c, err := config.Load(func(name string) string { return base[name] })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnavailableBackendFailsAtStartup(t *testing.T) {
	c := testConfig(t, map[string]string{"STORAGE_BACKEND": "s3", "S3_ENDPOINT": "http://127.0.0.1:1",
		"S3_BUCKET": "b", "S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "hunter2"})
	_, err := app.New(context.Background(), c, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "S3_ENDPOINT") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("New with an unreachable S3 endpoint = %v; want an error naming S3_ENDPOINT without the secret", err)
	}
}

func TestBadDatabaseURLFailsAtStartup(t *testing.T) {
	c := testConfig(t, map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/x?connect_timeout=2"})
	_, err := app.New(context.Background(), c, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("New with an unreachable database = %v; want an error naming DATABASE_URL", err)
	}
}

// TestGracefulShutdown starts a slow upload, asks the server to stop while
// it is in flight, and checks that the upload completes before Serve
// returns.
func TestGracefulShutdown(t *testing.T) {
	c := testConfig(t, nil)
	a, err := app.New(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()

	body, bodyWriter := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/v1/blobs", body)
	req.Header.Set("Authorization", "Bearer token")
	answered := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			close(answered)
			return
		}
		answered <- resp
	}()
	bodyWriter.Write([]byte(`{"id":"in-flight",`))
	time.Sleep(100 * time.Millisecond) // the request is now being read
	stop()
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	bodyWriter.Write([]byte(`"data":"aGVsbG8="}`))
	bodyWriter.Close()
	resp := <-answered
	if resp == nil {
		t.Fatal("no response")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("in-flight upload answered %d; want 201", resp.StatusCode)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v after a graceful shutdown", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("the server still accepts connections after shutdown")
	}
}
