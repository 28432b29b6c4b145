package s3

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/storage"
)

// These tests run against a fake S3 server that fails on purpose; they
// need no external service.

// fakeServer starts an HTTP server answering with handle and returns a
// Store on it (without the startup check) and the number of requests
// served.
func fakeServer(t *testing.T, cfg Config, handle http.HandlerFunc) (*Store, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	if cfg.Endpoint == "" {
		cfg.Endpoint = srv.URL
	}
	cfg.Region, cfg.Bucket, cfg.AccessKeyID, cfg.SecretAccessKey = "us-east-1", "bucket", "AKID", "SECRET"
	cfg.RetryDelay = time.Millisecond
	if cfg.HTTPClient == nil {
		tr := newTransport(orDefault(cfg.Timeout, DefaultTimeout))
		addr := srv.Listener.Addr().String()
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	s, err := newStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &n
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>on purpose</Message><RequestId>R1</RequestId></Error>`)
}

// TestErrorMapping checks how answers map onto storage sentinels and
// which are retried.
func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		code     string
		sentinel error
		requests int32
	}{
		{"NoSuchKey", 404, "NoSuchKey", storage.ErrNotFound, 1},
		{"ServerError", 500, "InternalError", storage.ErrUnavailable, 4},
		{"Unavailable", 503, "ServiceUnavailable", storage.ErrUnavailable, 4},
		{"SlowDown", 503, "SlowDown", storage.ErrUnavailable, 4},
		{"BadGateway", 502, "", storage.ErrUnavailable, 4},
		{"StorageFull", 507, "XMinioStorageFull", storage.ErrInsufficientStorage, 1},
		{"AccessDenied", 403, "AccessDenied", nil, 1},
		{"SignatureDoesNotMatch", 403, "SignatureDoesNotMatch", nil, 1},
		{"NoSuchBucket", 404, "NoSuchBucket", nil, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, n := fakeServer(t, Config{ForcePathStyle: true}, func(w http.ResponseWriter, _ *http.Request) { s3Error(w, c.status, c.code) })
			_, err := storage.NewBucket("s3", s).Get(context.Background(), "ab/cd/key")
			if err == nil {
				t.Fatal("Get succeeded")
			}
			for _, sentinel := range []error{storage.ErrNotFound, storage.ErrUnavailable, storage.ErrInsufficientStorage} {
				if errors.Is(err, sentinel) != (sentinel == c.sentinel) {
					t.Errorf("errors.Is(%v, %v) = %v", err, sentinel, !(sentinel == c.sentinel))
				}
			}
			if !strings.HasPrefix(err.Error(), `s3: get "ab/cd/key": `) || (c.code != "" && !strings.Contains(err.Error(), c.code)) {
				t.Errorf("error %q lacks the op, key or code", err)
			}
			if got := n.Load(); got != c.requests {
				t.Errorf("%d requests; want %d", got, c.requests)
			}
		})
	}
}

// TestRetrySucceeds checks that transient failures are retried until the
// server answers.
func TestRetrySucceeds(t *testing.T) {
	var calls atomic.Int32
	s, n := fakeServer(t, Config{ForcePathStyle: true}, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Content-Sha256") == "" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			s3Error(w, 400, "MissingSignature")
			return
		}
		if calls.Add(1) < 3 {
			s3Error(w, 503, "SlowDown")
			return
		}
		io.WriteString(w, "hello")
	})
	rc, err := s.Get(context.Background(), "ab/cd/key")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	if n.Load() != 3 {
		t.Errorf("%d requests; want 3", n.Load())
	}
}

// TestCompleteErrorIn200 checks that a CompleteMultipartUpload answered
// with 200 and an error document is retried, not taken for success.
func TestCompleteErrorIn200(t *testing.T) {
	var completes atomic.Int32
	s, _ := fakeServer(t, Config{ForcePathStyle: true, PartSize: MinPartSize}, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case q.Has("uploads"):
			io.WriteString(w, `<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodPut:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("ETag", `"etag-`+q.Get("partNumber")+`"`)
		case r.Method == http.MethodPost && completes.Add(1) == 1:
			io.WriteString(w, `<?xml version="1.0"?><Error><Code>InternalError</Code><Message>try again</Message></Error>`)
		case r.Method == http.MethodPost:
			var req struct {
				Parts []completedPart `xml:"Part"`
			}
			err := xml.NewDecoder(r.Body).Decode(&req)
			if err != nil || len(req.Parts) != 2 || req.Parts[1] != (completedPart{2, `"etag-2"`}) {
				s3Error(w, 400, "InvalidPart")
				return
			}
			io.WriteString(w, `<CompleteMultipartUploadResult><ETag>"x-2"</ETag></CompleteMultipartUploadResult>`)
		default:
			s3Error(w, 400, "Unexpected")
		}
	})
	size := int64(MinPartSize + 10)
	if err := s.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, size), size); err != nil {
		t.Fatal(err)
	}
	if completes.Load() != 2 {
		t.Errorf("%d completes; want 2", completes.Load())
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestStallTimesOut checks that a server that stops answering gives
// ErrUnavailable after the timeout, and that the caller's cancellation
// wins over it.
func TestStallTimesOut(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stall := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	t.Run("Timeout", func(t *testing.T) {
		s, n := fakeServer(t, Config{ForcePathStyle: true, Timeout: 100 * time.Millisecond, MaxRetries: 1}, stall)
		start := time.Now()
		_, err := s.Exists(context.Background(), "ab/cd/key")
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Exists = %v; want ErrUnavailable", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
		if n.Load() != 2 {
			t.Errorf("%d requests; want 2", n.Load())
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, _ := fakeServer(t, Config{ForcePathStyle: true}, func(w http.ResponseWriter, r *http.Request) {
			cancel() // the caller gives up while the server holds the request
			stall(w, r)
		})
		_, err := s.Get(ctx, "ab/cd/key")
		if !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Get = %v; want the caller's context error only", err)
		}
	})
}

// TestStalledDownload checks that a body that stops flowing fails with
// ErrUnavailable instead of hanging.
func TestStalledDownload(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s, _ := fakeServer(t, Config{ForcePathStyle: true, Timeout: 100 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	rc, err := s.Get(context.Background(), "ab/cd/key")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("reading a stalled body = %v; want ErrUnavailable", err)
	}
}

// TestAddressing checks path-style and virtual-hosted URLs, the prefix and
// the Host header that is signed and sent.
func TestAddressing(t *testing.T) {
	cases := []struct {
		name, endpoint string
		pathStyle      bool
		prefix         string
		host, path     string
	}{
		{"VirtualHosted", "http://s3.example.test", false, "", "bucket.s3.example.test", "/ab/cd/key"},
		{"PathStyle", "http://s3.example.test", true, "", "s3.example.test", "/bucket/ab/cd/key"},
		{"IPIsPathStyle", "http://127.0.0.1:9", false, "", "127.0.0.1:9", "/bucket/ab/cd/key"},
		{"Prefix", "http://s3.example.test", false, "/drive/blobs/", "bucket.s3.example.test", "/drive/blobs/ab/cd/key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var host, path, authz string
			s, _ := fakeServer(t, Config{Endpoint: c.endpoint, ForcePathStyle: c.pathStyle, Prefix: c.prefix}, func(w http.ResponseWriter, r *http.Request) {
				host, path, authz = r.Host, r.URL.EscapedPath(), r.Header.Get("Authorization")
			})
			if ok, err := s.Exists(context.Background(), "ab/cd/key"); err != nil || !ok {
				t.Fatalf("Exists = %v, %v", ok, err)
			}
			if host != c.host || path != c.path {
				t.Errorf("request to %s%s; want %s%s", host, path, c.host, c.path)
			}
			if !strings.Contains(authz, "SignedHeaders=host;") {
				t.Errorf("Authorization %q does not sign the host", authz)
			}
		})
	}
}

// TestNoSecretsPrinted checks that printing a Config or a Store shows no
// secret.
func TestNoSecretsPrinted(t *testing.T) {
	cfg := Config{Endpoint: "http://127.0.0.1:9", Region: "r", Bucket: "b", AccessKeyID: "AKID", SecretAccessKey: "s3cr3t", SessionToken: "t0ken"}
	s, err := newStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, &cfg, s} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, "s3cr3t") || strings.Contains(out, "t0ken") {
				t.Errorf("Sprintf(%q, %T) = %s", format, v, out)
			}
		}
	}
	if out := fmt.Sprint(cfg); !strings.Contains(out, "AKID") || !strings.Contains(out, "<redacted>") {
		t.Errorf("Config prints as %s", out)
	}
}

