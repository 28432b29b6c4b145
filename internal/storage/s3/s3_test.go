package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/simpledrive/simpledrive/internal/storage"
	"github.com/simpledrive/simpledrive/internal/storage/storagetest"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// testConfig returns the configuration of the S3 service of the test run
// (scripts/test starts versitygw), with a fresh prefix so tests never see
// each other's objects.
func testConfig(t testing.TB) Config {
	t.Helper()
	v := testenv.Lookup(t, "TEST_S3_ENDPOINT", "TEST_S3_REGION", "TEST_S3_BUCKET", "TEST_S3_ACCESS_KEY_ID", "TEST_S3_SECRET_ACCESS_KEY")
	return Config{
		Endpoint: v[0], Region: v[1], Bucket: v[2], AccessKeyID: v[3], SecretAccessKey: v[4],
		ForcePathStyle: true,
		Prefix:         "test-" + randomHex(t, 8),
		PartSize:       MinPartSize,
	}
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newTestStore opens a Store on cfg and closes it with the test.
func newTestStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Driver {
		return newTestStore(t, testConfig(t))
	})
}

// TestPrefix checks that keys live under the prefix inside the bucket.
func TestPrefix(t *testing.T) {
	cfg := testConfig(t)
	s := newTestStore(t, cfg)
	cfg.Prefix = ""
	root := newTestStore(t, cfg)
	ctx := context.Background()
	if err := s.Put(ctx, "ab/cd/blob", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	if ok, err := root.Exists(ctx, s.prefix+"ab/cd/blob"); err != nil || !ok {
		t.Fatalf("Exists(%q) without prefix = %v, %v; want true", s.prefix+"ab/cd/blob", ok, err)
	}
	if ok, err := root.Exists(ctx, "ab/cd/blob"); err != nil || ok {
		t.Fatalf("object stored outside the prefix: Exists = %v, %v", ok, err)
	}
}

// TestStartupCheck checks that New names the variable to fix and never
// shows a secret.
func TestStartupCheck(t *testing.T) {
	good := testConfig(t)
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"WrongSecret", func(c *Config) { c.SecretAccessKey = "wrong-secret-value" }, "S3_SECRET_ACCESS_KEY"},
		{"UnknownAccessKey", func(c *Config) { c.AccessKeyID = "AKIDUNKNOWN" }, "S3_ACCESS_KEY_ID"},
		{"WrongRegion", func(c *Config) { c.Region = "eu-north-7" }, "S3_REGION"},
		{"MissingBucket", func(c *Config) { c.Bucket = "no-such-bucket-" + randomHex(t, 4) }, "S3_BUCKET"},
		{"Unreachable", func(c *Config) { c.Endpoint = "http://127.0.0.1:1"; c.MaxRetries = -1 }, "S3_ENDPOINT"},
		{"BadEndpoint", func(c *Config) { c.Endpoint = "ftp://x" }, "S3_ENDPOINT"},
		{"EndpointWithPassword", func(c *Config) { c.Endpoint = "http://user:hunter2@127.0.0.1:1" }, "S3_ENDPOINT"},
		{"SmallParts", func(c *Config) { c.PartSize = 1 << 20 }, "S3_PART_SIZE"},
		{"BadPrefix", func(c *Config) { c.Prefix = "a/../b" }, "S3_PREFIX"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.mutate(&cfg)
			s, err := New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Var != c.want {
				t.Fatalf("New = %v; want a ConfigError naming %s", err, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("message %q does not name %s", err, c.want)
			}
			for _, secret := range []string{cfg.SecretAccessKey, "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("message %q shows a secret", err)
				}
			}
		})
	}
}

// TestServerIsStrict proves that the test server checks signatures, so the
// conformance suite passing means the signer is right: a wrong secret is
// 403, a wrong payload hash and a wrong region are 400.
func TestServerIsStrict(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	put := call{method: http.MethodPut, key: cfg.Prefix + "/strict", body: []byte("payload")}
	streamed := func() call {
		return call{method: http.MethodPut, key: cfg.Prefix + "/strict-streamed", stream: &stream{r: bytes.NewReader(make([]byte, 100<<10)), size: 100 << 10, whole: true}}
	}
	cases := []struct {
		name    string
		call    func() call
		signer  func(*Store)
		request func(*http.Request)
		status  int
	}{
		{"WrongSecret", nil, func(s *Store) { s.signer.Credentials.SecretAccessKey += "x" }, nil, http.StatusForbidden},
		{"WrongRegion", nil, func(s *Store) { s.signer.Region = "eu-north-7" }, nil, http.StatusBadRequest},
		{"WrongPayloadHash", nil, nil, func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("PAYLOAD")) }, http.StatusBadRequest},
		{"StreamedControl", streamed, nil, nil, http.StatusOK},
		{"StreamedWrongChunk", streamed, nil, func(r *http.Request) { r.Body = io.NopCloser(&flipByte{r: r.Body, at: 70 << 10}) }, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := newStore(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wd := newWatchdog(s.timeout, func() {})
			defer wd.stop()
			if c.signer != nil {
				c.signer(s)
			}
			c0 := put
			if c.call != nil {
				c0 = c.call()
			}
			req, err := s.newRequest(ctx, c0, wd, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.request != nil {
				c.request(req)
			}
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d (%s); want %d", resp.StatusCode, body, c.status)
			}
		})
	}
}

