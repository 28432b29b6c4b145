// Package httpapi serves the Simple Drive HTTP API: JSON over HTTP, every
// /v1/ route behind a bearer token.
//
// # Routes
//
//	POST /v1/blobs            {"id": "...", "data": "<base64>"} -> 201 {"id","size","created_at"}
//	GET  /v1/blobs/{id}       -> 200 {"id","data","size","created_at"}
//	HEAD /v1/blobs/{id}       -> the headers of GET, without the body
//	PUT, DELETE, GET ?alt=media, GET ?meta=1 /v1/blobs/{id}, GET /v1/blobs (object.go, media.go)
//	POST /v1/blobs/{id}?move_to= or ?copy_to=, GET /v1/usage (everyday.go)
//	/v1/uploads/...           tus 1.0.0 resumable uploads (package tusapi, mounted here)
//	POST /v1/links            signed links to one blob (links.go); a GET or
//	                          HEAD of alt=media with a valid signature needs no token
//	POST/GET /v1/keys, GET/DELETE /v1/keys/{key_id}   API keys (admin scope)
//	GET  /healthz             -> 200 while the process runs (no token)
//	GET  /readyz              -> 200 when the database and the backend answer, else 503 (no token)
//	GET  /metrics             -> Prometheus metrics, when served here (no token)
//
// CORS preflights of the blob, upload and link routes are answered before
// authentication (cors.go).
//
// # Access
//
// The route table (auth.go) names, for each route and method, the action
// it performs and where the id it touches comes from (the path, the
// query, the body, a tus upload's metadata or record, or none); a route
// without them cannot be registered. [API.authorize] extracts these facts
// and the principal, on the headers alone, and package access decides:
// scope, expiry, prefix confinement (ids outside a key's prefix answer
// 404 as if absent) and the rate limit, per key or per client address.
// Handlers never test scopes or prefixes.
//
// # Request ids
//
// Every response carries X-Request-Id: the request's own when it is 1 to
// 128 characters of [A-Za-z0-9._-], otherwise a new one. It is on every
// log line written with the request's context (see [LogHandler]) and in
// every problem document, as request_id.
//
// The id in a blob path is the rest of the escaped path, percent-decoded, so
// "a/b" and "a%2Fb" name one blob. Paths are deliberately not cleaned:
// net/http.ServeMux would redirect ids containing "..", "." or "//", which
// are valid ids here, so routing is done by this package.
//
// # Errors
//
// Every error, including unknown routes and wrong methods, is an RFC 9457
// application/problem+json document with a stable "code" member; [httpx.Classify]
// is the one table from errors to statuses. Details of server-side failures
// go to the log only.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
	"github.com/simpledrive/simpledrive/internal/keys"
	"github.com/simpledrive/simpledrive/internal/links"
)

// Config configures the API handler.
type Config struct {
	// Token is the bearer token every /v1/ request must carry.
	Token string
	// MaxBlobBytes is the largest blob the JSON POST accepts, in decoded
	// bytes.
	MaxBlobBytes int64
	// MaxUploadBytes is the largest blob a raw PUT accepts.
	MaxUploadBytes int64
	// RequestTimeout bounds the server's own work for a request that moves
	// no blob bytes (the keys API); the services bound their own metadata
	// work likewise. It never bounds a body or a response, which only
	// [Guard]'s progress deadline cuts.
	RequestTimeout time.Duration
	// Ping checks the metadata database for /readyz.
	Ping func(context.Context) error
	// BackendCheck, when not nil, is /readyz's cheap check of the storage
	// backend.
	BackendCheck func(context.Context) error
	// ReadyTimeout bounds each check of /readyz; zero means 2 seconds.
	ReadyTimeout time.Duration
	// Logger receives one line per request and the causes of server errors.
	Logger *slog.Logger
	// Keys, when not nil, authenticates API keys and serves /v1/keys;
	// without it only Token is accepted.
	Keys *keys.Keyring
	// Tus serves the tus routes under /v1/uploads/ (package tusapi); nil
	// leaves them unrouted.
	Tus Tus
	// Links signs links (POST /v1/links) and verifies them, letting a
	// signed GET or HEAD of a blob's bytes through without a token
	// (links.go); nil turns links off.
	Links *links.Signer
	// CORSOrigins are the origins browsers may call the API from
	// (cors.go); "*" allows any.
	CORSOrigins []string
	// Metrics, when not nil, is told of every request.
	Metrics Observer
	// MetricsHandler, when not nil, is served at /metrics without a token.
	MetricsHandler http.Handler
	// RateLimit limits requests per key and per client address; its zero
	// value limits nothing.
	RateLimit access.RateLimit
	// PublicURL, when set, is the server's URL as clients reach it (behind
	// a proxy): signed links are built under it. Unset, they are built
	// from the request's scheme and Host.
	PublicURL string
}