// TestCompleteAnswerLost covers a CompleteMultipartUpload that worked on the
// server but whose answer was lost: a retry that finds the object of the
// right size succeeds; when every retry fails, the object is deleted so
// that Put stays atomic.
func TestCompleteAnswerLost(t *testing.T) {
	size := int64(MinPartSize + 10)
	cases := []struct {
		name          string
		retryAnswer   func(http.ResponseWriter)
		wantErr       error
		wantDeleteObj bool
	}{
		{"RetryFindsObject", func(w http.ResponseWriter) { s3Error(w, 404, "NoSuchUpload") }, nil, false},
		{"RetriesFail", func(w http.ResponseWriter) { s3Error(w, 503, "ServiceUnavailable") }, storage.ErrUnavailable, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var completes atomic.Int32
			var deletedObject atomic.Bool
			s, _ := fakeServer(t, Config{ForcePathStyle: true, PartSize: MinPartSize}, func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				switch {
				case q.Has("uploads"):
					io.WriteString(w, `<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
				case r.Method == http.MethodPut:
					io.Copy(io.Discard, r.Body)
					w.Header().Set("ETag", `"e"`)
				case r.Method == http.MethodPost && completes.Add(1) == 1:
					s3Error(w, 503, "ServiceUnavailable") // the server completed it, the answer got lost
				case r.Method == http.MethodPost:
					c.retryAnswer(w)
				case r.Method == http.MethodHead:
					w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
				case r.Method == http.MethodDelete && q.Has("uploadId"):
					s3Error(w, 404, "NoSuchUpload")
				case r.Method == http.MethodDelete:
					deletedObject.Store(true)
					w.WriteHeader(http.StatusNoContent)
				}
			})
			err := s.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, size), size)
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("Put = %v; want %v", err, c.wantErr)
			}
			if deletedObject.Load() != c.wantDeleteObj {
				t.Errorf("object deleted: %v; want %v", deletedObject.Load(), c.wantDeleteObj)
			}
		})
	}
}

// TestCancelledAfterBodySent checks that a Put cancelled while the server
// stores its whole body waits for the answer and reports it: the object
// exists, so Put must not fail. The server checks, as the caller cancels,
// that the request's own context did not end with the caller's, so the
// transport had no reason to cut the request off; it answers only then.
func TestCancelledAfterBodySent(t *testing.T) {
	for _, c := range []struct {
		name string
		size int
	}{{"Buffered", 4}, {"Streamed", 3*streamChunkSize + 5}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			data := strings.Repeat("d", c.size)
			rec := &recordingTransport{rt: newTransport(DefaultTimeout)}
			var cut atomic.Bool
			s, _ := fakeServer(t, Config{ForcePathStyle: true, PartSize: MinPartSize, HTTPClient: &http.Client{Transport: rec}}, func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if c.size > streamChunkSize {
					body, err = decodeChunked(body, err)
				}
				if err != nil || string(body) != data {
					s3Error(w, http.StatusBadRequest, "IncompleteBody")
					return
				}
				cancel() // the caller gives up while the server stores
				cut.Store(rec.last().Err() != nil || r.Context().Err() != nil)
				w.WriteHeader(http.StatusOK)
			})
			if err := s.Put(ctx, "ab/cd/key", strings.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("Put cancelled after its body was sent = %v; want nil, since the server stored it", err)
			}
			if cut.Load() {
				t.Fatal("the caller's cancellation ended the request while the server stored the object")
			}
		})
	}
}

// recordingTransport remembers the context of the last request it sent.
type recordingTransport struct {
	rt  http.RoundTripper
	ctx atomic.Pointer[context.Context]
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	r.ctx.Store(&ctx)
	return r.rt.RoundTrip(req)
}

func (r *recordingTransport) last() context.Context { return *r.ctx.Load() }

// decodeChunked returns the data of an aws-chunked body, without checking
// its signatures (versitygw checks them in the integration tests).
func decodeChunked(body []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	var data []byte
	for {
		header, rest, ok := bytes.Cut(body, []byte("\r\n"))
		size, _, _ := strings.Cut(string(header), ";")
		n, perr := strconv.ParseInt(size, 16, 64)
		if !ok || perr != nil || int64(len(rest)) < n+2 {
			return nil, fmt.Errorf("bad chunk header %q", header)
		}
		data = append(data, rest[:n]...)
		body = rest[n+2:]
		if n == 0 {
			return data, nil
		}
	}
}

// TestProgressReaderCommits checks that an upload body asks to commit
// before its last byte, and yields no more bytes when the commit is
// refused.
func TestProgressReaderCommits(t *testing.T) {
	wd := newWatchdog(time.Minute, func() {})
	defer wd.stop()
	var asked int
	refuse := func() bool { asked++; return false }
	r := bodyReader([]byte("abcdef"), wd, refuse)
	p := make([]byte, 4)
	if n, err := r.Read(p); n != 4 || err != nil || asked != 0 {
		t.Fatalf("first Read = %d, %v with %d commits; want 4, nil before any commit", n, err, asked)
	}
	if n, err := r.Read(p); n != 0 || !errors.Is(err, errNotCommitted) || asked != 1 {
		t.Fatalf("Read of the last bytes after a refused commit = %d, %v with %d commits; want 0, errNotCommitted after 1", n, err, asked)
	}
	r = bodyReader([]byte("abcdef"), wd, func() bool { asked++; return true })
	if got, err := io.ReadAll(r); string(got) != "abcdef" || err != nil || asked != 2 {
		t.Fatalf("ReadAll with commits granted = %q, %v after %d commits; want all bytes, one more commit", got, err, asked)
	}
}

// TestStreamedPutRetries checks when a streamed PUT is retried: after a
// failure that came before its body was read (the first dial fails), yes;
// after the server read the body and answered 503, no, since the caller's
// reader cannot be read twice.
func TestStreamedPutRetries(t *testing.T) {
	size := int64(2*streamChunkSize + 1)
	t.Run("BeforeBody", func(t *testing.T) {
		var dials atomic.Int32
		var addr string
		tr := newTransport(DefaultTimeout)
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			if dials.Add(1) == 1 {
				return nil, errors.New("dial refused on purpose")
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		s, n := fakeServer(t, Config{ForcePathStyle: true, HTTPClient: &http.Client{Transport: tr}}, func(w http.ResponseWriter, r *http.Request) {
			if body, err := decodeChunked(io.ReadAll(r.Body)); err != nil || int64(len(body)) != size {
				s3Error(w, http.StatusBadRequest, "IncompleteBody")
			}
		})
		addr = strings.TrimPrefix(s.base.String(), "http://")
		if err := s.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, size), size); err != nil {
			t.Fatalf("Put = %v; want success on the second attempt", err)
		}
		if dials.Load() != 2 || n.Load() != 1 {
			t.Errorf("%d dials, %d requests; want 2 and 1", dials.Load(), n.Load())
		}
	})
	t.Run("AfterBody", func(t *testing.T) {
		s, n := fakeServer(t, Config{ForcePathStyle: true}, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			s3Error(w, http.StatusServiceUnavailable, "SlowDown")
		})
		err := s.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, size), size)
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Put = %v; want ErrUnavailable", err)
		}
		if n.Load() != 1 {
			t.Errorf("%d requests; want 1: the body was read", n.Load())
		}
	})
}

// failFirstPart2 is a transport whose first attempt at part 2 fails as a
// refused connection would, without reading the request's body.
type failFirstPart2 struct {
	rt     http.RoundTripper
	failed atomic.Bool
}

func (f *failFirstPart2) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("partNumber") == "2" && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("connection refused on purpose")
	}
	return f.rt.RoundTrip(req)
}

// TestStreamedPartRetries checks when a streamed part is retried: after a
// failure that came before its body was read, yes, and the upload
// completes; after the server read the body and answered 503, no, since
// the caller's reader cannot be read twice: the Put fails and the
// multipart upload is aborted.
func TestStreamedPartRetries(t *testing.T) {
	size := int64(2*MinPartSize + 1000)
	// server answers a multipart upload; part 2 gets answer.
	server := func(part2 func(http.ResponseWriter), requests map[string]int, mu *sync.Mutex) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			mu.Lock()
			requests[r.Method+" "+q.Get("partNumber")]++
			mu.Unlock()
			switch {
			case q.Has("uploads"):
				io.WriteString(w, `<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
			case r.Method == http.MethodPut:
				body, err := decodeChunked(io.ReadAll(r.Body))
				if err != nil || strconv.Itoa(len(body)) != r.Header.Get("X-Amz-Decoded-Content-Length") {
					s3Error(w, http.StatusBadRequest, "IncompleteBody")
					return
				}
				if q.Get("partNumber") == "2" {
					part2(w)
				}
				w.Header().Set("ETag", `"e"`)
			case r.Method == http.MethodPost:
				io.WriteString(w, `<CompleteMultipartUploadResult/>`)
			case r.Method == http.MethodDelete:
				w.WriteHeader(http.StatusNoContent)
			}
		}
	}
	t.Run("BeforeBody", func(t *testing.T) {
		var mu sync.Mutex
		requests := map[string]int{}
		tr := &failFirstPart2{}
		s, _ := fakeServer(t, Config{ForcePathStyle: true, PartSize: MinPartSize, HTTPClient: &http.Client{Transport: tr}}, server(func(http.ResponseWriter) {}, requests, &mu))
		tr.rt = newTransport(DefaultTimeout)
		if err := s.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, size), size); err != nil {
			t.Fatalf("Put = %v; want success once part 2 is retried", err)
		}
		want := map[string]int{"POST ": 2, "PUT 1": 1, "PUT 2": 1, "PUT 3": 1}
		if fmt.Sprint(requests) != fmt.Sprint(want) || !tr.failed.Load() {
			t.Errorf("requests %v; want %v after a refused first attempt at part 2", requests, want)
		}
	})
	t.Run("AfterBody", func(t *testing.T) {
		var mu sync.Mutex
		requests := map[string]int{}
		s, _ := fakeServer(t, Config{ForcePathStyle: true, PartSize: MinPartSize}, server(func(w http.ResponseWriter) {
			s3Error(w, http.StatusServiceUnavailable, "SlowDown")
		}, requests, &mu))
		err := s.Put(context.Background(), "ab/cd/key", io.LimitReader(zeros{}, size), size)
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Put = %v; want ErrUnavailable", err)
		}
		want := map[string]int{"POST ": 1, "PUT 1": 1, "PUT 2": 1, "DELETE ": 1}
		if fmt.Sprint(requests) != fmt.Sprint(want) {
			t.Errorf("requests %v; want %v: part 2 sent once, then the upload aborted", requests, want)
		}
	})
}