// flipByte changes one byte of the stream r.
type flipByte struct {
	r   io.Reader
	at  int64
	off int64
}

func (f *flipByte) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.off <= f.at && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 1
	}
	f.off += int64(n)
	return n, err
}

// TestStreamedPutMemory checks that a PUT of a whole part, below the
// multipart threshold, streams: the heap grows by far less than the blob.
func TestStreamedPutMemory(t *testing.T) {
	s := newTestStore(t, testConfig(t))
	size := s.partSize
	var err error
	peak := peakHeap(func() {
		err = s.Put(context.Background(), "ab/cd/one-part", io.LimitReader(zeros{}, size), size)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak heap growth streaming a %d MiB single-part PUT: %.0f KiB", size>>20, float64(peak)/(1<<10))
	if limit := uint64(1 << 20); peak > limit {
		t.Errorf("peak heap growth %d bytes; want at most %d, the blob is %d", peak, limit, size)
	}
	if got := storagetest.MustGet(t, s, "ab/cd/one-part"); int64(len(got)) != size || bytes.ContainsFunc(got, func(r rune) bool { return r != 0 }) {
		t.Errorf("read back %d bytes; want %d zero bytes", len(got), size)
	}
}

// TestMultipartRoundTrip puts blobs of several 5 MiB parts, of known size
// (streamed parts) and of unknown size (buffered parts), through the
// Bucket, and reads them back; the ETag tells how many parts the server
// assembled.
func TestMultipartRoundTrip(t *testing.T) {
	s := newTestStore(t, testConfig(t))
	b := storage.NewBucket("s3", s)
	ctx := context.Background()
	cases := []struct {
		name  string
		size  int
		known bool
		parts int // 0 for a single PUT
	}{
		{"Known3Parts", 2*MinPartSize + 12345, true, 3},
		{"Known12MiB", 12 << 20, true, 3},
		{"KnownExact2Parts", 2 * MinPartSize, true, 2},
		{"Unknown12MiB", 12 << 20, false, 3},
		{"UnknownExact2Parts", 2 * MinPartSize, false, 2},
		{"UnknownOnePart", MinPartSize, false, 0},
		{"UnknownOnePartPlusOne", MinPartSize + 1, false, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key := "ab/cd/" + c.name
			data := storagetest.RandomBytes(t, c.size)
			size := int64(c.size)
			if !c.known {
				size = -1
			}
			if err := b.Put(ctx, key, bytes.NewReader(data), size); err != nil {
				t.Fatal(err)
			}
			res, err := s.exec(ctx, call{method: http.MethodHead, key: s.objectKey(key)})
			if err != nil {
				t.Fatal(err)
			}
			etag := strings.Trim(res.header.Get("ETag"), `"`)
			_, n, multi := strings.Cut(etag, "-")
			if c.parts == 0 && multi || c.parts > 0 && n != strconv.Itoa(c.parts) {
				t.Errorf("ETag %s; want that of %d parts (0: a single PUT)", etag, c.parts)
			}
			if got := storagetest.MustGet(t, b, key); !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes that differ from the %d put", len(got), len(data))
			}
		})
	}
}

var errHalfway = errors.New("reader failed half-way on purpose")

// failAfter yields n zero bytes, then fails with err.
type failAfter struct {
	n   int
	err error
}

func (r *failAfter) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	p = p[:min(len(p), r.n)]
	clear(p)
	r.n -= len(p)
	return len(p), nil
}

