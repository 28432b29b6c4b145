package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// aws-chunked uploads, each payload mode, and every tampering of their
// framing, chunks and trailers. The chunks are signed with the package's
// signer (whose chunk signatures match AWS's published ones, see
// TestS3Examples) and the trailer by trailerSignature below, written from
// the S3 API Reference.

// frame is one aws-chunked chunk as sent.
type frame struct {
	size string // hex size field
	sig  string // chunk signature; "" in unsigned modes
	data []byte
}

// stream is an aws-chunked upload under construction.
type stream struct {
	mode     string
	frames   []frame
	trailer  [][2]string // name, value
	trailSig string      // x-amz-trailer-signature
	tail     string      // bytes after the final CRLF
	// minio writes the trailer as minio-go does: "name:value\n" lines,
	// a blank line, the signature line and a blank line (signed), or two
	// blank lines (unsigned); unsigned chunk headers end in ';'.
	minio bool
}

// streamSpec describes an upload to build.
type streamSpec struct {
	mode     string
	sizes    []int // data chunk sizes; the final empty chunk is added
	trailer  [][2]string
	declared string // X-Amz-Trailer; "" for none
	decoded  int64  // X-Amz-Decoded-Content-Length; -1 to omit
}

// testData returns n deterministic bytes.
func testData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

// encode serialises s.
func (s *stream) encode() []byte {
	var b bytes.Buffer
	for _, f := range s.frames {
		b.WriteString(f.size)
		if f.sig != "" {
			b.WriteString(";chunk-signature=" + f.sig)
		} else if s.minio && len(f.data) > 0 {
			b.WriteString(";")
		}
		b.WriteString("\r\n")
		if len(f.data) > 0 {
			b.Write(f.data)
			b.WriteString("\r\n")
		}
	}
	if s.mode == StreamingPayload {
		b.WriteString("\r\n")
	} else if s.minio {
		for _, h := range s.trailer {
			b.WriteString(h[0] + ":" + h[1] + "\n")
		}
		b.WriteString("\r\n")
		if s.trailSig != "" {
			b.WriteString("x-amz-trailer-signature:" + s.trailSig + "\r\n")
		}
		b.WriteString("\r\n")
	} else {
		for _, h := range s.trailer {
			b.WriteString(h[0] + ":" + h[1] + "\r\n")
		}
		if s.trailSig != "" {
			b.WriteString("x-amz-trailer-signature:" + s.trailSig + "\r\n")
		}
		b.WriteString("\r\n")
	}
	b.WriteString(s.tail)
	return b.Bytes()
}

// trailerSignature signs trailing headers as the S3 API Reference
// describes: HMAC of "AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n<previous
// signature>\n<hex sha256 of the 'name:value\n' lines>".
func trailerSignature(s *Signer, prev string, trailer [][2]string) string {
	var lines string
	for _, h := range trailer {
		lines += h[0] + ":" + h[1] + "\n"
	}
	sum := sha256.Sum256([]byte(lines))
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + tamperAt.Format(TimeFormat) + "\n" + s.scope(tamperAt) + "\n" + prev + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(s.signingKey(tamperAt), sts))
}

// newStream signs the headers of an upload of data by the AWS SDK and
// its chunks and trailer by the package's signer; it returns the request
// (without body) and the stream to encode into it. Content-Length is left
// out of the signature (the SDK signs it), so tests can change the
// framing alone.
func newStream(t testing.TB, spec streamSpec, data []byte) (*http.Request, *stream) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/chunked/object", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Content-Sha256", spec.mode)
	if spec.decoded >= 0 {
		req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(spec.decoded, 10))
	}
	if spec.declared != "" {
		req.Header.Set("X-Amz-Trailer", spec.declared)
	}
	s := &stream{mode: spec.mode, trailer: spec.trailer}
	off := 0
	for _, n := range append(spec.sizes, 0) {
		s.frames = append(s.frames, frame{size: strconv.FormatInt(int64(n), 16), data: data[off : off+n]})
		off += n
	}
	if err := newSDKSigner().SignHTTP(context.Background(), sdkCredentials(tamperCreds), req, spec.mode, "s3", tamperRegion, tamperAt); err != nil {
		t.Fatal(err)
	}
	if spec.mode == StreamingUnsignedPayloadTrailer {
		req.ContentLength = int64(len(s.encode()))
		return req, s
	}
	signer := &Signer{Credentials: tamperCreds, Region: tamperRegion, Service: "s3"}
	auth := req.Header.Get("Authorization")
	prev := auth[strings.LastIndex(auth, "=")+1:]
	for i := range s.frames {
		prev = signer.SignChunk(tamperAt, prev, s.frames[i].data)
		s.frames[i].sig = prev
	}
	if spec.mode == StreamingPayloadTrailer {
		s.trailSig = trailerSignature(signer, prev, spec.trailer)
	}
	req.ContentLength = int64(len(s.encode()))
	return req, s
}

