package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

const token = "s3cr3t-t0ken"

// harness is a running API server and a client for it.
type harness struct {
	t   *testing.T
	url string
}

// stack describes one wiring of the real service: a storage backend over a
// metadata database.
type stack struct {
	name      string
	configure func(tb testing.TB, c *config.Config)
}

// sqliteDB puts the metadata in a fresh SQLite file.
func sqliteDB(tb testing.TB, c *config.Config) {
	c.DatabaseURL = filepath.Join(tb.TempDir(), "meta.db")
}

// postgresDB puts the metadata in a fresh schema of TEST_DATABASE_URL.
func postgresDB(tb testing.TB, c *config.Config) {
	c.DatabaseURL = testenv.PostgresURL(tb)
}

// stacks are the wirings the API suite runs on. Under the race detector the
// suites run on every stack call testenv.SkipStackUnderRace, so they run on
// testenv.RaceStacks only; without it, on all of these.
var stacks = []stack{
	{"local+SQLite", sqliteDB},
	{"local+PostgreSQL", postgresDB},
	{"database+SQLite", func(tb testing.TB, c *config.Config) {
		sqliteDB(tb, c)
		c.StorageBackend = config.BackendDatabase
	}},
	{"database+PostgreSQL", func(tb testing.TB, c *config.Config) {
		postgresDB(tb, c)
		c.StorageBackend = config.BackendDatabase
	}},
	{"s3+PostgreSQL", func(tb testing.TB, c *config.Config) {
		postgresDB(tb, c)
		s3Backend(tb, c)
	}},
	{"ftp+SQLite", func(tb testing.TB, c *config.Config) {
		sqliteDB(tb, c)
		ftpBackend(tb, c)
	}},
	{"ftps+PostgreSQL", func(tb testing.TB, c *config.Config) {
		postgresDB(tb, c)
		ftpBackend(tb, c)
		v := testenv.Lookup(tb, "TEST_FTP_TLS_ADDR", "TEST_FTP_TLS_CA")
		c.FTP.Addr, c.FTP.TLS, c.FTP.TLSCAFile = v[0], "explicit", v[1]
	}},
}

// ftpBackend points c at the FTP server of the test run, under a directory
// of its own.
func ftpBackend(tb testing.TB, c *config.Config) {
	v := testenv.Lookup(tb, "TEST_FTP_ADDR", "TEST_FTP_USER", "TEST_FTP_PASSWORD")
	c.StorageBackend = config.BackendFTP
	c.FTP.Addr, c.FTP.User, c.FTP.Password = v[0], v[1], v[2]
	c.FTP.Root = "api/" + testDirName(tb)
}

// testDirName turns the test's name into one path segment.
func testDirName(tb testing.TB) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "+", "-").Replace(tb.Name()))
}

// s3Backend points c at the S3-compatible server of the test run, under a
// prefix of its own.
func s3Backend(tb testing.TB, c *config.Config) {
	v := testenv.Lookup(tb, "TEST_S3_ENDPOINT", "TEST_S3_REGION", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY_ID", "TEST_S3_SECRET_ACCESS_KEY")
	c.StorageBackend = config.BackendS3
	c.S3.Endpoint, c.S3.Region, c.S3.Bucket, c.S3.AccessKeyID, c.S3.SecretAccessKey = v[0], v[1], v[2], v[3], v[4]
	c.S3.ForcePathStyle = true
	c.S3.Prefix = "api-" + testDirName(tb)
}

// testConfig is the configuration of a test server before its stack is
// applied: the embedded default with a small blob limit.
func testConfig(tb testing.TB) config.Config {
	tb.Helper()
	c, err := config.Load(func(name string) string {
		return map[string]string{
			"API_TOKEN":          token,
			"LOCAL_STORAGE_PATH": filepath.Join(tb.TempDir(), "blobs"),
			"MAX_BLOB_BYTES":     "6MiB",
		}[name]
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// startApp builds the real service wired as s, edited by edit, and returns
// its handler. The service is closed by tb.Cleanup.
func startApp(tb testing.TB, s stack, edit ...func(*config.Config)) http.Handler {
	tb.Helper()
	c := testConfig(tb)
	s.configure(tb, &c)
	for _, e := range edit {
		e(&c)
	}
	return newApp(tb, c)
}

// newApp builds the real service configured by c and returns its handler.
// The service is closed by tb.Cleanup.
func newApp(tb testing.TB, c config.Config) http.Handler {
	tb.Helper()
	a, err := app.New(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatalf("app.New: %v", err)
	}
	tb.Cleanup(func() { a.Close() })
	return a.Handler()
}

// startStack serves the real service wired as s.
func startStack(t *testing.T, s stack, edit ...func(*config.Config)) *harness {
	t.Helper()
	return serve(t, startApp(t, s, edit...))
}

func serve(t *testing.T, h http.Handler) *harness {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &harness{t: t, url: srv.URL}
}

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
}

// request sends a request with the valid token unless headers say otherwise
// (an "Authorization" entry of "" sends none).
func (h *harness) request(method, path string, body io.Reader, headers map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{resp, data}
}

func (h *harness) post(body string) response {
	h.t.Helper()
	return h.request(http.MethodPost, "/v1/blobs", strings.NewReader(body), nil)
}

func (h *harness) postBlob(id string, data []byte) response {
	h.t.Helper()
	return h.post(createBody(id, data))
}

func (h *harness) get(id string) response {
	h.t.Helper()
	return h.request(http.MethodGet, blobPath(id), nil, nil)
}

func blobPath(id string) string {
	return "/v1/blobs/" + escapeID(id)
}

// escapeID percent-encodes every byte of id outside the unreserved set, so
// that '/' and '.' segments survive as part of the id.
func escapeID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hexByte(c)))
		}
	}
	return b.String()
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

// createBody returns the JSON body of a POST storing data under id. It is
// safe to call from any goroutine.
func createBody(id string, data []byte) string {
	body, _ := json.Marshal(map[string]string{"id": id, "data": base64.StdEncoding.EncodeToString(data)})
	return string(body) // marshalling a map of strings cannot fail
}

// blobJSON is a decoded 200 or 201 body.
type blobJSON struct {
	ID        string `json:"id"`
	Data      string `json:"data"`
	Size      int64  `json:"size"`
	CreatedAt string `json:"created_at"`
}

func decodeBlob(t *testing.T, r response) blobJSON {
	t.Helper()
	var b blobJSON
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("decoding %q: %v", truncate(r.body), err)
	}
	return b
}

// expectStatus fails unless r has the status.
func expectStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s = %d %s; want %d", r.Request.Method, r.Request.URL.Path, r.StatusCode, truncate(r.body), status)
	}
}

// expectProblem fails unless r is a problem document with status and code.
func expectProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	expectStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q; want application/problem+json", ct)
	}
	var p struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
		Code   string `json:"code"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %q: %v", r.body, err)
	}
	if p.Status != status || p.Code != code || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem = %+v; want status %d, code %q, a title and a detail", p, status, code)
	}
	if strings.Contains(string(r.body), token) {
		t.Fatalf("problem body leaks the token: %s", r.body)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// parseTime parses created_at, requiring RFC 3339 in UTC.
func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Fatalf("created_at %q is not RFC 3339 UTC: %v", s, err)
	}
	return ts
}