// Tus is the tus protocol (package tusapi), mounted under /v1/uploads/
// on the route table, which decides each of its requests before Serve
// runs, by the targets it names.
type Tus interface {
	// CreationTarget is what a creation touches: its metadata's blob id.
	CreationTarget(r *http.Request) access.Target
	// UploadTarget is what a request on the upload rest touches: the blob
	// id recorded at the upload's creation.
	UploadTarget(ctx context.Context, rest string) (access.Target, error)
	// Serve serves an authorized request; rest is the path after
	// /v1/uploads/.
	Serve(w http.ResponseWriter, r *http.Request, rest string)
	// Fail answers an error of UploadTarget as the protocol does.
	Fail(w http.ResponseWriter, r *http.Request, err error)
	// Header is on every response of the tus routes, refusals included.
	Header() http.Header
}

// Observer is told of every request the API answers: its route pattern
// (never the path, which holds ids), method, status, body bytes read and
// written, and duration; and of every request refused by the rate limiter.
// Implementations must be safe for concurrent use and quick.
type Observer interface {
	ObserveRequest(route, method string, status int, in, out int64, d time.Duration)
	RateLimited()
}

// API is the HTTP handler of Simple Drive.
type API struct {
	svc     *blob.Service
	cfg     Config
	access  *access.Controller
	maxBody int64
}

const (
	blobsPath  = "/v1/blobs"
	blobPrefix = "/v1/blobs/"
	// The tus routes, served by [Config.Tus].
	uploadsPath   = "/v1/uploads"
	uploadsPrefix = "/v1/uploads/"
)

// New returns the API serving svc.
func New(svc *blob.Service, cfg Config) *API {
	cfg.Logger = slog.New(LogHandler(cfg.Logger.Handler()))
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 2 * time.Minute
	}
	ac := access.Config{Token: cfg.Token, Keys: cfg.Keys, Links: cfg.Links}
	if l := access.NewLimiter(cfg.RateLimit); l != nil {
		ac.Allow = l.Allow
	}
	return &API{svc: svc, cfg: cfg, access: access.New(ac), maxBody: maxBodyBytes(cfg.MaxBlobBytes)}
}

// Access returns the controller that decides the API's requests, for the
// other protocols served beside it (the S3 front door), so that one rate
// limit and one keyring count every protocol's requests.
func (a *API) Access() *access.Controller { return a.access }

// maxBodyBytes is the largest request body accepted for a blob of maxBlob
// bytes; the exact limit is decided on the decoded bytes (413 for one byte
// more), so this cap only has to admit every reasonable encoding of a blob
// at the limit, with E its base64 length:
//
//   - 2E: every base64 character written as `\/`, the longest escape a
//     base64 character has short of \uXXXX (PHP's json_encode escapes
//     each '/');
//   - 4 bytes per 64 characters: a line break escaped as `\r\n` as often as
//     PEM wraps (MIME's 76 columns is less);
//   - 64 KiB for the id (at most 1024 bytes, each possibly a 6-byte \u
//     escape) and the JSON around it.
//
// A body spelling its base64 letters as \u escapes can exceed it; such a
// body is refused with 413 while being read. The cap bounds the bytes one
// request may send, not memory: the body streams through fixed buffers.
func maxBodyBytes(maxBlob int64) int64 {
	encoded := (maxBlob + 2) / 3 * 4
	return 2*encoded + (encoded/64+1)*4 + 64<<10
}

