package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/memory"
)

// scrape fetches /metrics without a token and returns its samples by
// series ("name{label="value",...}", labels sorted as Prometheus writes
// them) and the raw text.
func scrape(t *testing.T, h *harness) (map[string]float64, string) {
	t.Helper()
	r := h.request("GET", "/metrics", nil, map[string]string{"Authorization": ""})
	expectStatus(t, r, http.StatusOK)
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples, string(r.body)
}

// TestMetrics scrapes /metrics before and after known requests: the
// counters move by exactly what the requests did, and no label holds a
// blob id or a token.
func TestMetrics(t *testing.T) {
	h := startServer(t, stackConfig(t, keyStacks[0]))
	before, _ := scrape(t, h.harness)
	ids := []string{"zq-distinctive-blob-1", "zq-distinctive-blob-2", "zq-distinctive/blob 3"}
	var total int
	for i, id := range ids {
		data := strings.Repeat("b", 100*(i+1))
		total += len(data)
		expectStatus(t, h.putRaw(id, []byte(data), nil), http.StatusCreated)
	}
	expectStatus(t, h.request("GET", blobPath(ids[0])+"?alt=media", nil, nil), http.StatusOK)
	expectStatus(t, h.request("GET", blobPath(ids[1])+"?alt=media", nil, nil), http.StatusOK)
	expectStatus(t, h.get("zq-distinctive-missing"), http.StatusNotFound)
	expectStatus(t, h.request("DELETE", blobPath(ids[2]), nil, nil), http.StatusNoContent)
	k := h.createKey(`{"name":"m","scopes":["read"]}`)
	expectStatus(t, h.request("GET", "/v1/blobs", nil, bearer(k.Token)), http.StatusOK)
	after, text := scrape(t, h.harness)

	const item = `route="/v1/blobs/{id}"`
	want := map[string]float64{
		`simpledrive_http_requests_total{code="201",method="PUT",` + item + `}`:                 3,
		`simpledrive_http_requests_total{code="200",method="GET",` + item + `}`:                 2,
		`simpledrive_http_requests_total{code="404",method="GET",` + item + `}`:                 1,
		`simpledrive_http_requests_total{code="204",method="DELETE",` + item + `}`:              1,
		`simpledrive_http_requests_total{code="201",method="POST",route="/v1/keys"}`:            1,
		`simpledrive_http_requests_total{code="200",method="GET",route="/v1/blobs"}`:            1,
		`simpledrive_http_request_duration_seconds_count{method="PUT",` + item + `}`:            3,
		`simpledrive_http_request_bytes_total{method="PUT",` + item + `}`:                       float64(total),
		`simpledrive_http_response_bytes_total{method="GET",` + item + `}`:                      float64(100+200) + float64(len(after)*0), // the two downloads, plus the 404's body below
		`simpledrive_blobs_created_total`:                                                       3,
		`simpledrive_blob_bytes_created_total`:                                                  float64(total),
		`simpledrive_blobs_deleted_total`:                                                       1,
		`simpledrive_blob_bytes_deleted_total`:                                                  300,
		`simpledrive_backend_operations_total{backend="local",operation="put",outcome="ok"}`:    3,
		`simpledrive_backend_operations_total{backend="local",operation="get",outcome="ok"}`:    2,
		`simpledrive_backend_operation_duration_seconds_count{backend="local",operation="put"}`: 3,
	}
	// The 404 has a problem body: add its length to the GET bytes.
	notFound := h.get("zq-distinctive-missing")
	want[`simpledrive_http_response_bytes_total{method="GET",`+item+`}`] += float64(len(notFound.body))
	for series, delta := range want {
		if got := after[series] - before[series]; got != delta {
			t.Errorf("%s moved by %v; want %v", series, got, delta)
		}
	}
	for _, family := range []string{"go_goroutines", "process_open_fds", `go_sql_open_connections{db_name="metadata"}`, `go_sql_open_connections{db_name="metadata_writer"}`} {
		if _, ok := after[family]; !ok {
			t.Errorf("no %s in the scrape", family)
		}
	}
	for _, secret := range []string{"zq-distinctive", "distinctive", k.Token, k.KeyID, token} {
		if strings.Contains(text, secret) {
			t.Errorf("the scrape holds %q", secret)
		}
	}
}