// TestListKeysPages checks that ListKeys asks for as many ListObjectsV2
// pages as its limit needs, passes the prefix and start key under
// S3_PREFIX, strips it from the keys and skips names that are not keys.
func TestListKeysPages(t *testing.T) {
	var objects []string
	for i := range 2500 {
		objects = append(objects, fmt.Sprintf("p/ab/cd/%05d", i))
	}
	objects = append(objects, "p/ab/cd/folder/", "p/ab/cd/x y") // not keys
	var queries []string
	s, _ := fakeServer(t, Config{ForcePathStyle: true, Prefix: "p"}, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		queries = append(queries, q.Get("prefix")+"|"+q.Get("start-after")+"|"+q.Get("max-keys"))
		limit, _ := strconv.Atoi(q.Get("max-keys"))
		if q.Get("list-type") != "2" || limit < 1 || limit > 1000 {
			s3Error(w, http.StatusBadRequest, "InvalidArgument")
			return
		}
		var page []string
		for _, o := range objects {
			if strings.HasPrefix(o, q.Get("prefix")) && o > q.Get("start-after") && len(page) < limit {
				page = append(page, o)
			}
		}
		truncated := len(page) == limit && page[len(page)-1] != objects[len(objects)-1]
		fmt.Fprintf(w, `<ListBucketResult><IsTruncated>%v</IsTruncated>`, truncated)
		for i, o := range page {
			fmt.Fprintf(w, `<Contents><Key>%s</Key><Size>%d</Size><LastModified>2025-01-02T03:04:05.000Z</LastModified></Contents>`, o, i)
		}
		io.WriteString(w, `</ListBucketResult>`)
	})
	keys, err := storage.NewBucket("s3", s).ListKeys(context.Background(), "ab/", "ab/cd/00099", 2000)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2000 || keys[0].Key != "ab/cd/00100" || keys[1999].Key != "ab/cd/02099" {
		t.Fatalf("ListKeys returned %d keys from %v", len(keys), keys[:min(1, len(keys))])
	}
	if want := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC); !keys[0].ModTime.Equal(want) {
		t.Errorf("ModTime %v; want %v", keys[0].ModTime, want)
	}
	want := []string{"p/ab/|p/ab/cd/00099|1000", "p/ab/|p/ab/cd/01099|1000"}
	if strings.Join(queries, " ") != strings.Join(want, " ") {
		t.Errorf("queries %q; want %q", queries, want)
	}
	queries = nil
	keys, err = storage.NewBucket("s3", s).ListKeys(context.Background(), "", "ab/cd/02400", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 99 || keys[98].Key != "ab/cd/02499" {
		t.Errorf("the last page has %d keys; want the 99 keys after 02400 and no folder or invalid name", len(keys))
	}
}
