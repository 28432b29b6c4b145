package s3api_test

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// Credentials of the test servers: the native API's token and the S3
// operator pair.
const (
	apiToken     = "s3-test-t0ken"
	operatorID   = "OPERATORKEYID"
	operatorPass = "operator-secret-access-key-0123456789"
	bucket       = "drive"
)

// server is a running Simple Drive with its S3 front door.
type server struct {
	app    *app.App
	native string // base URL of the native API
	s3     string // base URL of the S3 front door
}

// stack is one wiring of the real service: a backend over a database.
type stack struct {
	name      string
	configure func(tb testing.TB, c *config.Config)
}

// stacks are the wirings the S3 suite runs on: under the race detector,
// testenv.RaceStacks only (testenv.SkipStackUnderRace).
var stacks = []stack{
	{"local+SQLite", func(tb testing.TB, c *config.Config) {
		c.DatabaseURL = filepath.Join(tb.TempDir(), "meta.db")
	}},
	{"database+PostgreSQL", func(tb testing.TB, c *config.Config) {
		c.DatabaseURL = testenv.PostgresURL(tb)
		c.StorageBackend = config.BackendDatabase
	}},
	{"s3+PostgreSQL", func(tb testing.TB, c *config.Config) {
		c.DatabaseURL = testenv.PostgresURL(tb)
		v := testenv.Lookup(tb, "TEST_S3_ENDPOINT", "TEST_S3_REGION", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY_ID", "TEST_S3_SECRET_ACCESS_KEY")
		c.StorageBackend = config.BackendS3
		c.S3.Endpoint, c.S3.Region, c.S3.Bucket, c.S3.AccessKeyID, c.S3.SecretAccessKey = v[0], v[1], v[2], v[3], v[4]
		c.S3.ForcePathStyle = true
		c.S3.Prefix = "s3api-" + dirName(tb)
	}},
	{"ftp+SQLite", func(tb testing.TB, c *config.Config) {
		c.DatabaseURL = filepath.Join(tb.TempDir(), "meta.db")
		v := testenv.Lookup(tb, "TEST_FTP_ADDR", "TEST_FTP_USER", "TEST_FTP_PASSWORD")
		c.StorageBackend = config.BackendFTP
		c.FTP.Addr, c.FTP.User, c.FTP.Password = v[0], v[1], v[2]
		c.FTP.Root = "s3api/" + dirName(tb)
	}},
}

// dirName turns the test's name into one path segment.
func dirName(tb testing.TB) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "+", "-").Replace(tb.Name()))
}

// start runs the real service wired as s, edited by edit, with its S3
// front door on a port of its own; both stop at the test's end.
func start(tb testing.TB, s stack, edit ...func(*config.Config)) *server {
	tb.Helper()
	c, err := config.Load(func(name string) string {
		return map[string]string{
			"API_TOKEN":                apiToken,
			"LOCAL_STORAGE_PATH":       filepath.Join(tb.TempDir(), "blobs"),
			"S3_API_ADDR":              "127.0.0.1:0",
			"S3_API_BUCKET":            bucket,
			"S3_API_ACCESS_KEY_ID":     operatorID,
			"S3_API_SECRET_ACCESS_KEY": operatorPass,
			"GC_INTERVAL":              "0",
		}[name]
	})
	if err != nil {
		tb.Fatal(err)
	}
	s.configure(tb, &c)
	for _, e := range edit {
		e(&c)
	}
	a, err := app.New(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("app.New: %v", err)
	}
	native := httptest.NewServer(a.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeS3(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("ServeS3: %v", err)
		}
		native.Close()
		a.Close()
	})
	return &server{app: a, native: native.URL, s3: "http://" + ln.Addr().String()}
}
