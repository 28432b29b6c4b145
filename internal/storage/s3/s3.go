// Package s3 is the storage backend that keeps blob bytes in a bucket of an
// S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph RGW,
// versitygw, ...).
//
// It speaks the S3 REST API over net/http and signs every request with
// [sigv4]; it uses no S3 SDK.
//
// Besides checking the key and the context again, as every driver does,
// the driver does only the S3 work: the [storage.Bucket] it is used
// through validates keys, checks contexts, enforces the exact size of a
// Put and names the operation and key in errors. Besides [storage.Driver]
// it implements [storage.RangeReader] (a Range header) and [storage.Lister]
// (ListObjectsV2).
//
// # Guarantees
//
//   - Put is atomic: S3 makes an object visible only once it is complete.
//     A blob of at most 64 KiB is read into memory, hashed and sent as one
//     PUT, which can be retried. A larger blob of at most [Config.PartSize]
//     bytes streams as one PUT in signed aws-chunked encoding
//     (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 64 KiB chunks,
//     x-amz-decoded-content-length the blob's size), so it holds one chunk
//     in memory; its final chunk is sent only once the reader has ended,
//     so a failing or lying reader leaves nothing. A larger blob goes up
//     as a multipart upload whose parts stream the same way, one after the
//     other, each declaring its own length: a Put of known size holds
//     about 64 KiB whatever the blob and part sizes. A multipart upload
//     that fails for any reason (reader, size, context, network) is
//     aborted. When the abort itself cannot reach the server, the parts
//     stay invisible until the bucket's AbortIncompleteMultipartUpload
//     lifecycle rule removes them.
//   - Retries of streamed bodies: the caller's reader cannot be read
//     twice, so a streamed PUT or part is retried only when it failed
//     before its body was read (a refused connection, a stale keep-alive
//     connection); one that fails after (a 5xx answer, a reset mid-body)
//     fails the Put, which aborts the multipart upload, so nothing is left.
//     Buffered requests (blobs up to 64 KiB, the parts of a blob of
//     unknown size, every other request) are retried whenever the failure
//     is transient.
//   - A blob of unknown size (size -1, a chunked upload) cannot stream:
//     every S3 write declares its length before its body, and a length is
//     known only for bytes already read, which cannot be read again. Put
//     reads ahead 64 KiB; a blob that ends there goes up in one buffered
//     PUT. A larger one holds one part ([Config.PartSize] bytes, pooled)
//     in memory: one PUT when it ends within the part, otherwise a
//     multipart upload of buffered parts. Memory is bounded by one part,
//     not by the blob; the smallest bound is S3_PART_SIZE=5MiB. The Store
//     says so ([Store.PutBuffer]), so a [storage.Bucket] with a memory
//     budget reserves the part before the Store reads past 64 KiB.
//   - Every payload is signed with its SHA-256 (a streamed one chunk by
//     chunk), so the server rejects bytes damaged on the way.
//   - Every request has a timeout ([Config.Timeout] without progress; a
//     streamed PUT progresses as its reader delivers bytes) and
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
// S3_SECRET_ACCESS_KEY, S3_SESSION_TOKEN; S3_PART_SIZE, S3_PREFIX,
// S3_TIMEOUT and S3_RETRY_DELAY are checked before any request). Errors
// never contain secrets.
package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
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

var (
	_ storage.Driver      = (*Store)(nil)
	_ storage.RangeReader = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
	_ storage.Buffering   = (*Store)(nil)
)

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

	// DefaultRegion is [Config.Region] when empty.
	DefaultRegion = "us-east-1"
	// DefaultTimeout is [Config.Timeout] when zero.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetries is [Config.MaxRetries] when zero.
	DefaultMaxRetries = 3
	// NoRetries is the [Config.MaxRetries] that disables retries
	// (S3_MAX_RETRIES=0): any negative value does.
	NoRetries = -1
	// DefaultRetryDelay is [Config.RetryDelay] when zero.
	DefaultRetryDelay = 100 * time.Millisecond
	// maxRetryDelay caps the backoff between two attempts.
	maxRetryDelay = 5 * time.Second

	// streamChunkSize is the aws-chunked chunk of a streamed PUT; blobs of
	// at most this size are buffered instead, so their PUT can be retried.
	streamChunkSize = sigv4.DefaultChunkSize
)