// TestMultipartFailureLeavesNothing checks that a multipart upload failing
// half-way leaves no object and no pending upload.
func TestMultipartFailureLeavesNothing(t *testing.T) {
	s := newTestStore(t, testConfig(t))
	ctx := context.Background()
	t.Run("ReaderFails", func(t *testing.T) {
		key := "ab/cd/fails"
		err := s.Put(ctx, key, &failAfter{n: MinPartSize + MinPartSize/2, err: errHalfway}, 3*MinPartSize)
		if !errors.Is(err, errHalfway) {
			t.Fatalf("Put = %v; want the reader's error", err)
		}
		assertNothing(t, s, key)
	})
	t.Run("Cancelled", func(t *testing.T) {
		key := "ab/cd/cancelled"
		ctx, cancel := context.WithCancel(ctx)
		r := &failAfter{n: MinPartSize + MinPartSize/2, err: context.Canceled}
		err := s.Put(ctx, key, io.MultiReader(io.LimitReader(r, MinPartSize+1), readerFunc(func([]byte) (int, error) {
			cancel()
			return 0, context.Canceled
		})), 3*MinPartSize)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put = %v; want context.Canceled", err)
		}
		assertNothing(t, s, key)
	})
	t.Run("ListingSeesPendingUploads", func(t *testing.T) {
		// The control: without the abort, assertNothing would see the upload.
		key := "ab/cd/pending"
		id, err := s.initiate(ctx, s.objectKey(key))
		if err != nil {
			t.Fatal(err)
		}
		if got := pendingUploads(t, s, key); len(got) != 1 || got[0] != id {
			t.Fatalf("pending uploads %v; want [%s]", got, id)
		}
		if err := s.abort(ctx, s.objectKey(key), id); err != nil {
			t.Fatal(err)
		}
		assertNothing(t, s, key)
	})
	t.Run("TooLong", func(t *testing.T) {
		key := "ab/cd/toolong"
		err := storage.NewBucket("s3", s).Put(ctx, key, bytes.NewReader(make([]byte, 2*MinPartSize+2)), 2*MinPartSize+1)
		if !errors.Is(err, storage.ErrSizeMismatch) {
			t.Fatalf("Put of more bytes than declared = %v; want ErrSizeMismatch", err)
		}
		assertNothing(t, s, key)
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// assertNothing checks that key has no object and no pending upload.
func assertNothing(t *testing.T, s *Store, key string) {
	t.Helper()
	ctx := context.Background()
	if ok, err := s.Exists(ctx, key); err != nil || ok {
		t.Errorf("Exists(%q) = %v, %v; want false", key, ok, err)
	}
	if ids := pendingUploads(t, s, key); len(ids) != 0 {
		t.Errorf("pending multipart uploads left under %s: %v", key, ids)
	}
}

// pendingUploads lists the ids of the multipart uploads in progress for key.
func pendingUploads(t *testing.T, s *Store, key string) []string {
	t.Helper()
	name := s.objectKey(key)
	res, err := s.exec(context.Background(), call{method: http.MethodGet, query: "uploads=&prefix=" + queryEscape(name)})
	if err != nil {
		t.Fatalf("listing multipart uploads: %v", err)
	}
	var list struct {
		Uploads []struct {
			Key      string `xml:"Key"`
			UploadID string `xml:"UploadId"`
		} `xml:"Upload"`
	}
	if err := xml.Unmarshal(res.body, &list); err != nil {
		t.Fatalf("listing multipart uploads: %v in %s", err, res.body)
	}
	var ids []string
	for _, u := range list.Uploads {
		if u.Key == name {
			ids = append(ids, u.UploadID)
		}
	}
	return ids
}

// TestCancelDownload checks that cancelling the context stops a download
// in flight with the context's error.
func TestCancelDownload(t *testing.T) {
	s := newTestStore(t, testConfig(t))
	data := storagetest.RandomBytes(t, 24<<20)
	if err := s.Put(context.Background(), "ab/cd/big", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := s.Get(ctx, "ab/cd/big")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, context.Canceled) || errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("reading after cancel = %v; want context.Canceled only", err)
	}
	if n >= int64(len(data))-64<<10 {
		t.Fatalf("read all %d remaining bytes after cancel", n)
	}
}

// TestComposeOnServer checks that parts S3 accepts as the parts of a
// multipart upload are composed on the server (UploadPartCopy), and that
// others are left to the Bucket.
func TestComposeOnServer(t *testing.T) {
	storagetest.ComposeNative(t, newTestStore(t, testConfig(t)),
		[][]int{{1}, {MinPartSize, 1}, {MinPartSize + 3, MinPartSize, 10}},
		[][]int{{1, 1}, {MinPartSize - 1, 10}, {0}})
}
