package sigv4

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignStreamingAWSExample streams the chunked upload of the Amazon S3
// API Reference (66560 bytes of 'a' in 64 KiB chunks) and checks the
// request signature, the Content-Length and every byte of the encoded body
// against the documented ones.
func TestSignStreamingAWSExample(t *testing.T) {
	var ex s3Examples
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(vectorsDir(t), "s3-examples", "s3-examples.json"))), &ex); err != nil {
		t.Fatal(err)
	}
	var c *s3Case
	for i := range ex.Cases {
		if ex.Cases[i].Name == "put-object-chunked-seed" {
			c = &ex.Cases[i]
		}
	}
	if c == nil {
		t.Fatal("the chunked example is missing")
	}
	at, err := time.Parse(TimeFormat, ex.Date)
	if err != nil {
		t.Fatal(err)
	}
	s := Signer{Credentials: Credentials{AccessKeyID: ex.AccessKeyID, SecretAccessKey: ex.SecretAccessKey}, Region: ex.Region, Service: ex.Service}
	req := &http.Request{Method: http.MethodPut, URL: &url.URL{Scheme: "https", Path: "/examplebucket/chunkObject.txt"}, Host: "s3.amazonaws.com",
		Header: http.Header{"X-Amz-Storage-Class": {"REDUCED_REDUNDANCY"}}}
	const n = 66560
	body, err := s.SignStreaming(req, strings.NewReader(strings.Repeat("a", n)), n, 64<<10, at)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "authorization", strings.ReplaceAll(req.Header.Get(headerAuthorization), ", ", ","), c.Authorization)
	check(t, "content-length", strconv.FormatInt(req.ContentLength, 10), "66824")
	var final int
	body.BeforeFinal = func() error { final++; return nil }
	// Read in odd sizes, so frames are split across reads.
	var got bytes.Buffer
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{body}, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, ch := range c.Chunks {
		want.WriteString(strconv.FormatInt(int64(ch.Size), 16) + ";chunk-signature=" + ch.Signature + "\r\n")
		want.WriteString(strings.Repeat(ch.Fill, ch.Size) + "\r\n")
	}
	if got.String() != want.String() {
		t.Errorf("encoded body differs from the documented one (%d bytes, want %d)", got.Len(), want.Len())
	}
	if int64(got.Len()) != req.ContentLength {
		t.Errorf("encoded %d bytes; Content-Length says %d", got.Len(), req.ContentLength)
	}
	if final != 1 {
		t.Errorf("BeforeFinal called %d times; want once", final)
	}
}

// TestChunkedLength checks the encoded length against the encoder for
// sizes around chunk boundaries.
func TestChunkedLength(t *testing.T) {
	s := Signer{Credentials: Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}, Region: "us-east-1", Service: "s3"}
	const chunk = 8 << 10
	for _, n := range []int64{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 17, 16 * chunk} {
		req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1/b/k", nil)
		body, err := s.SignStreaming(req, bytes.NewReader(make([]byte, n)), n, chunk, suiteTime)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.Copy(io.Discard, body)
		if err != nil || got != req.ContentLength || got != ChunkedLength(n, chunk) {
			t.Errorf("n=%d: encoded %d bytes (err %v); ContentLength %d", n, got, err, req.ContentLength)
		}
		if req.Header.Get("X-Amz-Decoded-Content-Length") != strconv.FormatInt(n, 10) || req.Header.Get("Content-Encoding") != "aws-chunked" {
			t.Errorf("n=%d: headers %v", n, req.Header)
		}
	}
}

// TestChunkedBodyFailures checks that a short source fails the body with
// io.ErrUnexpectedEOF, that a refusal of BeforeFinal keeps the final chunk
// back, and that the source is never read beyond n bytes.
func TestChunkedBodyFailures(t *testing.T) {
	s := Signer{Credentials: Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}, Region: "us-east-1", Service: "s3"}
	req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1/b/k", nil)
	body, err := s.SignStreaming(req, strings.NewReader("short"), 10<<10, 0, suiteTime)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: %v; want io.ErrUnexpectedEOF", err)
	}

	refused := errors.New("refused")
	src := strings.NewReader(strings.Repeat("x", 20<<10) + "beyond")
	body, err = s.SignStreaming(req, src, 20<<10, 8<<10, suiteTime)
	if err != nil {
		t.Fatal(err)
	}
	body.BeforeFinal = func() error { return refused }
	n, err := io.Copy(io.Discard, body)
	if !errors.Is(err, refused) || n != ChunkedLength(20<<10, 8<<10)-chunkFrameLen(0) {
		t.Errorf("refused final chunk: %d bytes, %v; want every data chunk then the refusal", n, err)
	}
	if src.Len() != len("beyond") {
		t.Errorf("source read beyond n: %d bytes left, want %d", src.Len(), len("beyond"))
	}
}