// ServeHTTP routes r and logs it, in one line per request, with its
// request id and the key it used. A response cut short mid-stream (the
// handler panicked with http.ErrAbortHandler) is logged on that line with
// aborted=true and the status already sent; the panic then goes on to
// net/http, which closes the connection. Any other panic is a bug: it is
// logged with its stack and answered 500 internal, or, when the response
// has begun, the response is cut short the same way.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r.Header.Get("X-Request-Id"))
	w.Header().Set("X-Request-Id", id)
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	// No deadline: a transfer that keeps moving runs as long as it takes;
	// the server's own work is bounded where it is done.
	ctx := withRequestID(r.Context(), id)
	// A copy of r carries the wrapped body: net/http looks at the original
	// request's Body after the handler to decide whether an unread body is
	// too big to discard, and must find its own there.
	r = r.WithContext(ctx)
	rec.body.ReadCloser = r.Body
	r.Body = &rec.body
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			a.cfg.Logger.LogAttrs(ctx, slog.LevelError, "panic serving a request",
				slog.String("route", rec.route), slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			if rec.wroteHeader {
				rec.abortCause, p = "panic", http.ErrAbortHandler
			} else {
				httpx.WriteProblem(rec, http.StatusInternalServerError, httpx.CodeInternal, "internal error")
				p = nil
			}
		}
		elapsed := time.Since(start)
		if a.cfg.Logger.Enabled(ctx, rec.abortLevel) {
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("route", rec.route),
				slog.Int("status", rec.status),
				slog.Int64("bytes_in", rec.body.n),
				slog.Int64("bytes_out", rec.written),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			}
			if rec.keyID != "" {
				attrs = append(attrs, slog.String("key_id", rec.keyID))
			}
			if p != nil {
				attrs = append(attrs, slog.Bool("aborted", true))
				if rec.abortCause != "" {
					attrs = append(attrs, slog.String("error", rec.abortCause))
				}
			}
			a.cfg.Logger.LogAttrs(ctx, rec.abortLevel, "request", attrs...)
		}
		if a.cfg.Metrics != nil {
			a.cfg.Metrics.ObserveRequest(rec.route, metricMethod(r.Method), rec.status, rec.body.n, rec.written, elapsed)
		}
		if p != nil {
			panic(p)
		}
	}()
	a.route(rec, r)
}

// serverWork returns r bounded by RequestTimeout, for a handler that
// moves no blob bytes and whose work is all the server's own, and the
// function releasing the bound.
func (a *API) serverWork(r *http.Request) (*http.Request, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestTimeout)
	return r.WithContext(ctx), cancel
}

// metricMethod returns the method as a metric label: a standard method, or
// "other", so clients cannot mint label values.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// route dispatches r through the route table, naming the route in w for
// the log: never the raw path, which holds client ids.
func (a *API) route(w *recorder, r *http.Request) {
	path := r.URL.EscapedPath()
	if corsRoute(path) && a.cors(w, r) { // a preflight (cors.go)
		w.route = "preflight"
		return
	}
	rt, rest := match(path)
	switch {
	case rt == nil && strings.HasPrefix(path, "/v1/"):
		rt = unknownRoute
	case rt == nil:
		w.route = "unknown"
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeNotFound, "no such route")
		return
	}
	w.route = rt.pattern
	if rt.header != nil {
		for k, v := range rt.header(a) {
			w.Header()[k] = v
		}
	}
	if rt.public() {
		if _, ok := rt.method(r.Method); !ok {
			w.Header().Set("Allow", rt.allowHeader())
			httpx.WriteProblem(w, http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, r.Method+" is not allowed here")
			return
		}
		rt.serve(a, w, r, rest)
		return
	}
	if m := r.Header.Get("X-HTTP-Method-Override"); rt.overridable && r.Method == http.MethodPost && m != "" {
		r.Method = strings.ToUpper(m)
	}
	r, ok := a.authorize(w, r, rt, rest)
	if !ok {
		return
	}
	rt.serve(a, w, r, rest)
}