// Config configures a [Store]. Each field names the environment variable
// it is read from and its default; a zero field takes the default, so a
// Config may be filled straight from the environment. Only HTTPClient has
// no variable.
type Config struct {
	// Endpoint is the service's base URL, for example
	// https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7070
	// (S3_ENDPOINT, required).
	Endpoint string
	// Region is the bucket's region, signed into every request
	// (S3_REGION, default [DefaultRegion]).
	Region string
	// Bucket is the bucket's name (S3_BUCKET, required).
	Bucket string
	// AccessKeyID and SecretAccessKey are the credentials
	// (S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, required).
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is the token of temporary credentials
	// (S3_SESSION_TOKEN, default none).
	SessionToken string
	// ForcePathStyle addresses the bucket in the path
	// (endpoint/bucket/key) instead of the host name
	// (bucket.endpoint/key). Endpoints that are IP addresses or
	// "localhost" always use path style (S3_FORCE_PATH_STYLE, default
	// false).
	ForcePathStyle bool
	// Prefix is a folder inside the bucket that holds every key
	// (S3_PREFIX, default none: the bucket's root).
	Prefix string
	// PartSize is both the size above which Put uses a multipart upload
	// and the size of its parts, between [MinPartSize] and [MaxPartSize]
	// (S3_PART_SIZE, default [DefaultPartSize], 16 MiB). Parts of a blob
	// of known size stream; a Put of unknown size holds one part in
	// memory.
	PartSize int64
	// Timeout is the longest one request may go without progress: to
	// connect, for the response to start, and between two reads or writes
	// of its body, whichever side is slow. It bounds every request,
	// retries included, without cutting a large transfer that moves
	// (S3_TIMEOUT, default [DefaultTimeout], 30s).
	Timeout time.Duration
	// MaxRetries is how many times a request that failed for a transient
	// reason (5xx, SlowDown, timeout, connection failure) is retried
	// (S3_MAX_RETRIES, default [DefaultMaxRetries], 3). Zero takes the
	// default: S3_MAX_RETRIES=0 is [NoRetries], or any negative value.
	MaxRetries int
	// RetryDelay is the base of the jittered exponential backoff between
	// retries, capped at 5s (S3_RETRY_DELAY, default [DefaultRetryDelay],
	// 100ms).
	RetryDelay time.Duration

	// HTTPClient sends the requests; when nil the Store makes its own.
	// Its Timeout should be zero, since downloads stream for as long as
	// the caller reads.
	HTTPClient *http.Client
}

// Store is an S3-compatible [storage.Driver], [storage.RangeReader] and
// [storage.Lister]. It is safe for concurrent use by multiple goroutines.
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
	buffers    sync.Pool // *[]byte of partSize+1 bytes, for uploads of unknown size
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
	cfg.Region = orDefault(cfg.Region, DefaultRegion)
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
		maxRetries: max(orDefault(cfg.MaxRetries, DefaultMaxRetries), 0),
		retryDelay: orDefault(cfg.RetryDelay, DefaultRetryDelay),
	}
	if s.prefix != "" {
		s.prefix += "/"
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

// newTransport returns the transport of a Store's own client: every wait
// it has is bounded by the Store's timeout.
func newTransport(timeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = timeout
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

// Put implements [storage.Driver]: it stores the size bytes of r under
// key, atomically; see the package documentation.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	name := s.objectKey(key)
	switch {
	case size < 0:
		return mapErr(s.putUnsized(ctx, name, r))
	case size <= streamChunkSize:
		return mapErr(s.putBuffered(ctx, name, r, size))
	case size <= s.partSize:
		return mapErr(s.putStreamed(ctx, name, r, size))
	}
	return mapErr(s.putMultipart(ctx, name, r, size))
}

// PutBuffer implements [storage.Buffering]: a Put of known size holds a
// fixed amount (one 64 KiB chunk, or a blob of at most 64 KiB); one of
// unknown size holds a part and a byte once it has read more than 64 KiB.
func (s *Store) PutBuffer(size int64) storage.Buffer {
	if size >= 0 {
		return storage.Buffer{}
	}
	return storage.Buffer{Bytes: s.partSize + 1, After: streamChunkSize}
}

// putBuffered uploads a small blob with one PUT signed with its hash; it
// can be retried whole.
func (s *Store) putBuffered(ctx context.Context, name string, r io.Reader, size int64) error {
	buf := make([]byte, size)
	if err := fill(r, buf, true); err != nil {
		return err
	}
	_, err := s.exec(ctx, call{method: http.MethodPut, key: name, body: buf})
	return err
}

// putStreamed uploads a blob of at most one part with one PUT whose body
// streams from r in signed aws-chunked encoding, one chunk in memory. It
// is retried only when it failed before reading r.
func (s *Store) putStreamed(ctx context.Context, name string, r io.Reader, size int64) error {
	src := &stream{r: r, size: size, whole: true}
	defer src.close()
	_, err := s.exec(ctx, call{method: http.MethodPut, key: name, stream: src})
	return err
}

// fill reads len(buf) bytes from r. When last, it also reads the end of
// r, which is where the Bucket's reader reports more bytes than declared.
func fill(r io.Reader, buf []byte, last bool) error {
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	if last {
		return atEOF(r)
	}
	return nil
}

// atEOF reads the end of r: nil when r has no more bytes.
func atEOF(r io.Reader) error {
	var probe [1]byte
	switch _, err := io.ReadFull(r, probe[:]); err {
	case io.EOF:
		return nil
	case nil:
		return errors.New("reader yields more bytes than its size")
	default:
		return err
	}
}

// Get implements [storage.Driver].
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	resp, err := s.open(ctx, call{method: http.MethodGet, key: s.objectKey(key)})
	if err != nil {
		return nil, mapErr(err)
	}
	return &objectReader{rc: resp.Body}, nil
}

