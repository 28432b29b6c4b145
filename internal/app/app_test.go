package app_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

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
