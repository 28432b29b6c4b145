package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/simpledrive/simpledrive/internal/client"
)

// tusServer is the least of a server a tus upload needs: it creates one
// upload, appends PATCH bodies at their offset, answers the blob object
// of what it received, and HEAD with the offset and with digest as
// Repr-Digest.
type tusServer struct {
	mu     sync.Mutex
	data   []byte
	digest string
}

func (s *tusServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPost:
		w.Header().Set("Location", "/v1/uploads/u1")
		w.WriteHeader(http.StatusCreated)
	case http.MethodPatch:
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Header.Get("Upload-Offset") != strconv.Itoa(len(s.data)) {
			w.WriteHeader(http.StatusConflict)
			return
		}
		s.data = append(s.data, body...)
		w.Header().Set("Upload-Offset", strconv.Itoa(len(s.data)))
		w.WriteHeader(http.StatusNoContent)
	case http.MethodHead:
		w.Header().Set("Upload-Offset", strconv.Itoa(len(s.data)))
		w.Header().Set("Repr-Digest", s.digest)
	case http.MethodGet:
		json.NewEncoder(w).Encode(client.Blob{ID: "big", Size: int64(len(s.data)), SHA256: fmt.Sprintf("%x", sha256.Sum256(s.data))})
	}
}

// patchBodies notes, for each PATCH, whether its body is a syscall.Conn:
// what net/http's transport sends with sendfile.
type patchBodies struct {
	mu          sync.Mutex
	conn, other int
}

func (p *patchBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch {
		_, ok := r.Body.(syscall.Conn)
		p.mu.Lock()
		if ok {
			p.conn++
		} else {
			p.other++
		}
		p.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestUploadSendsFilesFromOwnDescriptor uploads an *os.File in PATCHes of
// 1 MiB: each body is a file the transport can sendfile, opened again so
// that it has a position of its own (the caller's stays where it was),
// and the bytes, the count sent and the last progress are the file's.
// Any other io.ReaderAt is read through, with the same outcome.
func TestUploadSendsFilesFromOwnDescriptor(t *testing.T) {
	const size = 3<<20 + 1
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		file        io.ReaderAt
		conn, other int
	}{{"file", f, 4, 0}, {"reader", bytes.NewReader(data), 0, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			s := &tusServer{}
			srv := httptest.NewServer(s)
			defer srv.Close()
			bodies := &patchBodies{}
			c, err := client.New(srv.URL, "token", &http.Client{Transport: bodies})
			if err != nil {
				t.Fatal(err)
			}
			var last int64
			res, err := c.Upload(context.Background(), client.Upload{ID: "big", File: tc.file, Size: size, ChunkSize: 1 << 20,
				Progress: func(n int64) { last = n }})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(s.data, data) || res.Sent != size || last != size {
				t.Errorf("the server got %d bytes (the file's: %v), Sent %d, last progress %d; want the file's %d", len(s.data), bytes.Equal(s.data, data), res.Sent, last, size)
			}
			if bodies.conn != tc.conn || bodies.other != tc.other {
				t.Errorf("PATCH bodies: %d syscall.Conn, %d others; want %d and %d", bodies.conn, bodies.other, tc.conn, tc.other)
			}
		})
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 100 {
		t.Errorf("the caller's file is at %d (%v) after the upload; want it left at 100", pos, err)
	}
}

// TestDigests reads the checksums of HEAD ?alt=media's Repr-Digest: the
// CRC-32C only when the server sent one, an error without a SHA-256, and
// none at all from an answer without the field.
func TestDigests(t *testing.T) {
	sha := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		field  string
		hasCRC bool
		crc    uint32
		fails  bool
	}{
		{"sha-256=:LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=:, crc32c=:qTxfkw==:", true, 0xa93c5f93, false},
		{"sha-256=:LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=:", false, 0, false},
		{"crc32c=:qTxfkw==:", false, 0, true},
		{"sha-256=LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=", false, 0, true},
		{"", false, 0, false},
	} {
		srv := httptest.NewServer(&tusServer{digest: tc.field})
		c, err := client.New(srv.URL, "token", nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.Digests(context.Background(), "x")
		srv.Close()
		switch {
		case tc.fails && err == nil:
			t.Errorf("Repr-Digest %q: %+v, want an error", tc.field, d)
		case tc.field == "" && (err != nil || d.SHA256 != nil || d.HasCRC32C):
			t.Errorf("no Repr-Digest: %+v, %v; want zero Digests", d, err)
		case tc.field == "":
		case !tc.fails && (err != nil || !bytes.Equal(d.SHA256, sha[:]) || d.HasCRC32C != tc.hasCRC || d.CRC32C != tc.crc):
			t.Errorf("Repr-Digest %q: %+v, %v; want the SHA-256 and CRC-32C of \"x\" (%v, %08x)", tc.field, d, err, tc.hasCRC, tc.crc)
		}
	}
}
