package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/config"
)

func TestLoadBackendPrefixed(t *testing.T) {
	env := map[string]string{"TARGET_LOCAL_STORAGE_PATH": "/srv/new", "LOCAL_STORAGE_PATH": "/srv/old", "TARGET_S3_BUCKET": "b"}
	c, err := config.LoadBackend("TARGET_", "local", func(n string) string { return env[n] })
	if err != nil || c.LocalStoragePath != "/srv/new" || c.StorageBackend != "local" {
		t.Fatalf("LoadBackend(local) = %+v, %v; want TARGET_LOCAL_STORAGE_PATH", c.LocalStoragePath, err)
	}
	_, err = config.LoadBackend("TARGET_", "s3", func(n string) string { return env[n] })
	if err == nil || !strings.Contains(err.Error(), "TARGET_S3_ENDPOINT") || strings.Contains(err.Error(), "TARGET_S3_BUCKET:") {
		t.Fatalf("LoadBackend(s3) without an endpoint = %v; want an error naming TARGET_S3_ENDPOINT only", err)
	}
}

func TestReadBackends(t *testing.T) {
	env := map[string]string{"API_TOKEN": "t", "READ_BACKENDS": "database, s3,database"}
	_, err := config.Load(func(n string) string { return env[n] })
	if err == nil || !strings.Contains(err.Error(), "S3_ENDPOINT") {
		t.Fatalf("READ_BACKENDS=s3 without S3_ENDPOINT = %v; want an error naming it", err)
	}
	env["READ_BACKENDS"] = "database,,database"
	c, err := config.Load(func(n string) string { return env[n] })
	if err != nil || !slices.Equal(c.ReadBackends, []string{"database"}) {
		t.Fatalf("READ_BACKENDS = %q, %v", c.ReadBackends, err)
	}
	env["READ_BACKENDS"] = "tape"
	if _, err := config.Load(func(n string) string { return env[n] }); err == nil || !strings.Contains(err.Error(), "READ_BACKENDS") {
		t.Fatalf("READ_BACKENDS=tape = %v; want an error naming READ_BACKENDS", err)
	}
}
