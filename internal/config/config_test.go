package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(map[string]string{"API_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		APIToken:         "t",
		ListenAddr:       ":8080",
		StorageBackend:   "local",
		DatabaseURL:      "./data/simpledrive.db",
		LocalStoragePath: "./data/blobs",
		MaxBlobBytes:     64 << 20,
		RequestTimeout:   2 * time.Minute,
		LogLevel:         slog.LevelInfo,
	}
	if c.ListenAddr != want.ListenAddr || c.StorageBackend != want.StorageBackend || c.DatabaseURL != want.DatabaseURL ||
		c.LocalStoragePath != want.LocalStoragePath || c.MaxBlobBytes != want.MaxBlobBytes ||
		c.RequestTimeout != want.RequestTimeout || c.LogLevel != want.LogLevel || c.FTP.MaxConns != 8 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestParsesValues(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"API_TOKEN": "t", "LISTEN_ADDR": "127.0.0.1:9000", "MAX_BLOB_BYTES": "1MiB", "LOG_LEVEL": "debug",
		"STORAGE_BACKEND": "s3", "S3_ENDPOINT": "http://127.0.0.1:7070", "S3_BUCKET": "b",
		"S3_ACCESS_KEY_ID": "id", "S3_SECRET_ACCESS_KEY": "secret", "S3_FORCE_PATH_STYLE": "true",
		"SHUTDOWN_TIMEOUT": "5s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9000" || c.MaxBlobBytes != 1<<20 || c.LogLevel != slog.LevelDebug ||
		!c.S3.ForcePathStyle || c.S3.Region != "us-east-1" || c.HTTP.ShutdownTimeout != 5*time.Second {
		t.Fatalf("parsed %+v", c)
	}
}

func TestHTTPLimits(t *testing.T) {
	c, err := config.Load(env(map[string]string{"API_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	h := c.HTTP
	if c.MaxOpenUploads != 1000 || c.MaxOpenUploadsTotal != 100000 {
		t.Fatalf("MaxOpenUploads %d, MaxOpenUploadsTotal %d; want 1000 and 100000", c.MaxOpenUploads, c.MaxOpenUploadsTotal)
	}
	if c.MaxInflightBytes != 512<<20 || h.MaxHeaderBytes != 32<<10 || h.MaxConns != 1024 ||
		h.IdleBodyTimeout != 30*time.Second || h.ReadHeaderTimeout != 10*time.Second {
		t.Fatalf("HTTP defaults = %+v, MaxInflightBytes %d", h, c.MaxInflightBytes)
	}
	c, err = config.Load(env(map[string]string{"API_TOKEN": "t", "MAX_INFLIGHT_BYTES": "1GiB",
		"HTTP_MAX_HEADER_BYTES": "16KiB", "MAX_CONNS": "64", "HTTP_IDLE_BODY_TIMEOUT": "5s",
		"MAX_OPEN_UPLOADS": "3", "MAX_OPEN_UPLOADS_TOTAL": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxOpenUploads != 3 || c.MaxOpenUploadsTotal != 7 {
		t.Fatalf("MaxOpenUploads %d, MaxOpenUploadsTotal %d; want 3 and 7", c.MaxOpenUploads, c.MaxOpenUploadsTotal)
	}
	if c.MaxInflightBytes != 1<<30 || c.HTTP.MaxHeaderBytes != 16<<10 || c.HTTP.MaxConns != 64 || c.HTTP.IdleBodyTimeout != 5*time.Second {
		t.Fatalf("parsed %+v, MaxInflightBytes %d", c.HTTP, c.MaxInflightBytes)
	}
	_, err = config.Load(env(map[string]string{"API_TOKEN": "t", "MAX_INFLIGHT_BYTES": "lots",
		"HTTP_MAX_HEADER_BYTES": "2MiB", "MAX_CONNS": "0", "HTTP_IDLE_BODY_TIMEOUT": "soon",
		"MAX_OPEN_UPLOADS": "0", "MAX_OPEN_UPLOADS_TOTAL": "many"}))
	for _, name := range []string{"MAX_INFLIGHT_BYTES", "HTTP_MAX_HEADER_BYTES", "MAX_CONNS", "HTTP_IDLE_BODY_TIMEOUT", "MAX_OPEN_UPLOADS", "MAX_OPEN_UPLOADS_TOTAL"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestMissingTokenStopsStartup(t *testing.T) {
	_, err := config.Load(env(nil))
	if err == nil || !strings.Contains(err.Error(), "API_TOKEN") {
		t.Fatalf("Load without API_TOKEN = %v; want an error naming it", err)
	}
}

func TestErrorsNameEveryBadVariable(t *testing.T) {
	_, err := config.Load(env(map[string]string{
		"API_TOKEN":       "t",
		"MAX_BLOB_BYTES":  "lots",
		"LOG_LEVEL":       "loud",
		"REQUEST_TIMEOUT": "-1s",
		"FTP_MAX_CONNS":   "0",
	}))
	if err == nil {
		t.Fatal("Load accepted bad values")
	}
	for _, name := range []string{"MAX_BLOB_BYTES", "LOG_LEVEL", "REQUEST_TIMEOUT", "FTP_MAX_CONNS"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestUnknownBackendListsValidOnes(t *testing.T) {
	_, err := config.Load(env(map[string]string{"API_TOKEN": "t", "STORAGE_BACKEND": "tape"}))
	if err == nil || !strings.Contains(err.Error(), "STORAGE_BACKEND") || !strings.Contains(err.Error(), "local, database, s3, ftp") {
		t.Fatalf("Load with an unknown backend = %v", err)
	}
}

func TestBackendRequirements(t *testing.T) {
	_, err := config.Load(env(map[string]string{"API_TOKEN": "t", "STORAGE_BACKEND": "s3", "S3_SECRET_ACCESS_KEY": "hunter2", "S3_PART_SIZE": "1MiB"}))
	if err == nil {
		t.Fatal("s3 without endpoint accepted")
	}
	for _, name := range []string{"S3_ENDPOINT", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_PART_SIZE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("the error shows a secret")
	}
	_, err = config.Load(env(map[string]string{"API_TOKEN": "t", "STORAGE_BACKEND": "ftp", "FTP_TLS": "implicit"}))
	if err == nil || !strings.Contains(err.Error(), "FTP_ADDR") || !strings.Contains(err.Error(), "FTP_TLS") {
		t.Fatalf("ftp errors = %v", err)
	}
	_, err = config.Load(env(map[string]string{"API_TOKEN": "t", "STORAGE_BACKEND": "ftp", "FTP_ADDR": "h:21", "FTP_TLS_CA": "/ca.pem"}))
	if err == nil || !strings.Contains(err.Error(), "FTP_TLS_CA") {
		t.Fatalf("FTP_TLS_CA without FTP_TLS = %v", err)
	}
}

func TestTokenWithWhitespaceRefused(t *testing.T) {
	for _, tok := range []string{" tok3n", "tok3n ", "tok 3n"} {
		if _, err := config.Load(env(map[string]string{"API_TOKEN": tok})); err == nil || strings.Contains(err.Error(), tok) {
			t.Errorf("API_TOKEN %q: err = %v; want a refusal that does not echo the token", tok, err)
		}
	}
}

func TestParseBytes(t *testing.T) {
	cases := map[string]int64{"1": 1, "1024": 1024, "1KiB": 1024, "64MiB": 64 << 20, "2GiB": 2 << 30, "5MB": 5e6, "10B": 10}
	for in, want := range cases {
		if got, err := config.ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5MiB", "MiB", "1TiB", "99999999999GiB"} {
		if _, err := config.ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", in)
		}
	}
}