// blobs serves /v1/blobs: a create by POST, or a listing.
func (a *API) blobs(w http.ResponseWriter, r *http.Request, _ string) {
	if r.Method == http.MethodPost {
		a.create(w, r)
	} else {
		a.list(w, r)
	}
}

// blobItem serves /v1/blobs/{id}: the id is the target the route
// table's fromPath extracted and the access decision admitted.
func (a *API) blobItem(w http.ResponseWriter, r *http.Request, _ string) {
	a.blob(w, r, grantFrom(r).target.ID)
}

// blob dispatches a request for the blob id by method and query.
func (a *API) blob(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodPut:
		a.put(w, r, id)
		return
	case http.MethodDelete:
		a.remove(w, r, id)
		return
	case http.MethodPost:
		a.transfer(w, r, id)
		return
	}
	q := query(r)
	form, err := blobQuery(q)
	switch {
	case err != nil:
		a.fail(w, r, err)
	case form == "media":
		a.media(w, r, id, q)
	case form == "meta":
		a.meta(w, r, id)
	default:
		a.get(w, r, id)
	}
}

// query returns the parameters of r's query: nil, without parsing, when
// it has none (a nil url.Values reads as empty), as most requests do.
func query(r *http.Request) url.Values {
	if r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

// health serves /healthz: the process is alive. It asks no dependency,
// so a load balancer never restarts a server for a database outage.
func (a *API) health(w http.ResponseWriter, r *http.Request, _ string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("{\"status\":\"ok\"}\n"))
}

// ready serves /readyz: the metadata database answers a ping and the
// backend a cheap existence check, each within ReadyTimeout, checked at
// once. Otherwise 503 names what failed; the causes go to the log.
func (a *API) ready(w http.ResponseWriter, r *http.Request, _ string) {
	checks := []struct {
		name string
		fn   func(context.Context) error
	}{{"database", a.cfg.Ping}, {"storage", a.cfg.BackendCheck}}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		if c.fn == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ReadyTimeout)
			defer cancel()
			errs[i] = c.fn(ctx)
		}()
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, checks[i].name)
			a.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "not ready",
				slog.String("check", checks[i].name), slog.String("error", err.Error()))
		}
	}
	if len(failed) > 0 {
		httpx.WriteProblem(w, http.StatusServiceUnavailable, httpx.CodeUnavailable, "not ready: "+strings.Join(failed, " and ")+" unreachable")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte("{\"status\":\"ok\"}\n"))
}

// metrics serves /metrics when the metrics are served on this listener.
func (a *API) metrics(w http.ResponseWriter, r *http.Request, _ string) {
	if a.cfg.MetricsHandler == nil {
		httpx.WriteProblem(w, http.StatusNotFound, httpx.CodeNotFound, "metrics are served on METRICS_ADDR")
		return
	}
	a.cfg.MetricsHandler.ServeHTTP(w, r)
}

// fail writes the problem response for err, logging server-side failures
// with their cause.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, detail := httpx.Classify(err)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client left; nobody reads this answer and nothing failed.
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "client went away", slog.String("method", r.Method))
		httpx.WriteProblem(w, http.StatusServiceUnavailable, httpx.CodeUnavailable, "request cancelled")
		return
	}
	if status >= 500 {
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("code", code), slog.String("error", err.Error()))
	}
	httpx.WriteProblem(w, status, code, detail)
}

// recorder remembers the route, key, status and size of a response, and
// counts the bytes of the request's body, for the log.
type recorder struct {
	http.ResponseWriter
	body  countingReader // the request's body
	route string
	keyID string
	// abortCause is why the response was cut short, for the log line.
	abortCause  string
	abortLevel  slog.Level
	status      int
	written     int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(p)
	r.written += int64(n)
	return n, err
}

// ReadFrom passes src to the next writer's ReadFrom (sendfile, for a
// file range; see [progressWriter.ReadFrom]), counting what it sends.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{r.ResponseWriter}, src)
	}
	r.written += n
	return n, err
}

// countingReader counts the bytes read from a request body.
type countingReader struct {
	io.ReadCloser
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
