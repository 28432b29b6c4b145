// Package s3api serves the S3 REST protocol (DESIGN section 9) over Simple
// Drive's blobs: one bucket, whose object keys are the blob ids exactly,
// beside the native API and tus, on every backend.
//
// # Requests
//
// Path-style URLs (http://host/bucket/key) are always understood; with
// [Config.Domain] set, so are virtual-host ones (http://bucket.domain/key).
// The key is the rest of the path after the bucket and its slash,
// percent-decoded, never cleaned: "a//b/../c" is a key of its own.
//
// # Operations and access
//
// The operation table (operations.go) names, for each S3 operation, the
// access action it performs and where the blob id or listing prefix it
// touches comes from, as the native route table does. Every request is
// authenticated by AWS Signature V4 (package sigv4), then decided once by
// package access from those facts, before a body byte is read; handlers
// never test scopes or prefixes. Operations this server does not
// implement answer S3's NotImplemented error.
//
// # Errors
//
// Every error is S3's XML error document with S3's code and status, and
// every response carries x-amz-request-id and x-amz-id-2.
package s3api

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/sigv4"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// Defaults of [Config].
const (
	DefaultBucket = "simpledrive"
	DefaultRegion = "us-east-1"
)

// Config configures a [Server].
type Config struct {
	// Bucket is the one bucket served (S3_API_BUCKET).
	Bucket string
	// Domain, when set, is the domain of virtual-host style requests
	// (S3_API_DOMAIN): the bucket is then also read from Host
	// "<bucket>.<domain>".
	Domain string
	// Region is the region requests are signed for (S3_API_REGION).
	Region string
	// Blobs is the blob service.
	Blobs *blob.Service
	// Multipart keeps multipart uploads.
	Multipart *upload.Multipart
	// Access decides every request, and looks API keys' S3 credentials up.
	Access *access.Controller
	// Operator, when its AccessKeyID is set, is the operator's pair
	// (S3_API_ACCESS_KEY_ID, S3_API_SECRET_ACCESS_KEY): every scope.
	Operator sigv4.Credentials
	// MaxObjectBytes is the largest object a PutObject stores
	// (MAX_UPLOAD_BYTES).
	MaxObjectBytes int64
	// Metrics, when not nil, is told of every request by operation name.
	Metrics Observer
	// Logger receives one line per request and the causes of server
	// errors.
	Logger *slog.Logger
}

// Observer is told of every S3 request answered: its operation name (never
// the key), status, body bytes read and written, and duration.
// Implementations must be safe for concurrent use and quick.
type Observer interface {
	ObserveS3(operation string, status int, in, out int64, d time.Duration)
}

// Server is the S3 front door, an http.Handler. It is safe for concurrent
// use.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New returns the Server c describes.
func New(c Config) *Server {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: c, log: log}
}

// hostID is the x-amz-id-2 of this process's responses.
var hostID = func() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

// requestBase and requestCount make request ids: a random start and a
// counter, so ids are unique to this process and unlike other processes'.
var (
	requestBase = func() uint64 {
		var b [8]byte
		rand.Read(b[:])
		return binary.BigEndian.Uint64(b[:])
	}()
	requestCount atomic.Uint64
)

// newRequestID returns a fresh request id, in S3's form: 16 uppercase hex
// digits.
func newRequestID() string { return fmt.Sprintf("%016X", requestBase+requestCount.Add(1)) }

// request is one S3 request as parsed and, once authorized, decided.
type request struct {
	*http.Request
	method string
	id     string // x-amz-request-id
	// bucket and key are what the request names; path is the resource
	// for error documents.
	bucket, key, path string
	query             url.Values
	op                *operation
	principal         access.Principal
	decision          access.Decision
	// also are the further actions rq was decided with.
	also []access.Check
	// body yields the request's payload, decoded and verified as it
	// streams; length is its decoded length, or -1 when unknown.
	body   io.ReadCloser
	length int64
	// trailer returns the trailing headers of a streaming payload once
	// body has been read to its end; nil when there are none.
	trailer func() http.Header
	// status and bytes written, for the log line and metrics.
	status int
	out    int64
}

func (rq *request) ctx() context.Context { return rq.Context() }

// ServeHTTP serves one S3 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rq := &request{Request: r, method: r.Method, id: newRequestID(), length: -1}
	h := w.Header()
	h.Set("x-amz-request-id", rq.id)
	h.Set("x-amz-id-2", hostID)
	h.Set("Server", "SimpleDrive")
	rw := &recorder{ResponseWriter: w, rq: rq}
	s.serve(rw, rq)
	if rq.status == 0 {
		rq.status = http.StatusOK
	}
	name := "unknown"
	if rq.op != nil {
		name = rq.op.name
	}
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.ObserveS3(name, rq.status, counted(rq.body), rq.out, time.Since(start))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "s3 request", slog.String("request_id", rq.id), slog.String("operation", name),
		slog.Int("status", rq.status), slog.String("key_id", rq.principal.KeyID), slog.Duration("duration", time.Since(start)))
}

// serve parses rq, picks its operation, authorizes it and runs it.
func (s *Server) serve(w http.ResponseWriter, rq *request) {
	if err := s.parse(rq); err != nil {
		writeError(w, rq, err)
		return
	}
	rq.op = pick(rq)
	if !s.authorize(w, rq) {
		return
	}
	if rq.body != nil {
		defer rq.body.Close()
	}
	rq.op.serve(s, w, rq)
}

// parse reads the bucket, key and query of rq: from the Host header when it
// names a bucket under the configured domain, else from the path.
func (s *Server) parse(rq *request) *Error {
	rq.query = rq.URL.Query()
	escaped := rq.URL.EscapedPath()
	rest := strings.TrimPrefix(escaped, "/")
	host := rq.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if d := s.cfg.Domain; d != "" {
		if b, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(d)); ok && b != "" {
			key, err := url.PathUnescape(rest)
			if err != nil {
				return errInvalidArgument.with("The key is not validly percent-encoded.")
			}
			rq.bucket, rq.key, rq.path = b, key, "/"+b+escaped
			return nil
		}
	}
	bucket, key, _ := strings.Cut(rest, "/")
	var err error
	if rq.bucket, err = url.PathUnescape(bucket); err != nil {
		return errInvalidBucketName
	}
	if rq.key, err = url.PathUnescape(key); err != nil {
		return errInvalidArgument.with("The key is not validly percent-encoded.")
	}
	rq.path = escaped
	return nil
}

// recorder records the status and bytes of a response.
type recorder struct {
	http.ResponseWriter
	rq *request
}

func (w *recorder) WriteHeader(code int) {
	if w.rq.status == 0 {
		w.rq.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.rq.status == 0 {
		w.rq.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.rq.out += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// counted returns the bytes read from body, when it counts them.
func counted(body io.ReadCloser) int64 {
	if c, ok := body.(*countingBody); ok {
		return c.n
	}
	return 0
}