// send attaches body to req and verifies it, returning what the body
// yielded before its error or io.EOF, and the Verified.
func send(t testing.TB, req *http.Request, body []byte) ([]byte, *Verified, error) {
	t.Helper()
	return readVerified(withBody(req, body))
}

// readVerified verifies req and reads its body in small reads.
func readVerified(req *http.Request) ([]byte, *Verified, error) {
	vd, err := tamperVerifier().Verify(req)
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	buf := make([]byte, 1000) // small reads cross chunk boundaries
	for {
		n, err := vd.Body.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), vd, nil
		}
		if err != nil {
			return out.Bytes(), vd, err
		}
	}
}

var crc = [][2]string{{"x-amz-checksum-crc32c", "sOO8/Q=="}}

// TestVerifierStreamingModes uploads in every aws-chunked mode, with
// chunks of several sizes and the trailer written as the AWS SDKs and as
// minio-go write it, and checks the decoded body and the trailer.
func TestVerifierStreamingModes(t *testing.T) {
	for _, mode := range []string{StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer} {
		for i, sizes := range [][]int{{}, {1}, {8192, 8192, 1}, {65536, 65536, 1024}, {200000}, {9000, 5}} {
			total := 0
			for _, n := range sizes {
				total += n
			}
			spec := streamSpec{mode: mode, sizes: sizes, decoded: int64(total)}
			if mode != StreamingPayload {
				spec.trailer, spec.declared = crc, "x-amz-checksum-crc32c"
			}
			data := testData(total)
			req, s := newStream(t, spec, data)
			s.minio = i%2 == 1
			body := s.encode()
			req.ContentLength = int64(len(body))
			got, vd, err := readVerified(wire(t, withBody(req, body)))
			if err != nil {
				t.Fatalf("%s %v: %v", mode, sizes, err)
			}
			if !bytes.Equal(got, data) || vd.DecodedLength != int64(total) {
				t.Fatalf("%s %v: decoded %d bytes (DecodedLength %d), want %d", mode, sizes, len(got), vd.DecodedLength, total)
			}
			if tr := vd.Trailer(); mode != StreamingPayload && (len(tr) != 1 || tr.Get("x-amz-checksum-crc32c") != "sOO8/Q==") {
				t.Fatalf("%s: trailer %v", mode, tr)
			}
		}
	}
}

// withBody gives req the body b (for wire, which reads it).
func withBody(req *http.Request, b []byte) *http.Request {
	req.Body = io.NopCloser(bytes.NewReader(b))
	return req
}