// TestReadiness: /readyz is 503 naming the database while PostgreSQL is
// cut, and 200 again once it is back; /healthz stays 200 throughout.
func TestReadiness(t *testing.T) {
	c := stackConfig(t, keyStacks[1], func(c *config.Config) { c.Ops.ReadyTimeout = time.Second })
	var proxy interface {
		Cut()
		Restore()
	}
	c.DatabaseURL, proxy = viaProxy(t, c.DatabaseURL)
	h := startServer(t, c)
	public := map[string]string{"Authorization": ""}
	expectStatus(t, h.request("GET", "/readyz", nil, public), http.StatusOK)
	proxy.Cut()
	r := h.request("GET", "/readyz", nil, public)
	expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	if !strings.Contains(string(r.body), "database") || strings.Contains(string(r.body), "storage") || r.Header.Get("Retry-After") == "" {
		t.Errorf("readyz while the database is cut: %s (Retry-After %q); want the database named, alone", r.body, r.Header.Get("Retry-After"))
	}
	health := h.request("GET", "/healthz", nil, public)
	expectStatus(t, health, http.StatusOK)
	if string(health.body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("healthz body %q", health.body)
	}
	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.request("GET", "/readyz", nil, public)
		if r.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %s 10s after the database came back", r.StatusCode, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReadinessNamesBackend: a backend that fails makes /readyz name
// storage.
func TestReadinessNamesBackend(t *testing.T) {
	h, backend, _ := startFaultyWith(t, nil)
	public := map[string]string{"Authorization": ""}
	expectStatus(t, h.request("GET", "/readyz", nil, public), http.StatusOK)
	backend.fail(storage.ErrUnavailable)
	r := h.request("GET", "/readyz", nil, public)
	expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	if !strings.Contains(string(r.body), "storage") || strings.Contains(string(r.body), "database") {
		t.Errorf("readyz with the backend down: %s", r.body)
	}
}

// Exists fails like the other operations while a failure is set.
func (f *faultyBackend) Exists(ctx context.Context, key string) (bool, error) {
	if err := f.failure(); err != nil {
		return false, err
	}
	return f.Store.Exists(ctx, key)
}

// panickyBackend panics on Get.
type panickyBackend struct{ *faultyBackend }

func (panickyBackend) Get(context.Context, string) (io.ReadCloser, error) { panic("driver bug") }

// startFaultyWith serves the API over a backend the test can break (or
// the given driver), with its readiness check, and returns the log.
func startFaultyWith(t *testing.T, drv storage.Driver) (*harness, *faultyBackend, *syncBuffer) {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	backend := &faultyBackend{Store: memory.New()}
	if drv == nil {
		drv = backend
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	bucket := storage.NewBucket("memory", drv)
	svc := blob.New(sqlmeta.New(d), bucket, blob.Options{Timeout: 10 * time.Second}, log)
	api := httpapi.New(svc, httpapi.Config{
		Token: token, MaxBlobBytes: 1 << 20, MaxUploadBytes: 1 << 20, RequestTimeout: 10 * time.Second, Ping: d.Ping, Logger: log,
		BackendCheck: func(ctx context.Context) error { _, err := bucket.Exists(ctx, "probe"); return err },
	})
	return serve(t, api), backend, logs
}

// TestPanicRecovered: a panic in a handler is answered 500 internal with
// the request id, logged with its stack, and the server goes on serving.
func TestPanicRecovered(t *testing.T) {
	faulty := &faultyBackend{Store: memory.New()}
	h, _, logs := startFaultyWith(t, panickyBackend{faulty})
	expectStatus(t, h.putRaw("boom", []byte("x"), nil), http.StatusCreated)
	r := h.request("GET", blobPath("boom"), nil, map[string]string{"X-Request-Id": "panic-req-1"})
	expectProblem(t, r, http.StatusInternalServerError, "internal")
	if !strings.Contains(string(r.body), `"request_id":"panic-req-1"`) || strings.Contains(string(r.body), "driver bug") {
		t.Errorf("500 body %s: want the request id, not the panic", r.body)
	}
	var found bool
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"msg":"panic serving a request"`) {
			found = strings.Contains(line, `"request_id":"panic-req-1"`) && strings.Contains(line, "driver bug") && strings.Contains(line, "goroutine")
		}
	}
	if !found {
		t.Errorf("no panic line with request id, value and stack in the log:\n%s", logs.String())
	}
	expectStatus(t, h.request("GET", blobPath("boom")+"?meta=1", nil, nil), http.StatusOK)
}

// TestRequestIDs: a valid X-Request-Id is kept, any other replaced; the id
// is echoed, on every log line of the request and in problem bodies.
func TestRequestIDs(t *testing.T) {
	h, _, logs := startFaultyWith(t, nil)
	valid := regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	for _, c := range []struct {
		sent string
		kept bool
	}{
		{"abc-123._XYZ", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"has space", false},
		{"semi;colon", false},
		{"ünï", false},
		{"", false},
	} {
		headers := map[string]string{}
		if c.sent != "" {
			headers["X-Request-Id"] = c.sent
		}
		r := h.request("GET", blobPath("absent"), nil, headers)
		expectProblem(t, r, http.StatusNotFound, "blob_not_found")
		got := r.Header.Get("X-Request-Id")
		if c.kept && got != c.sent || !c.kept && (got == c.sent || !valid.MatchString(got)) {
			t.Errorf("sent %q, got X-Request-Id %q (kept: %v)", c.sent, got, c.kept)
		}
		var p struct {
			RequestID string `json:"request_id"`
		}
		json.Unmarshal(r.body, &p)
		if p.RequestID != got {
			t.Errorf("problem request_id %q; want %q", p.RequestID, got)
		}
		if !strings.Contains(logs.String(), `"request_id":"`+got+`"`) {
			t.Errorf("no log line carries request id %q", got)
		}
	}
	a := h.request("GET", "/healthz", nil, nil).Header.Get("X-Request-Id")
	b := h.request("GET", "/healthz", nil, nil).Header.Get("X-Request-Id")
	if a == b || a == "" {
		t.Errorf("generated ids %q and %q; want two distinct ids", a, b)
	}
	// Every line logged while serving a request carries its id: a server
	// error logs its cause on a second line.
	h2, backend, logs2 := startFaultyWith(t, nil)
	backend.fail(storage.ErrInsufficientStorage)
	h2.request("PUT", blobPath("full"), strings.NewReader("x"), map[string]string{"X-Request-Id": "full-disk"})
	var lines int
	for _, line := range strings.Split(strings.TrimSpace(logs2.String()), "\n") {
		lines++
		if !strings.Contains(line, `"request_id":"full-disk"`) {
			t.Errorf("log line without the request id: %s", line)
		}
	}
	if lines < 2 {
		t.Errorf("%d log lines for a failed request; want the request line and its cause", lines)
	}
}

// TestRateLimits: a burst over the limit gets 429 with Retry-After; other
// keys are unaffected; requests without a valid key are limited by client
// address.
func TestRateLimits(t *testing.T) {
	h := startServer(t, stackConfig(t, keyStacks[0], func(c *config.Config) {
		c.Ops.RateLimitRPS, c.Ops.RateLimitBurst = 0.1, 3 // no token comes back during the test
	}))
	a := h.createKey(`{"name":"a","scopes":["read"]}`)
	b := h.createKey(`{"name":"b","scopes":["read"]}`)
	for range 3 {
		expectStatus(t, h.request("GET", "/v1/blobs", nil, bearer(a.Token)), http.StatusOK)
	}
	r := h.request("GET", "/v1/blobs", nil, bearer(a.Token))
	expectProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 10 {
		t.Errorf("Retry-After = %q; want the seconds until a token (1 to 10)", r.Header.Get("Retry-After"))
	}
	for range 3 {
		expectStatus(t, h.request("GET", "/v1/blobs", nil, bearer(b.Token)), http.StatusOK)
	}
	// Unauthenticated requests share their address's bucket: 401s, then 429.
	noToken := map[string]string{"Authorization": ""}
	for range 3 {
		expectProblem(t, h.request("GET", "/v1/blobs", nil, noToken), http.StatusUnauthorized, "unauthorized")
	}
	expectProblem(t, h.request("GET", "/v1/blobs", nil, bearer("sd_00000000000000000000_guess")), http.StatusTooManyRequests, "rate_limited")
	// Probes are never limited.
	for range 5 {
		expectStatus(t, h.request("GET", "/healthz", nil, noToken), http.StatusOK)
	}
	samples, _ := scrape(t, h.harness)
	if samples["simpledrive_http_rate_limited_total"] != 2 {
		t.Errorf("rate_limited_total = %v; want 2", samples["simpledrive_http_rate_limited_total"])
	}
}

// TestMetricsOnOwnAddress: with METRICS_ADDR set, the API's listener does
// not serve /metrics.
func TestMetricsOnOwnAddress(t *testing.T) {
	h := startServer(t, stackConfig(t, keyStacks[0], func(c *config.Config) { c.Ops.MetricsAddr = "127.0.0.1:0" }))
	expectProblem(t, h.request("GET", "/metrics", nil, nil), http.StatusNotFound, "not_found")
	expectProblem(t, h.request("GET", "/debug/pprof/", nil, nil), http.StatusNotFound, "not_found")
}
