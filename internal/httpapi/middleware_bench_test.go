package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/app"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/db"
	"github.com/simpledrive/simpledrive/internal/httpapi"
	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/meta/sqlmeta"
	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/local"
)

// BenchmarkGet1KiBMiddleware measures what the operational middleware adds
// to a GET of a 1 KiB blob (JSON form) on local+SQLite, the handler called
// directly (no network), with one log line per request to a discarding
// JSON handler in both:
//
//   - bare: httpapi.New with API_TOKEN alone: no keys, no metrics, no rate
//     limiter (request ids are part of ServeHTTP and so in both);
//   - full: the real app from app.New, authenticating an API key (its
//     cached lookup, SHA-256 and constant-time compare), recording
//     Prometheus metrics (request and backend), and rate limiting (a limit
//     never reached).
//
// The ratio full/bare of ns/op is the added cost:
//
//	go test -run '^$' -bench Get1KiBMiddleware -count 5 ./internal/httpapi
func BenchmarkGet1KiBMiddleware(b *testing.B) {
	run := func(b *testing.B, g benchGet) {
		b.ReportAllocs()
		for b.Loop() {
			g.do(b)
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, bareGet(b)) })
	b.Run("full", func(b *testing.B) { run(b, fullGet(b)) })
	// As compare.sh runs the server: LOG_LEVEL=warn, no request lines.
	b.Run("full-warn", func(b *testing.B) {
		run(b, fullGetLogging(b, slog.New(slog.NewJSONHandler(discardWriter{}, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	})
}

// BenchmarkGet1KiBMiddlewareRatio runs the two handlers of
// BenchmarkGet1KiBMiddleware in alternation, timing each, and reports
// full/bare: on a loaded machine, alternating exposes both to the same
// load, where separate benchmarks drift apart.
func BenchmarkGet1KiBMiddlewareRatio(b *testing.B) {
	bare, full := bareGet(b), fullGet(b)
	var tb, tf time.Duration
	for b.Loop() {
		start := time.Now()
		bare.do(b)
		mid := time.Now()
		full.do(b)
		tb, tf = tb+mid.Sub(start), tf+time.Since(mid)
	}
	b.ReportMetric(float64(tf)/float64(tb), "full/bare")
	b.ReportMetric(float64(tf-tb)/float64(b.N), "added-ns/op")
}

// benchGet is a GET of a stored 1 KiB blob against one handler.
type benchGet struct {
	h   http.Handler
	req *http.Request
	w   *discardResponse
}

func (g benchGet) do(b *testing.B) {
	g.w.reset()
	g.h.ServeHTTP(g.w, g.req)
	if g.w.status != http.StatusOK {
		b.Fatalf("GET = %d", g.w.status)
	}
}

// newBenchGet stores a 1 KiB blob through h with auth and returns its GET.
func newBenchGet(b *testing.B, h http.Handler, auth string) benchGet {
	put := httptest.NewRequest(http.MethodPut, "/v1/blobs/bench", strings.NewReader(string(benchData(1<<10))))
	put.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, put)
	if rec.Code != http.StatusCreated {
		b.Fatalf("PUT = %d %s", rec.Code, rec.Body.String())
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/blobs/bench", nil)
	req.Header.Set("Authorization", auth)
	return benchGet{h: h, req: req, w: &discardResponse{}}
}

// benchLog is the logger of both handlers: JSON lines, discarded.
var benchLog = slog.New(slog.NewJSONHandler(discardWriter{}, nil))

// bareGet is the GET of the API without keys, metrics or rate limits.
func bareGet(b *testing.B) benchGet {
	log := benchLog
	{
		dir := b.TempDir()
		d, err := db.Open(context.Background(), filepath.Join(dir, "meta.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		st, err := local.New(local.Config{Root: filepath.Join(dir, "blobs")})
		if err != nil {
			b.Fatal(err)
		}
		svc := blob.New(sqlmeta.New(d), storage.NewBucket("local", st), blob.Options{Timeout: time.Minute}, log)
		h := httpapi.New(svc, httpapi.Config{
			Token: token, MaxBlobBytes: 1 << 20, MaxUploadBytes: 1 << 20, RequestTimeout: time.Minute, Ping: d.Ping, Logger: log,
		})
		return newBenchGet(b, h, "Bearer "+token)
	}
}

// fullGet is the GET of the real app with an API key, metrics and a rate
// limit.
func fullGet(b *testing.B) benchGet { return fullGetLogging(b, benchLog) }

// fullGetLogging is fullGet with the logger log.
func fullGetLogging(b *testing.B, log *slog.Logger) benchGet {
	{
		c := testConfig(b)
		sqliteDB(b, &c)
		c.Ops.RateLimitRPS, c.Ops.RateLimitBurst = 1e9, 1e9
		a, err := newBenchApp(b, c, log)
		if err != nil {
			b.Fatal(err)
		}
		_, tok, err := a.Keys().Create(context.Background(), keys.Spec{Name: "bench", Scopes: keys.Read | keys.Write})
		if err != nil {
			b.Fatal(err)
		}
		return newBenchGet(b, a.Handler(), "Bearer "+tok)
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// newBenchApp builds the real app with log, closed by tb.Cleanup.
func newBenchApp(tb testing.TB, c config.Config, log *slog.Logger) (*app.App, error) {
	a, err := app.New(context.Background(), c, log)
	if err == nil {
		tb.Cleanup(func() { a.Close() })
	}
	return a, err
}
