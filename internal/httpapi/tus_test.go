package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simpledrive/simpledrive/internal/config"
	"github.com/simpledrive/simpledrive/internal/testenv"
)

// TestTusUploads runs the tus 1.0.0 protocol through the real HTTP stack on
// every stack.
func TestTusUploads(t *testing.T) {
	cases := []struct {
		name string
		fn   func(t *testing.T, h *tusHarness)
	}{
		{"Options", testTusOptions},
		{"CreateAndPatches", testTusCreateAndPatches},
		{"ResumeAfterCut", testTusResumeAfterCut},
		{"ChecksumMismatch", testTusChecksum},
		{"Termination", testTusTermination},
		{"CreationWithUpload", testTusCreationWithUpload},
		{"DeferLength", testTusDeferLength},
		{"WrongOffset", testTusWrongOffset},
		{"MissingTusResumable", testTusMissingResumable},
		{"CreationRefusals", testTusCreationRefusals},
		{"LostRace", testTusLostRace},
		{"ZeroLength", testTusZeroLength},
	}
	for _, s := range stacks {
		t.Run(s.name, func(t *testing.T) {
			testenv.SkipStackUnderRace(t, s.name)
			h := startTus(t, s)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					c.fn(t, &tusHarness{harness: &harness{t: t, url: h.url}, patched: h.patched, streamsParts: strings.HasPrefix(s.name, "s3")})
				})
			}
			t.Run("Expiry", func(t *testing.T) {
				testTusExpiry(t, startTus(t, s, func(c *config.Config) { c.UploadExpiry = time.Nanosecond }))
			})
		})
	}
}

// tusHarness is a server whose handler reports each PATCH it has finished
// serving on patched, so tests can wait for the server's side of a cut
// request without sleeping.
type tusHarness struct {
	*harness
	patched chan struct{}
	// streamsParts is set for a backend that would buffer a part of
	// unknown size (s3): a PATCH of known length then streams, and keeps
	// nothing unless it arrives whole.
	streamsParts bool
}

func startTus(t *testing.T, s stack, edit ...func(*config.Config)) *tusHarness {
	t.Helper()
	return serveTus(t, startApp(t, s, edit...))
}

func serveTus(t *testing.T, app http.Handler) *tusHarness {
	patched := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.ServeHTTP(w, r)
		if r.Method == http.MethodPatch {
			patched <- struct{}{}
		}
	}))
	t.Cleanup(srv.Close)
	return &tusHarness{harness: &harness{t: t, url: srv.URL}, patched: patched}
}

// drainPatched forgets the PATCHes reported so far.
func (h *tusHarness) drainPatched() {
	for {
		select {
		case <-h.patched:
		default:
			return
		}
	}
}

// tus sends a tus request: Tus-Resumable unless headers say otherwise.
func (h *tusHarness) tus(method, path string, body []byte, headers map[string]string) response {
	h.t.Helper()
	all := map[string]string{"Tus-Resumable": "1.0.0", "Content-Type": ""}
	for k, v := range headers {
		all[k] = v
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
		if all["Content-Type"] == "" {
			all["Content-Type"] = "application/offset+octet-stream"
		}
	}
	return h.request(method, path, r, all)
}

func metadata(pairs ...string) string {
	var parts []string
	for i := 0; i < len(pairs); i += 2 {
		parts = append(parts, pairs[i]+" "+base64.StdEncoding.EncodeToString([]byte(pairs[i+1])))
	}
	return strings.Join(parts, ",")
}

// create creates an upload of length bytes (-1: deferred) for id and
// returns its path.
func (h *tusHarness) create(id string, length int64, extra ...string) string {
	h.t.Helper()
	headers := map[string]string{"Upload-Metadata": metadata(append([]string{"id", id}, extra...)...)}
	if length < 0 {
		headers["Upload-Defer-Length"] = "1"
	} else {
		headers["Upload-Length"] = strconv.FormatInt(length, 10)
	}
	r := h.tus(http.MethodPost, "/v1/uploads", nil, headers)
	expectStatus(h.t, r, http.StatusCreated)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/v1/uploads/") || r.Header.Get("Tus-Resumable") != "1.0.0" || (r.Header.Get("Upload-Expires") == "") != (length == 0) {
		h.t.Fatalf("creation: Location %q, Tus-Resumable %q, Upload-Expires %q", loc, r.Header.Get("Tus-Resumable"), r.Header.Get("Upload-Expires"))
	}
	return loc
}

