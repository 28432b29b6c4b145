// Package s3 is the storage backend that keeps blob bytes in a bucket of an
// S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph RGW,
// versitygw, ...).
//
// It speaks the S3 REST API over net/http and signs every request with
// [sigv4]; it uses no S3 SDK.
//
// # Guarantees
//
//   - Put is atomic: S3 makes an object visible only once it is complete.
//     A blob of at most [Config.PartSize] bytes is read into memory, checked
//     against its declared size, hashed and sent as one PUT, so a failing or
//     lying reader sends nothing. A larger blob goes up as a multipart
//     upload, one part at a time from one buffer, so memory stays near one
//     part whatever the blob size; a multipart upload that fails for any
//     reason (reader, size, context, network) is aborted. When the abort
//     itself cannot reach the server, the parts stay invisible until the
//     bucket's AbortIncompleteMultipartUpload lifecycle rule removes them.
//   - Every payload is signed with its SHA-256, so the server rejects bytes
//     damaged on the way.
//   - Every request has a timeout ([Config.Timeout] without progress) and
//     follows its context: cancelling it stops in-flight transfers. A
//     write (a PUT, a part, the completion of a multipart upload) follows
//     its context until its body has been handed over whole; from then on
//     the server may be storing the object, so the request waits for the
//     answer (within the timeout) instead of being cut off. A Put
//     cancelled at any moment therefore either fails with nothing stored
//     or succeeds; it reports failure for a stored object only when the
//     connection fails, or the timeout expires, while the server holds
//     the whole request (such an object is complete and, since keys are
//     never reused, garbage no one references).
//   - Server errors (5xx, SlowDown), timeouts and refused or dropped
//     connections are retried [Config.MaxRetries] times with jittered
//     exponential backoff, then reported as [storage.ErrUnavailable].
//     NoSuchKey (404) is [storage.ErrNotFound]; a full disk or spent quota
//     (HTTP 507, XMinioStorageFull, QuotaExceeded) is
//     [storage.ErrInsufficientStorage].
//
// # Configuration errors
//
// [New] checks the endpoint, credentials, region and bucket with one
// request and returns a [*ConfigError] naming the environment variable to
// fix (S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID,
// S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN). Errors never contain secrets.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/sigv4"
	"github.com/simpledrive/simpledrive/internal/storage"
)

var _ storage.Driver = (*Store)(nil)

// Part sizes and defaults.
const (
	// MinPartSize is the smallest part S3 accepts (except for the last).
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part S3 accepts.
	MaxPartSize = 5 << 30
	// DefaultPartSize is the part size when [Config.PartSize] is zero.
	DefaultPartSize = 16 << 20
	// maxParts is the most parts a multipart upload may have.
	maxParts = 10000

	// DefaultTimeout is [Config.Timeout] when zero.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetries is [Config.MaxRetries] when zero.
	DefaultMaxRetries = 3
	// DefaultRetryDelay is [Config.RetryDelay] when zero.
	DefaultRetryDelay = 100 * time.Millisecond
	// maxRetryDelay caps the backoff between two attempts.
	maxRetryDelay = 5 * time.Second
)

// Config configures a [Store]. The fields without a comment map one to one
// to the S3_* environment variables of the same name.
type Config struct {
	// Endpoint is the service's base URL, for example
	// https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7070.
	Endpoint        string
	Region          string
	Bucket          string
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// ForcePathStyle addresses the bucket in the path
	// (endpoint/bucket/key) instead of the host name
	// (bucket.endpoint/key). Endpoints that are IP addresses or
	// "localhost" always use path style.
	ForcePathStyle bool
	// Prefix is a folder inside the bucket that holds every key.
	Prefix string
	// PartSize is both the size above which Put uses a multipart upload
	// and the size of its parts; [DefaultPartSize] when zero.
	PartSize int64

	// HTTPClient sends the requests; when nil the Store makes its own.
	// Its Timeout should be zero, since downloads stream for as long as
	// the caller reads.
	HTTPClient *http.Client
	// Timeout is the longest a request may go without progress: to
	// connect, between reads or writes of the body, and for the response
	// to start. DefaultTimeout when zero.
	Timeout time.Duration
	// MaxRetries is how many times a request that failed for a transient
	// reason is retried; DefaultMaxRetries when zero, none when negative.
	MaxRetries int
	// RetryDelay is the base of the jittered exponential backoff between
	// retries; DefaultRetryDelay when zero.
	RetryDelay time.Duration
}

// Store is an S3-compatible [storage.Driver]. It is safe for concurrent
// use by multiple goroutines.
type Store struct {
	base       *url.URL // scheme and host of the endpoint
	bucket     string
	pathStyle  bool
	prefix     string // "" or a folder ending in "/"
	partSize   int64
	signer     sigv4.Signer
	client     *http.Client
	ownClient  bool
	timeout    time.Duration
	maxRetries int
	retryDelay time.Duration
	buffers    sync.Pool // *[]byte of partSize bytes
}