// TestVerifierStreamingTampering changes one thing of a valid upload at a
// time. The body must fail with the code, never end in io.EOF, and must
// not yield any byte past the chunk that failed.
func TestVerifierStreamingTampering(t *testing.T) {
	sizes := []int{9000, 9000, 9000, 100}
	data := testData(27100)
	signed := streamSpec{mode: StreamingPayloadTrailer, sizes: sizes, trailer: crc, declared: "x-amz-checksum-crc32c", decoded: 27100}
	plain := signed
	plain.mode = StreamingPayload
	plain.trailer, plain.declared = nil, ""
	unsigned := signed
	unsigned.mode = StreamingUnsignedPayloadTrailer
	cases := []struct {
		name   string
		spec   streamSpec
		tamper func(s *stream)
		code   string
		maxOut int // bytes the body may yield before failing
	}{
		{"chunk byte", signed, func(s *stream) { s.frames[1].data[5] ^= 1 }, "SignatureDoesNotMatch", 18000},
		{"chunk byte no trailer", plain, func(s *stream) { s.frames[2].data[8999] ^= 0x80 }, "SignatureDoesNotMatch", 27000},
		{"chunk signature", signed, func(s *stream) { s.frames[0].sig = s.frames[1].sig }, "SignatureDoesNotMatch", 9000},
		{"chunk signature missing", signed, func(s *stream) { s.frames[1].sig = "" }, "SignatureDoesNotMatch", 9000},
		{"chunks swapped", signed, func(s *stream) { s.frames[0], s.frames[1] = s.frames[1], s.frames[0] }, "SignatureDoesNotMatch", 9000},
		{"chunk dropped", signed, func(s *stream) { s.frames = append(s.frames[:1], s.frames[2:]...) }, "SignatureDoesNotMatch", 18000},
		{"final chunk signature", plain, func(s *stream) { s.frames[4].sig = s.frames[3].sig }, "SignatureDoesNotMatch", 27100},
		{"trailer value", signed, func(s *stream) { s.trailer = [][2]string{{"x-amz-checksum-crc32c", "AAAAAA=="}} }, "SignatureDoesNotMatch", 27100},
		{"trailer signature", signed, func(s *stream) { s.trailSig = s.frames[4].sig }, "SignatureDoesNotMatch", 27100},
		{"trailer signature missing", signed, func(s *stream) { s.trailSig = "" }, "SignatureDoesNotMatch", 27100},
		{"trailer undeclared", unsigned, func(s *stream) { s.trailer = append(s.trailer, [2]string{"x-amz-meta-a", "b"}) }, "MalformedTrailerError", 27100},
		{"trailer missing", unsigned, func(s *stream) { s.trailer = nil }, "MalformedTrailerError", 27100},
		{"trailer repeated", unsigned, func(s *stream) { s.trailer = append(s.trailer, s.trailer[0]) }, "MalformedTrailerError", 27100},
		{"bytes after the end", plain, func(s *stream) { s.tail = "x" }, "InvalidRequest", 27100},
		{"line after the trailer signature", signed, func(s *stream) { s.tail = "x-amz-meta-a:b\r\n\r\n" }, "MalformedTrailerError", 27100},
		{"trailer not ended", unsigned, func(s *stream) { s.tail = "x" }, "IncompleteBody", 27100},
		{"chunk size beyond the body", unsigned, func(s *stream) { s.frames[3].size = "200" }, "InvalidChunkSizeError", 27000},
		{"chunk size not hex", unsigned, func(s *stream) { s.frames[1].size = "2z" }, "InvalidChunkSizeError", 9000},
		{"chunk size signed", unsigned, func(s *stream) { s.frames[1].size = "+2328" }, "InvalidChunkSizeError", 9000},
		{"absurd chunk size", unsigned, func(s *stream) { s.frames[0].size = "7fffffffffffffff" }, "InvalidChunkSizeError", 0},
		{"huge chunk size", unsigned, func(s *stream) { s.frames[0].size = "10000000000000000" }, "InvalidChunkSizeError", 0},
		{"chunk data short", unsigned, func(s *stream) { s.frames[1].size = "2329" }, "InvalidRequest", 18001},
		{"small chunk not last", streamSpec{mode: StreamingPayload, sizes: []int{100, 9000}, decoded: 9100}, func(*stream) {}, "InvalidChunkSizeError", 100},
		{"decoded length larger", streamSpec{mode: StreamingPayload, sizes: []int{9000}, decoded: 9001}, func(*stream) {}, "IncompleteBody", 9000},
		{"decoded length smaller", streamSpec{mode: StreamingUnsignedPayloadTrailer, sizes: []int{9000}, decoded: 8999}, func(*stream) {}, "InvalidChunkSizeError", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, s := newStream(t, c.spec, bytes.Clone(data))
			c.tamper(s)
			req.ContentLength = -1 // sent chunked: the framing is what changed
			got, _, err := send(t, req, s.encode())
			wantCode(t, err, c.code)
			if len(got) > c.maxOut {
				t.Fatalf("the body yielded %d bytes before failing, more than %d", len(got), c.maxOut)
			}
		})
	}
}

// TestVerifierStreamingTruncated cuts a valid upload at every kind of
// place: IncompleteBody, never io.EOF.
func TestVerifierStreamingTruncated(t *testing.T) {
	for _, mode := range []string{StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer} {
		spec := streamSpec{mode: mode, sizes: []int{9000, 50}, decoded: 9050}
		if mode != StreamingPayload {
			spec.trailer, spec.declared = crc, "x-amz-checksum-crc32c"
		}
		req, s := newStream(t, spec, testData(9050))
		body := s.encode()
		for _, cut := range []int{0, 3, 100, 9000, len(body) - 100, len(body) - 3, len(body) - 1} {
			r := req.Clone(context.Background())
			r.ContentLength = -1
			_, _, err := send(t, r, body[:cut])
			wantCode(t, err, "IncompleteBody")
		}
	}
}

// TestVerifierStreamingFixedMemory sends a chunk header claiming 2^60
// bytes: the decoder allocates nothing in proportion.
func TestVerifierStreamingFixedMemory(t *testing.T) {
	spec := streamSpec{mode: StreamingUnsignedPayloadTrailer, sizes: []int{10}, trailer: crc, declared: "x-amz-checksum-crc32c", decoded: -1}
	req, s := newStream(t, spec, testData(10))
	s.frames[0].size = "fffffffffffffff"
	body := s.encode()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, vd, err := send(t, req, body)
	runtime.ReadMemStats(&after)
	wantCode(t, err, "IncompleteBody")
	if vd.DecodedLength != -1 {
		t.Fatalf("DecodedLength %d without X-Amz-Decoded-Content-Length, want -1", vd.DecodedLength)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("verifying allocated %d bytes", grew)
	}
}