func (h *tusHarness) patch(loc string, offset int64, data []byte, headers map[string]string) response {
	h.t.Helper()
	all := map[string]string{"Upload-Offset": strconv.FormatInt(offset, 10)}
	for k, v := range headers {
		all[k] = v
	}
	return h.tus(http.MethodPatch, loc, data, all)
}

func (h *tusHarness) offset(loc string) int64 {
	h.t.Helper()
	r := h.tus(http.MethodHead, loc, nil, nil)
	expectStatus(h.t, r, http.StatusOK)
	n, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		h.t.Fatalf("HEAD: Upload-Offset %q", r.Header.Get("Upload-Offset"))
	}
	return n
}

// expectBlob fails unless the blob id holds data.
func (h *tusHarness) expectBlob(id string, data []byte, contentType string) {
	h.t.Helper()
	r := h.request(http.MethodGet, blobPath(id)+"?alt=media", nil, nil)
	expectStatus(h.t, r, http.StatusOK)
	if !bytes.Equal(r.body, data) {
		h.t.Fatalf("blob %q: %d bytes differ from the %d uploaded", id, len(r.body), len(data))
	}
	if contentType != "" && r.Header.Get("Content-Type") != contentType {
		h.t.Fatalf("blob %q: Content-Type %q; want %q", id, r.Header.Get("Content-Type"), contentType)
	}
	if got, want := r.Header.Get("X-Amz-Checksum-Crc32c"), crc32cBase64(data); got != want {
		h.t.Fatalf("blob %q: x-amz-checksum-crc32c %q; want %q (the assembled blob's CRC-32C)", id, got, want)
	}
}

func testData(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed ^ byte(i>>11)
	}
	return b
}

func testTusOptions(t *testing.T, h *tusHarness) {
	r := h.tus(http.MethodOptions, "/v1/uploads", nil, map[string]string{"Tus-Resumable": ""})
	expectStatus(t, r, http.StatusNoContent)
	for name, want := range map[string]string{
		"Tus-Version":            "1.0.0",
		"Tus-Extension":          "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum",
		"Tus-Checksum-Algorithm": "sha256",
	} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s = %q; want %q", name, got, want)
		}
	}
	if n, err := strconv.ParseInt(r.Header.Get("Tus-Max-Size"), 10, 64); err != nil || n <= 0 {
		t.Errorf("Tus-Max-Size = %q", r.Header.Get("Tus-Max-Size"))
	}
	expectProblem(t, h.tus(http.MethodPost, "/v1/uploads", nil, map[string]string{"Authorization": ""}), http.StatusUnauthorized, "unauthorized")
}

func testTusCreateAndPatches(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "big file.bin")
	data := testData(3<<20+7, 1)
	loc := h.create(id, int64(len(data)), "content_type", "video/mp4")
	for off := 0; off < len(data); {
		end := min(off+1<<20+3, len(data))
		r := h.patch(loc, int64(off), data[off:end], nil)
		expectStatus(t, r, http.StatusNoContent)
		if got := r.Header.Get("Upload-Offset"); got != strconv.Itoa(end) {
			t.Fatalf("PATCH: Upload-Offset %q; want %d", got, end)
		}
		if end < len(data) && h.offset(loc) != int64(end) {
			t.Fatalf("HEAD after a PATCH to %d: offset %d", end, h.offset(loc))
		}
		off = end
	}
	head := h.tus(http.MethodHead, loc, nil, nil)
	if head.Header.Get("Upload-Length") != strconv.Itoa(len(data)) || head.Header.Get("Upload-Metadata") == "" {
		t.Fatalf("HEAD of a finished upload: %v", head.Header)
	}
	h.expectBlob(id, data, "video/mp4")
}

// testTusResumeAfterCut sends half a PATCH's body and closes the
// connection, waits until the server has finished with that PATCH, asks
// the offset with HEAD and sends the rest: the bytes that arrived are
// kept, except where PATCHes stream (none are).
func testTusResumeAfterCut(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "resumed")
	data := testData(2<<20, 2)
	loc := h.create(id, int64(len(data)))
	h.drainPatched()
	u, _ := url.Parse(h.url)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	half := len(data) / 2
	fmt.Fprintf(c, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", loc, token, len(data))
	if _, err := c.Write(data[:half]); err != nil {
		t.Fatal(err)
	}
	c.Close() // the client dies mid-PATCH
	<-h.patched
	got := h.offset(loc)
	switch {
	case h.streamsParts && got != 0:
		t.Fatalf("offset after a streamed PATCH cut after %d bytes = %d; want 0", half, got)
	case !h.streamsParts && (got <= 0 || got > int64(half)):
		t.Fatalf("offset after a PATCH cut after %d bytes = %d; want the bytes that arrived kept", half, got)
	}
	expectStatus(t, h.patch(loc, got, data[got:], nil), http.StatusNoContent)
	h.expectBlob(id, data, "application/octet-stream")
}

func checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256 " + base64.StdEncoding.EncodeToString(sum[:])
}

func testTusChecksum(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "checked")
	data := testData(300<<10, 3)
	loc := h.create(id, int64(len(data)))
	r := h.patch(loc, 0, data[:100<<10], map[string]string{"Upload-Checksum": checksum(data[1 : 100<<10+1])})
	expectProblem(t, r, 460, "checksum_mismatch")
	if h.offset(loc) != 0 {
		t.Fatal("a PATCH failing its checksum moved the offset")
	}
	expectProblem(t, h.patch(loc, 0, data, map[string]string{"Upload-Checksum": "md5 " + base64.StdEncoding.EncodeToString(make([]byte, 16))}),
		http.StatusBadRequest, "invalid_request")
	expectStatus(t, h.patch(loc, 0, data[:100<<10], map[string]string{"Upload-Checksum": checksum(data[:100<<10])}), http.StatusNoContent)
	expectStatus(t, h.patch(loc, 100<<10, data[100<<10:], map[string]string{"Upload-Checksum": checksum(data[100<<10:])}), http.StatusNoContent)
	h.expectBlob(id, data, "")
}

func testTusTermination(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "terminated")
	loc := h.create(id, 10)
	expectStatus(t, h.patch(loc, 0, []byte("01234"), nil), http.StatusNoContent)
	expectStatus(t, h.tus(http.MethodDelete, loc, nil, nil), http.StatusNoContent)
	expectStatus(t, h.tus(http.MethodHead, loc, nil, nil), http.StatusNotFound)
	expectProblem(t, h.patch(loc, 5, []byte("56789"), nil), http.StatusNotFound, "upload_not_found")
	expectProblem(t, h.tus(http.MethodDelete, loc, nil, nil), http.StatusNotFound, "upload_not_found")
	expectStatus(t, h.get(id), http.StatusNotFound)
	expectProblem(t, h.tus(http.MethodDelete, "/v1/uploads/not-an-upload", nil, nil), http.StatusNotFound, "upload_not_found")
}

func testTusCreationWithUpload(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "one-shot")
	data := testData(200<<10, 4)
	r := h.tus(http.MethodPost, "/v1/uploads", data, map[string]string{
		"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": metadata("id", id, "content_type", "image/png"),
	})
	expectStatus(t, r, http.StatusCreated)
	if r.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("creation with the whole upload: Upload-Offset %q", r.Header.Get("Upload-Offset"))
	}
	h.expectBlob(id, data, "image/png")

	id = uniqueID(t, "partial")
	r = h.tus(http.MethodPost, "/v1/uploads", data[:1000], map[string]string{
		"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": metadata("filename", id),
	})
	expectStatus(t, r, http.StatusCreated)
	if r.Header.Get("Upload-Offset") != "1000" {
		t.Fatalf("creation with part of the upload: Upload-Offset %q", r.Header.Get("Upload-Offset"))
	}
	expectStatus(t, h.patch(r.Header.Get("Location"), 1000, data[1000:], nil), http.StatusNoContent)
	h.expectBlob(id, data, "")
}

func testTusDeferLength(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "deferred")
	data := testData(70<<10, 5)
	loc := h.create(id, -1)
	head := h.tus(http.MethodHead, loc, nil, nil)
	if head.Header.Get("Upload-Defer-Length") != "1" || head.Header.Get("Upload-Length") != "" {
		t.Fatalf("HEAD of a deferred upload: %v", head.Header)
	}
	expectStatus(t, h.patch(loc, 0, data[:30<<10], nil), http.StatusNoContent)
	expectStatus(t, h.patch(loc, 30<<10, data[30<<10:], map[string]string{"Upload-Length": strconv.Itoa(len(data))}), http.StatusNoContent)
	h.expectBlob(id, data, "")
}

