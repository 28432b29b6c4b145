package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
)

// mediaBlock is the copy buffer of a raw download from a backend other
// than local files (which copy themselves, see media), and the most of a
// blob that is read, and so verified, before the response starts.
const mediaBlock = 256 << 10

var mediaBlocks = sync.Pool{New: func() any { return new([mediaBlock]byte) }}

// media serves GET and HEAD of /v1/blobs/{id}?alt=media: the raw bytes,
// with the conditional requests and single byte ranges of RFC 9110, from
// metadata alone until the bytes are needed; q is the request's query.
func (a *API) media(w http.ResponseWriter, r *http.Request, id string, q url.Values) {
	obj, err := a.svc.Open(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b := obj.Blob
	h := w.Header()
	setHeaders(h, "Etag", etag(b), "Cache-Control", immutable, "Last-Modified", b.CreatedAt.UTC().Format(http.TimeFormat),
		"Accept-Ranges", "bytes", "X-Content-Type-Options", "nosniff")
	if q.Get("download") == "1" {
		h.Set("Content-Disposition", attachment(b.ID))
	}
	switch checkPreconditions(r, b) {
	case http.StatusPreconditionFailed:
		httpx.WriteProblem(w, http.StatusPreconditionFailed, httpx.CodePreconditionFailed, "the blob does not match the request's preconditions")
		return
	case http.StatusNotModified:
		h.Del("Content-Disposition")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	offset, length, partial, err := byteRange(r, b)
	if err != nil {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(b.Size, 10))
		httpx.WriteProblem(w, http.StatusRequestedRangeNotSatisfiable, httpx.CodeRangeNotSatisfiable, err.Error())
		return
	}
	setHeaders(h, "Content-Type", b.ContentType, "Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, b.Size))
	} else {
		setDigestHeaders(h, b)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}

	var rc io.ReadCloser
	if partial {
		rc, err = obj.RangeReader(r.Context(), offset, length)
	} else {
		rc, err = obj.Reader(r.Context())
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer rc.Close()
	if wt, ok := rc.(io.WriterTo); ok && partial {
		// A range of a local file whose size was found to be the blob's
		// (blob.Handle.RangeReader): it goes out by sendfile, in one call
		// under the stall watch (progressWriter.ReadFrom), and a length
		// short of the range still cuts the response.
		w.WriteHeader(status)
		if _, err := wt.WriteTo(w); err != nil {
			a.abort(w, midResponseLevel(err), "sending a range failed mid-response", err)
		}
		return
	}
	if wt, ok := rc.(io.WriterTo); ok {
		// A whole local file, or a whole encrypted blob, writes itself out
		// (blob's fileVerifier and sealedWhole: a block of up to a MiB at a
		// time, checked before it is written, the last only once the whole
		// blob matched its checksum or its stored bytes ended after their
		// final segment). The status goes out with the first byte, so a
		// blob found corrupt within the first block still gets its error
		// status.
		hw := &headOnWrite{ResponseWriter: w, status: status}
		_, err := wt.WriteTo(hw)
		switch {
		case err != nil && !hw.sent:
			a.fail(w, r, err)
		case err != nil:
			a.abort(w, midResponseLevel(err), "sending a blob failed mid-response", err)
		case !hw.sent:
			w.WriteHeader(status) // an empty blob
		}
		return
	}
	buf := mediaBlocks.Get().(*[mediaBlock]byte)
	defer mediaBlocks.Put(buf)
	// The first block is read before answering: a blob that fits in it is
	// read to its end, where the reader verifies it before handing over its
	// last bytes, so corruption still gets its error status. Of a longer
	// blob the reader holds back the last bytes until they verify, and a
	// failure cuts the response short of its Content-Length.
	n, err := io.ReadFull(rc, buf[:min(length, mediaBlock)])
	if err == nil && int64(n) == length {
		var probe [1]byte
		_, err = io.ReadFull(rc, probe[:]) // io.EOF; of an empty blob, the read that verifies it
	}
	if err != nil && err != io.EOF {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(status)
	if _, werr := w.Write(buf[:n]); werr != nil {
		a.abort(w, slog.LevelInfo, "client went away mid-response", werr)
	}
	if int64(n) == length {
		return
	}
	if _, cerr := io.CopyBuffer(writerOnly{w}, readerOnly{rc}, buf[:]); cerr != nil {
		a.abort(w, slog.LevelError, "blob read failed mid-response", cerr)
	}
}

// midResponseLevel is the log level of err, which cut a response short:
// an error for stored bytes that failed their check or could not be read,
// information for the rest (most likely, the client went away).
func midResponseLevel(err error) slog.Level {
	if errors.Is(err, blob.ErrCorrupt) || errors.As(err, new(*os.PathError)) {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// setDigestHeaders sets the checksums of a whole blob's bytes (RFC 9530
// Repr-Digest, and S3's x-amz-checksum-crc32c when the CRC-32C is
// recorded): a client can check what it received without trusting the
// transport. The server has verified them before the last byte is sent.
func setDigestHeaders(h http.Header, b blob.Blob) {
	sha, err := hex.DecodeString(b.SHA256)
	if err != nil {
		return
	}
	digest := "sha-256=:" + base64.StdEncoding.EncodeToString(sha) + ":"
	if b.HasCRC32C {
		crc := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, b.CRC32C))
		digest += ", crc32c=:" + crc + ":"
		h.Set("X-Amz-Checksum-Crc32c", crc)
	}
	h.Set("Repr-Digest", digest)
}

// headOnWrite writes the response's head, with status, just before its
// first byte of body.
type headOnWrite struct {
	http.ResponseWriter
	status int
	sent   bool
}

func (h *headOnWrite) Write(p []byte) (int, error) {
	if !h.sent {
		h.sent = true
		h.ResponseWriter.WriteHeader(h.status)
	}
	return h.ResponseWriter.Write(p)
}

// writerOnly and readerOnly hide ReadFrom and WriteTo, so io.CopyBuffer
// uses the pooled buffer.
type (
	writerOnly struct{ io.Writer }
	readerOnly struct{ io.Reader }
)

// checkPreconditions evaluates the conditional headers of a GET or HEAD in
// the order of RFC 9110 section 13.2.2, returning 412, 304 or 0 (go on).
func checkPreconditions(r *http.Request, b blob.Blob) int {
	tag := etag(b)
	modified := b.CreatedAt.UTC().Truncate(time.Second)
	if im := r.Header.Get("If-Match"); im != "" {
		if !etagListMatches(im, tag, true) {
			return http.StatusPreconditionFailed
		}
	} else if ius, err := http.ParseTime(r.Header.Get("If-Unmodified-Since")); err == nil && modified.After(ius) {
		return http.StatusPreconditionFailed
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagListMatches(inm, tag, false) {
			return http.StatusNotModified
		}
	} else if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !modified.After(ims) {
		return http.StatusNotModified
	}
	return 0
}

// etagListMatches reports whether a list of entity tags (or "*") matches
// tag, by strong comparison (If-Match) or weak comparison (If-None-Match).
func etagListMatches(header, tag string, strong bool) bool {
	for candidate := range strings.SplitSeq(header, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" {
			return true
		}
		if strings.HasPrefix(candidate, "W/") {
			if strong {
				continue
			}
			candidate = candidate[2:]
		}
		if candidate == tag {
			return true
		}
	}
	return false
}

// errRange is a Range header that cannot be served.
var errRange = errors.New("httpapi: bad range")

// byteRange returns the part of b that r asks for: the whole blob unless r
// is a GET or HEAD with a single byte range that If-Range (when present)
// allows. Several ranges are answered with the whole blob. A malformed or
// unsatisfiable range is an error, answered 416.
func byteRange(r *http.Request, b blob.Blob) (offset, length int64, partial bool, err error) {
	spec := r.Header.Get("Range")
	if spec == "" || !ifRange(r, b) {
		return 0, b.Size, false, nil
	}
	unit, set, ok := strings.Cut(spec, "=")
	if !ok || strings.TrimSpace(unit) != "bytes" {
		return 0, 0, false, fmt.Errorf("%w: only byte ranges (bytes=first-last) are served", errRange)
	}
	if strings.Contains(set, ",") {
		return 0, b.Size, false, nil // several ranges: the whole blob
	}
	first, last, ok := strings.Cut(strings.TrimSpace(set), "-")
	if !ok {
		return 0, 0, false, fmt.Errorf("%w: %q is not first-last, first- or -suffix", errRange, set)
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 || last[0] == '+' {
			return 0, 0, false, fmt.Errorf("%w: bad suffix length %q", errRange, last)
		}
		if n == 0 || b.Size == 0 {
			return 0, 0, false, fmt.Errorf("%w: an empty suffix of a %d-byte blob", errRange, b.Size)
		}
		n = min(n, b.Size)
		return b.Size - n, n, true, nil
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 || first[0] == '+' {
		return 0, 0, false, fmt.Errorf("%w: bad first byte %q", errRange, first)
	}
	if start >= b.Size {
		return 0, 0, false, fmt.Errorf("%w: the blob has %d bytes", errRange, b.Size)
	}
	end := b.Size - 1
	if last != "" {
		e, err := strconv.ParseInt(last, 10, 64)
		if err != nil || e < start || last[0] == '+' {
			return 0, 0, false, fmt.Errorf("%w: bad last byte %q", errRange, last)
		}
		end = min(e, end)
	}
	return start, end - start + 1, true, nil
}

// ifRange reports whether a Range header may be honoured: If-Range is
// absent or names the blob, by strong entity tag or exact date.
func ifRange(r *http.Request, b blob.Blob) bool {
	ir := r.Header.Get("If-Range")
	switch {
	case ir == "":
		return true
	case strings.HasPrefix(ir, `"`):
		return ir == etag(b)
	}
	t, err := http.ParseTime(ir)
	return err == nil && t.Equal(b.CreatedAt.UTC().Truncate(time.Second))
}

// attachment is the Content-Disposition of a download: the id's last
// segment as file name, in RFC 6266 encoding (filename* for non-ASCII).
func attachment(id string) string {
	name := path.Base(strings.TrimRight(id, "/"))
	if name == "." || name == "/" || name == "" {
		name = "blob"
	}
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
