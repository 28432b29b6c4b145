package httpapi

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/simpledrive/simpledrive/internal/blob"
)

// createResponse is the body of a 201 from POST /v1/blobs.
type createResponse struct {
	ID        string `json:"id"`
	Size      int64  `json:"size"`
	CreatedAt string `json:"created_at"`
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeProblem(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send the body as application/json")
			return
		}
	}
	body, err := a.readBody(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	req, err := parseCreateRequest(body, a.cfg.MaxBlobBytes)
	body = nil // let the encoded text go before the blob is stored
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b, err := a.svc.Create(r.Context(), req.id, bytes.NewReader(req.data), int64(len(req.data)))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Location", blobPrefix+url.PathEscape(b.ID))
	h.Set("ETag", etag(b))
	writeJSON(w, http.StatusCreated, createResponse{ID: b.ID, Size: b.Size, CreatedAt: timestamp(b)})
}

// readBody reads the whole request body, refusing one larger than the
// biggest blob can need; a refusal is errTooLarge, decided while reading.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > a.maxBody {
		return nil, errTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, a.maxBody)
	var buf []byte
	if r.ContentLength >= 0 {
		buf = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, bodyError(err)
		}
		// Content-Length is enforced by net/http; nothing may follow.
		return buf, nil
	}
	buf, err := io.ReadAll(body)
	if err != nil {
		return nil, bodyError(err)
	}
	return buf, nil
}

func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return errTooLarge
	}
	return invalidRequest("reading the request body: %v", err)
}

// peekSize is how much of a blob is read before a GET answers: a blob that
// fits is verified in full first, so its integrity faults get a proper 500.
const peekSize = 64 << 10

func (a *API) get(w http.ResponseWriter, r *http.Request, id string) {
	b, rc, err := a.svc.Get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer rc.Close()

	tag := etag(b)
	h := w.Header()
	h.Set("ETag", tag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	if match := r.Header.Get("If-None-Match"); match != "" && (match == tag || match == "*") {
		w.WriteHeader(http.StatusNotModified)
		return
	}

	idJSON := bytes.TrimSuffix(marshal(b.ID), []byte("\n"))
	prefix := append(append([]byte(`{"id":`), idJSON...), `,"data":"`...)
	suffix := []byte(`","size":` + strconv.FormatInt(b.Size, 10) + `,"created_at":"` + timestamp(b) + "\"}\n")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.FormatInt(int64(len(prefix))+int64(base64.StdEncoding.EncodedLen(int(b.Size)))+int64(len(suffix)), 10))
	if r.Method == http.MethodHead {
		return
	}

	br := bufio.NewReaderSize(rc, peekSize+1)
	if _, err := br.Peek(peekSize + 1); err != nil && err != io.EOF {
		a.fail(w, r, err)
		return
	}
	w.Write(prefix)
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := io.Copy(enc, br); err != nil {
		// The status is sent: all that is left is to cut the response short
		// of its Content-Length, so the client sees it fail.
		a.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "blob read failed mid-response",
			slog.String("error", err.Error()))
		panic(http.ErrAbortHandler)
	}
	enc.Close()
	w.Write(suffix)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body := marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// etag is the blob's entity tag: its SHA-256, quoted.
func etag(b blob.Blob) string { return `"` + b.SHA256 + `"` }

// timestamp formats the blob's creation time as RFC 3339 in UTC.
func timestamp(b blob.Blob) string { return b.CreatedAt.UTC().Format(time.RFC3339Nano) }
