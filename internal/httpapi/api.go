// Package httpapi serves the Simple Drive HTTP API: JSON over HTTP, every
// /v1/ route behind a bearer token.
//
// # Routes
//
//	POST /v1/blobs            {"id": "...", "data": "<base64>"} -> 201 {"id","size","created_at"}
//	GET  /v1/blobs/{id}       -> 200 {"id","data","size","created_at"}
//	HEAD /v1/blobs/{id}       -> the headers of GET, without the body
//	GET  /healthz             -> 200 when the metadata database answers (no token)
//	/v1/uploads/...           tus 1.0.0 resumable uploads (uploads.go)
//	POST /v1/links            signed links to one blob (links.go); a GET or
//	                          HEAD of alt=media with a valid signature needs no token
//
// CORS preflights of the blob, upload and link routes are answered before
// authentication (cors.go).
//
// The id in a blob path is the rest of the escaped path, percent-decoded, so
// "a/b" and "a%2Fb" name one blob. Paths are deliberately not cleaned:
// net/http.ServeMux would redirect ids containing "..", "." or "//", which
// are valid ids here, so routing is done by this package.
//
// # Errors
//
// Every error, including unknown routes and wrong methods, is an RFC 9457
// application/problem+json document with a stable "code" member; [classify]
// is the one table from errors to statuses. Details of server-side failures
// go to the log only.
package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/links"
	"github.com/simpledrive/simpledrive/internal/upload"
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
	// RequestTimeout bounds the work done for one request.
	RequestTimeout time.Duration
	// Ping checks the metadata database for /healthz.
	Ping func(context.Context) error
	// Logger receives one line per request and the causes of server errors.
	Logger *slog.Logger
	// Uploads serves the tus routes under /v1/uploads/ (uploads.go); nil
	// leaves them unrouted.
	Uploads *upload.Service
	// Links signs and verifies signed links (links.go); nil turns them off.
	Links *links.Signer
	// CORSOrigins are the origins browsers may call the API from
	// (cors.go); "*" allows any.
	CORSOrigins []string
}

// API is the HTTP handler of Simple Drive.
type API struct {
	svc     *blob.Service
	cfg     Config
	auth    authenticator
	maxBody int64
}

const (
	blobsPath  = "/v1/blobs"
	blobPrefix = "/v1/blobs/"
)

// New returns the API serving svc.
func New(svc *blob.Service, cfg Config) *API {
	return &API{svc: svc, cfg: cfg, auth: newAuthenticator(cfg.Token), maxBody: maxBodyBytes(cfg.MaxBlobBytes)}
}

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
// body is refused with 413 while being read. The cap bounds one request;
// the memory of all of them together is bounded by the in-flight budget
// (see [API.readBody]).
func maxBodyBytes(maxBlob int64) int64 {
	encoded := (maxBlob + 2) / 3 * 4
	return 2*encoded + (encoded/64+1)*4 + 64<<10
}

// ServeHTTP routes r and logs it, in one line per request. A response cut
// short mid-stream (the handler panicked with http.ErrAbortHandler) is
// logged on that line with aborted=true and the status already sent; the
// panic then goes on to net/http, which closes the connection.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestTimeout)
	defer cancel()
	// A copy of r carries the wrapped body: net/http looks at the original
	// request's Body after the handler to decide whether an unread body is
	// too big to discard, and must find its own there.
	r = r.WithContext(ctx)
	body := &countingReader{ReadCloser: r.Body}
	r.Body = body
	defer func() {
		p := recover()
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", rec.route),
			slog.Int("status", rec.status),
			slog.Int64("bytes_in", body.n),
			slog.Int64("bytes_out", rec.written),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		}
		if p != nil {
			attrs = append(attrs, slog.Bool("aborted", true))
			if rec.abortCause != "" {
				attrs = append(attrs, slog.String("error", rec.abortCause))
			}
		}
		level := rec.abortLevel
		if p != nil && p != http.ErrAbortHandler {
			level = slog.LevelError
		}
		a.cfg.Logger.LogAttrs(ctx, level, "request", attrs...)
		if p != nil {
			panic(p)
		}
	}()
	a.route(rec, r)
}

// route dispatches r, naming the route in w for the log: never the raw
// path, which holds client ids.
func (a *API) route(w *recorder, r *http.Request) {
	path := r.URL.EscapedPath()
	if corsRoute(path) && a.cors(w, r) { // a preflight (cors.go)
		w.route = "preflight"
		return
	}
	switch {
	case path == "/healthz":
		w.route = "/healthz"
		if a.allow(w, r, http.MethodGet, http.MethodHead) {
			a.health(w, r)
		}
	case path == openapiPath:
		a.openapi(w, r) // openapi.go
	case path == blobsPath:
		w.route = blobsPath
		if !a.auth.check(w, r) || !a.allow(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
			return
		}
		if r.Method == http.MethodPost {
			a.create(w, r)
		} else {
			a.list(w, r)
		}
	case path == linksPath && a.cfg.Links != nil:
		w.route = linksPath
		if a.auth.check(w, r) && a.allow(w, r, http.MethodPost) {
			a.createLink(w, r)
		}
	case (path == uploadsPath || strings.HasPrefix(path, uploadsPrefix)) && a.cfg.Uploads != nil:
		a.uploads(w, r, path[len(uploadsPath):]) // tus (uploads.go)
	case strings.HasPrefix(path, blobPrefix):
		w.route = blobPrefix + "{id}"
		// Signed links (links.go): the one request served without a
		// bearer token, when its signature verifies.
		if a.cfg.Links != nil && links.Present(r.URL.Query()) {
			a.signedRequest(w, r, path[len(blobPrefix):])
			return
		}
		if !a.auth.check(w, r) || !a.allow(w, r, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete) {
			return
		}
		id, err := url.PathUnescape(path[len(blobPrefix):])
		if err != nil {
			writeProblem(w, http.StatusBadRequest, codeInvalidID, "the id in the path is not validly percent-encoded")
			return
		}
		a.blob(w, r, id)
	case strings.HasPrefix(path, "/v1/"):
		w.route = "unknown"
		if a.auth.check(w, r) {
			writeProblem(w, http.StatusNotFound, codeNotFound, "no such route")
		}
	default:
		w.route = "unknown"
		writeProblem(w, http.StatusNotFound, codeNotFound, "no such route")
	}
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
	}
	form, err := blobQuery(r)
	switch {
	case err != nil:
		a.fail(w, r, err)
	case form == "media":
		a.media(w, r, id)
	case form == "meta":
		a.meta(w, r, id)
	default:
		a.get(w, r, id)
	}
}

// allow reports whether r's method is one of methods, answering 405 with an
// Allow header when it is not.
func (a *API) allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeProblem(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, r.Method+" is not allowed here")
	return false
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	if err := a.cfg.Ping(r.Context()); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("{\"status\":\"ok\"}\n"))
}

// fail writes the problem response for err, logging server-side failures
// with their cause.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code, detail := classify(err)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client left; nobody reads this answer and nothing failed.
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "client went away", slog.String("method", r.Method))
		writeProblem(w, http.StatusServiceUnavailable, codeUnavailable, "request cancelled")
		return
	}
	if status >= 500 {
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("code", code), slog.String("error", err.Error()))
	}
	writeProblem(w, status, code, detail)
}

// recorder remembers the route, status and size of a response for the log.
type recorder struct {
	http.ResponseWriter
	route string
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