// GetRange implements [storage.RangeReader] with a Range header. A range
// from the end of the object on, which S3 refuses (416), is empty; one
// that reaches past the end stops there.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return nil, err
	}
	c := call{method: http.MethodGet, key: s.objectKey(key)}
	switch {
	case length == 0:
		// No Range header can ask for nothing: ask whether the object is there.
		if _, err := s.exec(ctx, call{method: http.MethodHead, key: c.key}); err != nil {
			return nil, mapErr(err)
		}
		return http.NoBody, nil
	case length > math.MaxInt64-offset || offset+length >= 1<<62:
		if offset == 0 {
			return s.Get(ctx, key) // the whole object: no Range, which an empty object would refuse
		}
		c.header = http.Header{"Range": {"bytes=" + strconv.FormatInt(offset, 10) + "-"}}
	default:
		c.header = http.Header{"Range": {"bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10)}}
	}
	resp, err := s.open(ctx, c)
	var api *apiError
	if errors.As(err, &api) && api.Status == http.StatusRequestedRangeNotSatisfiable {
		return http.NoBody, nil // the range starts at or after the end
	}
	if err != nil {
		return nil, mapErr(err)
	}
	if resp.StatusCode == http.StatusPartialContent {
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("asked for bytes from %d, got Content-Range %q", offset, resp.Header.Get("Content-Range"))
		}
		return &objectReader{rc: resp.Body}, nil
	}
	// 200: the server ignored the Range header and sends the whole object.
	if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil && err != io.EOF {
		resp.Body.Close()
		return nil, mapErr(err)
	}
	return &objectReader{rc: resp.Body, r: io.LimitReader(resp.Body, length)}, nil
}

// rangeStart returns the first byte of a Content-Range "bytes a-b/n".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(first, 10, 64)
	return n, ok && err == nil
}

// Exists implements [storage.Driver].
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	if err := storage.CheckCall(ctx, key); err != nil {
		return false, err
	}
	_, err := s.exec(ctx, call{method: http.MethodHead, key: s.objectKey(key)})
	if errors.Is(classify(err), storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, mapErr(err)
	}
	return true, nil
}

// Delete implements [storage.Driver]. S3 answers DELETE of a missing object
// with success, so Delete asks first; of two concurrent Deletes of one key
// both may succeed.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckCall(ctx, key); err != nil {
		return err
	}
	if _, err := s.exec(ctx, call{method: http.MethodHead, key: s.objectKey(key)}); err != nil {
		return mapErr(err)
	}
	_, err := s.exec(ctx, call{method: http.MethodDelete, key: s.objectKey(key)})
	return mapErr(err)
}

// maxListPage is the most keys one ListObjectsV2 request returns.
const maxListPage = 1000

// ListKeys implements [storage.Lister] with ListObjectsV2 requests, as many
// as limit needs (S3 returns at most 1000 keys each). Objects under the
// prefix whose names are not valid keys (folder markers, other tools'
// objects) are skipped: nothing the service stores has such a name.
func (s *Store) ListKeys(ctx context.Context, prefix, startAfter string, limit int) ([]storage.KeyInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var keys []storage.KeyInfo
	after := s.prefix + startAfter
	for len(keys) < limit {
		q := "list-type=2&max-keys=" + strconv.Itoa(min(limit-len(keys), maxListPage)) + "&prefix=" + queryEscape(s.prefix+prefix)
		if after != s.prefix {
			q += "&start-after=" + queryEscape(after)
		}
		res, err := s.exec(ctx, call{method: http.MethodGet, query: q})
		if err != nil {
			return nil, mapErr(err)
		}
		var page struct {
			IsTruncated bool `xml:"IsTruncated"`
			Contents    []struct {
				Key          string    `xml:"Key"`
				Size         int64     `xml:"Size"`
				LastModified time.Time `xml:"LastModified"`
			} `xml:"Contents"`
		}
		if err := xml.Unmarshal(res.body, &page); err != nil {
			return nil, fmt.Errorf("parsing the object listing: %w", err)
		}
		for _, o := range page.Contents {
			after = o.Key
			key, ok := strings.CutPrefix(o.Key, s.prefix)
			if !ok || storage.ValidateKey(key) != nil {
				continue
			}
			keys = append(keys, storage.KeyInfo{Key: key, Size: o.Size, ModTime: o.LastModified})
		}
		if !page.IsTruncated || len(page.Contents) == 0 {
			break
		}
	}
	return keys, nil
}