// New returns a Store for cfg after checking, with one request, that the
// endpoint answers and accepts the credentials, region and bucket. A bad
// setting gives a [*ConfigError] naming the variable to fix.
func New(ctx context.Context, cfg Config) (*Store, error) {
	s, err := newStore(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// newStore builds a Store from cfg without contacting the server.
func newStore(cfg Config) (*Store, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	base, _ := url.Parse(cfg.Endpoint) // validated
	s := &Store{
		base:      &url.URL{Scheme: base.Scheme, Host: base.Host},
		bucket:    cfg.Bucket,
		pathStyle: cfg.ForcePathStyle || hostNeedsPathStyle(base.Hostname()),
		prefix:    strings.Trim(cfg.Prefix, "/"),
		partSize:  orDefault(cfg.PartSize, DefaultPartSize),
		signer: sigv4.Signer{
			Credentials: sigv4.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, SessionToken: cfg.SessionToken},
			Region:      cfg.Region,
			Service:     "s3",
		},
		client:     cfg.HTTPClient,
		timeout:    orDefault(cfg.Timeout, DefaultTimeout),
		maxRetries: orDefault(cfg.MaxRetries, DefaultMaxRetries),
		retryDelay: orDefault(cfg.RetryDelay, DefaultRetryDelay),
	}
	if s.prefix != "" {
		s.prefix += "/"
	}
	if s.maxRetries < 0 {
		s.maxRetries = 0
	}
	if s.client == nil {
		s.client = &http.Client{
			Transport: newTransport(s.timeout),
			// A redirect would carry a signature made for another URL.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		s.ownClient = true
	}
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// hostNeedsPathStyle reports whether host cannot carry the bucket name as
// a subdomain.
func hostNeedsPathStyle(host string) bool {
	return host == "localhost" || net.ParseIP(host) != nil
}

// newTransport returns the transport of a Store's own client.
func newTransport(timeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = min(timeout, 10*time.Second)
	t.ResponseHeaderTimeout = timeout
	t.MaxIdleConnsPerHost = 64
	t.DisableCompression = true // bytes must come back exactly as stored
	return t
}

// String describes the Store without its credentials.
func (s *Store) String() string {
	return "s3.Store(" + s.url("").String() + ", prefix " + strconv.Quote(s.prefix) + ")"
}

// GoString is [Store.String], so %#v shows no credentials either.
func (s *Store) GoString() string { return s.String() }

// String describes cfg with its secrets redacted.
func (cfg Config) String() string {
	c := cfg
	for _, secret := range []*string{&c.SecretAccessKey, &c.SessionToken} {
		if *secret != "" {
			*secret = "<redacted>"
		}
	}
	type plain Config // without this String method
	return fmt.Sprintf("s3.Config%+v", plain(c))
}

// GoString is [Config.String], so %#v redacts secrets too.
func (cfg Config) GoString() string { return cfg.String() }

// Close releases the idle connections of the Store's own HTTP client. The
// Store must not be used afterwards.
func (s *Store) Close() error {
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
	return nil
}

// objectKey returns the name in the bucket of a storage key.
func (s *Store) objectKey(key string) string {
	return s.prefix + key
}

// Put stores exactly size bytes read from r under key, atomically; see the
// package documentation.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.ValidateKey(key); err != nil {
		return wrap("put", key, err)
	}
	if size < 0 {
		return wrap("put", key, fmt.Errorf("negative size %d", size))
	}
	if err := ctx.Err(); err != nil {
		return wrap("put", key, err)
	}
	if size <= s.partSize {
		return s.putSingle(ctx, key, r, size)
	}
	return s.putMultipart(ctx, key, r, size)
}

// putSingle uploads a blob of at most one part with one PUT.
func (s *Store) putSingle(ctx context.Context, key string, r io.Reader, size int64) error {
	buf := make([]byte, size)
	if err := readPart(r, buf, true); err != nil {
		return wrap("put", key, err)
	}
	_, err := s.exec(ctx, call{method: http.MethodPut, key: s.objectKey(key), body: buf})
	return wrap("put", key, err)
}

// errShortBody and errLongBody report a reader that yields a different
// number of bytes than declared.
var (
	errShortBody = errors.New("body shorter than the declared size")
	errLongBody  = errors.New("body longer than the declared size")
)

// readPart fills buf from r. When last, it also checks that r has nothing
// more. Errors of r are returned as they are.
func readPart(r io.Reader, buf []byte, last bool) error {
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errShortBody
		}
		return fmt.Errorf("reading body: %w", err)
	}
	if !last {
		return nil
	}
	var probe [1]byte
	switch _, err := io.ReadFull(r, probe[:]); {
	case err == nil:
		return errLongBody
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("reading body: %w", err)
	}
}

// Get opens the bytes stored under key. The caller must close the reader;
// a missing key gives an error wrapping [storage.ErrNotFound].
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.ValidateKey(key); err != nil {
		return nil, wrap("get", key, err)
	}
	resp, err := s.open(ctx, call{method: http.MethodGet, key: s.objectKey(key)})
	if err != nil {
		return nil, wrap("get", key, err)
	}
	return &objectReader{rc: resp.Body, key: key}, nil
}

// Exists reports whether key holds bytes.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.ValidateKey(key); err != nil {
		return false, wrap("exists", key, err)
	}
	_, err := s.exec(ctx, call{method: http.MethodHead, key: s.objectKey(key)})
	if errors.Is(classify(err), storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, wrap("exists", key, err)
	}
	return true, nil
}

// Delete removes key; a missing key gives an error wrapping
// [storage.ErrNotFound]. S3 answers DELETE of a missing object with
// success, so Delete asks first; of two concurrent Deletes of one key both
// may succeed.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return wrap("delete", key, err)
	}
	if _, err := s.exec(ctx, call{method: http.MethodHead, key: s.objectKey(key)}); err != nil {
		return wrap("delete", key, err)
	}
	_, err := s.exec(ctx, call{method: http.MethodDelete, key: s.objectKey(key)})
	return wrap("delete", key, err)
}

// bodyReader is the request body of an upload: it tells the watchdog about
// progress and calls commit, when not nil, before its last byte.
func bodyReader(b []byte, wd *watchdog, commit func() bool) io.ReadCloser {
	return io.NopCloser(&progressReader{r: bytes.NewReader(b), wd: wd, commit: commit})
}