func testTusWrongOffset(t *testing.T, h *tusHarness) {
	loc := h.create(uniqueID(t, "offsets"), 10)
	r := h.patch(loc, 3, []byte("345"), nil)
	expectProblem(t, r, http.StatusConflict, "offset_mismatch")
	if r.Header.Get("Upload-Offset") != "0" {
		t.Errorf("409: Upload-Offset %q; want the upload's, 0", r.Header.Get("Upload-Offset"))
	}
	expectProblem(t, h.patch(loc, 0, []byte("0123456789A"), nil), http.StatusRequestEntityTooLarge, "too_large")
	expectProblem(t, h.tus(http.MethodPatch, loc, []byte("0"), map[string]string{"Upload-Offset": "-1"}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, h.tus(http.MethodPatch, loc, []byte("0"), map[string]string{"Upload-Offset": "0", "Content-Type": "text/plain"}),
		http.StatusUnsupportedMediaType, "unsupported_media_type")
	if h.offset(loc) != 0 {
		t.Fatal("refused PATCHes moved the offset")
	}
}

func testTusMissingResumable(t *testing.T, h *tusHarness) {
	loc := h.create(uniqueID(t, "versions"), 10)
	for _, v := range []string{"", "0.2.2"} {
		r := h.patch(loc, 0, []byte("01"), map[string]string{"Tus-Resumable": v})
		expectProblem(t, r, http.StatusPreconditionFailed, "unsupported_tus_version")
		if r.Header.Get("Tus-Version") != "1.0.0" {
			t.Errorf("412 without Tus-Version")
		}
	}
	r := h.tus(http.MethodPost, "/v1/uploads", nil, map[string]string{"Tus-Resumable": "", "Upload-Length": "1", "Upload-Metadata": metadata("id", "x")})
	expectProblem(t, r, http.StatusPreconditionFailed, "unsupported_tus_version")
	if h.offset(loc) != 0 {
		t.Fatal("a refused PATCH moved the offset")
	}
}

func testTusCreationRefusals(t *testing.T, h *tusHarness) {
	taken := uniqueID(t, "taken")
	expectStatus(t, h.putRaw(taken, []byte("x"), nil), http.StatusCreated)
	post := func(headers map[string]string) response {
		return h.tus(http.MethodPost, "/v1/uploads", nil, headers)
	}
	expectProblem(t, post(map[string]string{"Upload-Length": "5", "Upload-Metadata": metadata("id", taken)}), http.StatusConflict, "blob_exists")
	expectProblem(t, post(map[string]string{"Upload-Length": "5", "Upload-Metadata": metadata("id", "bad\x01id")}), http.StatusBadRequest, "invalid_id")
	expectProblem(t, post(map[string]string{"Upload-Length": "5", "Upload-Metadata": "id " + base64.StdEncoding.EncodeToString([]byte{0xff})}), http.StatusBadRequest, "invalid_id")
	expectProblem(t, post(map[string]string{"Upload-Length": "5"}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, post(map[string]string{"Upload-Length": "5", "Upload-Metadata": "id !!!"}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, post(map[string]string{"Upload-Metadata": metadata("id", "x")}), http.StatusBadRequest, "invalid_request")
	expectProblem(t, post(map[string]string{"Upload-Length": "99999999999999", "Upload-Metadata": metadata("id", "x")}), http.StatusRequestEntityTooLarge, "too_large")
}

func testTusLostRace(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "raced")
	a, b := h.create(id, 3), h.create(id, 3)
	expectStatus(t, h.patch(a, 0, []byte("aaa"), nil), http.StatusNoContent)
	expectProblem(t, h.patch(b, 0, []byte("bbb"), nil), http.StatusConflict, "blob_exists")
	expectStatus(t, h.tus(http.MethodHead, b, nil, nil), http.StatusNotFound)
	h.expectBlob(id, []byte("aaa"), "")
}

func testTusZeroLength(t *testing.T, h *tusHarness) {
	id := uniqueID(t, "empty")
	loc := h.create(id, 0)
	if h.offset(loc) != 0 {
		t.Fatal("offset of an empty upload")
	}
	h.expectBlob(id, []byte{}, "")
}

// testTusExpiry runs on a server whose uploads expire as soon as they are
// created (UPLOAD_EXPIRY=1ns): HEAD and PATCH answer 410.
func testTusExpiry(t *testing.T, h *tusHarness) {
	loc := h.create(uniqueID(t, "expired"), 10)
	expectStatus(t, h.tus(http.MethodHead, loc, nil, nil), http.StatusGone)
	expectProblem(t, h.patch(loc, 0, []byte("0123"), nil), http.StatusGone, "upload_expired")
	expectStatus(t, h.tus(http.MethodDelete, loc, nil, nil), http.StatusNoContent)
}