// closeRecorder is a request body that records being closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error {
	c.closed = true
	return nil
}

// TestVerifierTrailerBeforeEOF checks that the trailer is hidden until
// the body is read to its end, and that closing the body closes the
// request's.
func TestVerifierTrailerBeforeEOF(t *testing.T) {
	spec := streamSpec{mode: StreamingPayloadTrailer, sizes: []int{9000}, trailer: crc, declared: "x-amz-checksum-crc32c", decoded: 9000}
	req, s := newStream(t, spec, testData(9000))
	src := &closeRecorder{Reader: bytes.NewReader(s.encode())}
	req.Body = src
	vd, err := tamperVerifier().Verify(req)
	if err != nil {
		t.Fatal(err)
	}
	if vd.Trailer() != nil {
		t.Fatal("trailer visible before the body was read")
	}
	if _, err := io.ReadAll(vd.Body); err != nil {
		t.Fatal(err)
	}
	if vd.Trailer().Get("x-amz-checksum-crc32c") != "sOO8/Q==" {
		t.Fatalf("trailer %v", vd.Trailer())
	}
	if err := vd.Body.Close(); err != nil || !src.closed {
		t.Fatalf("Close: %v, request body closed %v", err, src.closed)
	}
}

// FuzzChunkedBody feeds arbitrary bodies to the decoder of each mode: it
// never panics, yields at most the declared length, and ends in io.EOF
// only with exactly that many bytes.
func FuzzChunkedBody(f *testing.F) {
	for _, mode := range []string{StreamingPayload, StreamingUnsignedPayloadTrailer} {
		spec := streamSpec{mode: mode, sizes: []int{9000, 7}, decoded: 9007}
		if mode != StreamingPayload {
			spec.trailer, spec.declared = crc, "x-amz-checksum-crc32c"
		}
		_, s := newStream(f, spec, testData(9007))
		f.Add(s.encode(), mode == StreamingPayload)
	}
	f.Add([]byte("0\r\n\r\n"), false)
	f.Add([]byte("fffffffffffffff\r\n"), false)
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		spec := streamSpec{mode: StreamingUnsignedPayloadTrailer, trailer: crc, declared: "x-amz-checksum-crc32c", decoded: 9007}
		if signed {
			spec = streamSpec{mode: StreamingPayload, decoded: 9007}
		}
		req, _ := newStream(t, spec, nil)
		req.ContentLength = -1
		got, _, err := send(t, req, body)
		if len(got) > 9007 || len(got) > len(body) {
			t.Fatalf("yielded %d bytes from %d", len(got), len(body))
		}
		if err == nil && len(got) != 9007 {
			t.Fatalf("io.EOF after %d bytes of 9007", len(got))
		}
	})
}

// BenchmarkVerifyStreaming measures verifying a 1 MiB upload in each
// payload mode (64 KiB chunks for aws-chunked).
func BenchmarkVerifyStreaming(b *testing.B) {
	const n = 1 << 20
	data := testData(n)
	sizes := make([]int, n/(64<<10))
	for i := range sizes {
		sizes[i] = 64 << 10
	}
	for _, mode := range []string{StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer, "sha256", UnsignedPayload} {
		b.Run(mode, func(b *testing.B) {
			var req *http.Request
			var body []byte
			if mode == "sha256" || mode == UnsignedPayload {
				hash := mode
				if mode == "sha256" {
					hash = PayloadHash(data)
				}
				r, err := http.NewRequest(http.MethodPut, "http://127.0.0.1:9000/bucket/object", nil)
				if err != nil {
					b.Fatal(err)
				}
				r.Header.Set("X-Amz-Content-Sha256", hash)
				r.ContentLength = n
				if err := newSDKSigner().SignHTTP(context.Background(), sdkCredentials(tamperCreds), r, hash, "s3", tamperRegion, tamperAt); err != nil {
					b.Fatal(err)
				}
				req, body = r, data
			} else {
				spec := streamSpec{mode: mode, sizes: sizes, decoded: n}
				if mode != StreamingPayload {
					spec.trailer, spec.declared = crc, "x-amz-checksum-crc32c"
				}
				r, s := newStream(b, spec, data)
				req, body = r, s.encode()
			}
			v := tamperVerifier()
			buf := make([]byte, 32<<10)
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				req.Body = io.NopCloser(bytes.NewReader(body))
				vd, err := v.Verify(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{vd.Body}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
