// Package tusapi serves resumable uploads: tus 1.0.0 (https://tus.io/protocols/resumable-upload)
// with the extensions creation, creation-with-upload, creation-defer-length,
// termination, expiration and checksum (sha256), implemented here over
// package upload rather than with tusd (see package upload for why).
//
// It is a protocol beside the native API (package httpapi), mounted on
// the native API's route table, which decides every request with package
// access before [Handler.Serve] runs: a creation by the blob id of its
// Upload-Metadata ([Handler.CreationTarget]), every other request by the
// blob id the upload recorded at its creation ([Handler.UploadTarget]).
//
//	OPTIONS /v1/uploads[/{upload_id}]   capabilities
//	POST    /v1/uploads                 create (and, with a body, write)
//	HEAD    /v1/uploads/{upload_id}     offset, length, metadata, expiry
//	PATCH   /v1/uploads/{upload_id}     write at Upload-Offset
//	DELETE  /v1/uploads/{upload_id}     terminate
//
// Errors are problem documents wherever the protocol lets a response have
// a body; 460 (checksum mismatch) is tus's own status.
package tusapi

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/access"
	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
	"github.com/simpledrive/simpledrive/internal/upload"
)

const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum"
	offsetStream  = "application/offset+octet-stream"
	// maxMetadataBytes bounds the Upload-Metadata header kept with an upload.
	maxMetadataBytes = 4 << 10
	// statusChecksumMismatch is tus's status for a write whose bytes fail
	// their Upload-Checksum.
	statusChecksumMismatch = 460
)

// Header returns the header every response of the tus routes carries,
// refusals included.
func (h *Handler) Header() http.Header { return http.Header{"Tus-Resumable": {tusVersion}} }

// Problem codes of the tus routes.
const (
	codeUploadNotFound   = "upload_not_found"
	codeUploadExpired    = "upload_expired"
	codeUploadLocked     = "upload_locked"
	codeOffsetMismatch   = "offset_mismatch"
	codeChecksumMismatch = "checksum_mismatch"
	codeTusVersion       = "unsupported_tus_version"
	codeTooManyUploads   = "too_many_uploads"
)

// Handler serves the tus protocol over an [upload.Service].
type Handler struct {
	uploads *upload.Service
	log     *slog.Logger
}

// New returns the Handler of uploads, logging server-side failures to log.
func New(uploads *upload.Service, log *slog.Logger) *Handler {
	return &Handler{uploads: uploads, log: log}
}

// CreationTarget is what a creation (POST) touches: the blob id of its
// Upload-Metadata (key id, or filename). Metadata without a valid id
// touches nothing; [Handler.Serve] then refuses it (400) without creating
// anything.
func (h *Handler) CreationTarget(r *http.Request) access.Target {
	md, err := parseMetadata(r.Header.Get("Upload-Metadata"))
	if err != nil {
		return access.Target{}
	}
	id, ok := metadataBlobID(md)
	if !ok {
		return access.Target{}
	}
	return access.Target{Kind: access.BlobID, ID: id}
}

// UploadTarget is what a request on the upload rest (the path after the
// collection's) touches: the blob id the upload recorded at its creation,
// expired or not. An upload that does not exist touches no blob:
// [Handler.Serve] answers what the protocol says of it (404, or 405 on the
// collection).
func (h *Handler) UploadTarget(ctx context.Context, rest string) (access.Target, error) {
	info, err := h.uploads.Get(ctx, strings.TrimPrefix(rest, "/"))
	switch {
	case errors.Is(err, upload.ErrNotFound):
		return access.Target{}, nil
	case err != nil && !errors.Is(err, upload.ErrExpired):
		return access.Target{}, err
	}
	return access.Target{Kind: access.BlobID, ID: info.BlobID}, nil
}

// Serve serves an authorized tus request; rest is the path after the
// collection's ("" for the collection). Its errors, including rest's
// upload failing to be looked up by [Handler.UploadTarget], are answered
// by [Handler.Fail].
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, rest string) {
	collection := rest == ""
	hdr := w.Header()
	if r.Method == http.MethodOptions {
		hdr.Set("Tus-Version", tusVersion)
		hdr.Set("Tus-Extension", tusExtensions)
		hdr.Set("Tus-Max-Size", strconv.FormatInt(h.uploads.MaxSize(), 10))
		hdr.Set("Tus-Checksum-Algorithm", "sha256")
		hdr.Set("Tus-Resumable", tusVersion)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	hdr.Set("Tus-Resumable", tusVersion)
	methods := []string{http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodDelete}
	if collection {
		methods = []string{http.MethodOptions, http.MethodPost}
	}
	if !slices.Contains(methods, r.Method) {
		hdr.Set("Allow", strings.Join(methods, ", "))
		httpx.WriteProblem(w, http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed, r.Method+" is not allowed here")
		return
	}
	if v := r.Header.Get("Tus-Resumable"); v != tusVersion {
		hdr.Set("Tus-Version", tusVersion)
		httpx.WriteProblem(w, http.StatusPreconditionFailed, codeTusVersion, "send Tus-Resumable: 1.0.0; this server speaks tus 1.0.0 only")
		return
	}
	id := strings.TrimPrefix(rest, "/")
	switch r.Method {
	case http.MethodPost:
		h.createUpload(w, r)
	case http.MethodHead:
		h.headUpload(w, r, id)
	case http.MethodPatch:
		h.patchUpload(w, r, id)
	case http.MethodDelete:
		if err := h.uploads.Terminate(r.Context(), id); err != nil {
			h.Fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// createUpload serves POST /v1/uploads: creation, with the bytes of the
// body when it is application/offset+octet-stream (creation-with-upload).
func (h *Handler) createUpload(w http.ResponseWriter, r *http.Request) {
	length, err := uploadLength(r.Header, true)
	if err != nil {
		h.Fail(w, r, err)
		return
	}
	raw := r.Header.Get("Upload-Metadata")
	md, err := parseMetadata(raw)
	if err != nil {
		h.Fail(w, r, err)
		return
	}
	id, ok := metadataBlobID(md)
	if !ok {
		h.Fail(w, r, httpx.InvalidRequest("Upload-Metadata must carry the blob's id (key id, or filename)"))
		return
	}
	contentType, err := httpx.StoredType(md["content_type"])
	if err == nil && md["content_type"] == "" && md["filetype"] != "" {
		contentType, err = httpx.StoredType(md["filetype"]) // Uppy's and tus-js-client examples' key
	}
	if err != nil {
		h.Fail(w, r, err)
		return
	}
	withBody := r.Header.Get("Content-Type") == offsetStream
	if !withBody && r.ContentLength > 0 {
		h.Fail(w, r, errUnsupportedMedia)
		return
	}
	info, err := h.uploads.Create(r.Context(), upload.New{
		BlobID: id, ContentType: contentType, Length: length, Metadata: raw, Creator: access.FromContext(r.Context()).KeyID,
	})
	if err != nil {
		h.Fail(w, r, err)
		return
	}
	hdr := w.Header()
	hdr.Set("Location", strings.TrimSuffix(r.URL.Path, "/")+"/"+info.ID)
	if withBody && r.ContentLength != 0 && !info.Finished {
		sum, err := uploadChecksum(r.Header)
		if err == nil {
			info, err = h.uploads.Write(r.Context(), info.ID, upload.Write{Body: r.Body, Size: r.ContentLength, Length: -1, SHA256: sum})
		}
		if err != nil {
			h.Fail(w, r, err) // the upload exists: Location lets the client resume
			return
		}
	}
	setUploadHeaders(hdr, info)
	w.WriteHeader(http.StatusCreated)
}

// headUpload serves HEAD /v1/uploads/{upload_id}.
func (h *Handler) headUpload(w http.ResponseWriter, r *http.Request, id string) {
	info, err := h.uploads.Get(r.Context(), id)
	if err != nil {
		h.Fail(w, r, err)
		return
	}
	hdr := w.Header()
	setUploadHeaders(hdr, info)
	if info.Length < 0 {
		hdr.Set("Upload-Defer-Length", "1")
	} else {
		hdr.Set("Upload-Length", strconv.FormatInt(info.Length, 10))
	}
	if info.Metadata != "" {
		hdr.Set("Upload-Metadata", info.Metadata)
	}
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// patchUpload serves PATCH /v1/uploads/{upload_id}: the body is written at
// Upload-Offset.
func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, id string) {
	if ct := r.Header.Get("Content-Type"); ct != offsetStream {
		h.Fail(w, r, errUnsupportedMedia)
		return
	}
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		h.Fail(w, r, httpx.InvalidRequest("Upload-Offset must be a non-negative integer"))
		return
	}
	length, err := uploadLength(r.Header, false)
	if err != nil {
		h.Fail(w, r, err)
		return
	}
	sum, err := uploadChecksum(r.Header)
	if err != nil {
		h.Fail(w, r, err)
		return
	}
	info, err := h.uploads.Write(r.Context(), id, upload.Write{
		Offset: offset, Body: r.Body, Size: r.ContentLength, Length: length, SHA256: sum,
	})
	if err != nil {
		if errors.Is(err, upload.ErrOffsetMismatch) {
			w.Header().Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
		}
		h.Fail(w, r, err)
		return
	}
	setUploadHeaders(w.Header(), info)
	w.WriteHeader(http.StatusNoContent)
}

func setUploadHeaders(h http.Header, info upload.Info) {
	h.Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
	if !info.Finished {
		h.Set("Upload-Expires", info.ExpiresAt.UTC().Format(http.TimeFormat))
	}
}

// uploadLength reads Upload-Length, or on creation Upload-Defer-Length: 1
// instead (-1). Outside creation a missing Upload-Length gives -1.
func uploadLength(h http.Header, creation bool) (int64, error) {
	v, deferred := h.Get("Upload-Length"), h.Get("Upload-Defer-Length")
	switch {
	case v != "" && deferred != "":
		return 0, httpx.InvalidRequest("send Upload-Length or Upload-Defer-Length, not both")
	case v == "" && creation && deferred != "1":
		return 0, httpx.InvalidRequest("send Upload-Length, or Upload-Defer-Length: 1")
	case v == "":
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v[0] == '+' {
		return 0, httpx.InvalidRequest("Upload-Length must be a non-negative integer")
	}
	return n, nil
}

// uploadChecksum reads Upload-Checksum: "sha256 <base64>"; other
// algorithms are refused (tus: 400).
func uploadChecksum(h http.Header) ([]byte, error) {
	v := h.Get("Upload-Checksum")
	if v == "" {
		return nil, nil
	}
	alg, enc, _ := strings.Cut(v, " ")
	if alg != "sha256" {
		return nil, httpx.InvalidRequest("Upload-Checksum: only sha256 is supported (Tus-Checksum-Algorithm)")
	}
	sum, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(sum) != 32 {
		return nil, httpx.InvalidRequest("Upload-Checksum: the sha256 value is not 32 bytes of base64")
	}
	return sum, nil
}

// parseMetadata parses Upload-Metadata: comma-separated pairs of a key and
// its base64 value (the value may be absent). Keys are unique ASCII
// without spaces or commas; values must be valid UTF-8 to be used.
func parseMetadata(header string) (map[string]string, error) {
	md := map[string]string{}
	if len(header) > maxMetadataBytes {
		return nil, httpx.InvalidRequest("Upload-Metadata is longer than %d bytes", maxMetadataBytes)
	}
	if strings.TrimSpace(header) == "" {
		return md, nil
	}
	for pair := range strings.SplitSeq(header, ",") {
		key, enc, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" {
			return nil, httpx.InvalidRequest("Upload-Metadata: an empty key")
		}
		if _, dup := md[key]; dup {
			return nil, httpx.InvalidRequest("Upload-Metadata: key %q appears twice", httpx.Truncate([]byte(key)))
		}
		val, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return nil, httpx.InvalidRequest("Upload-Metadata: the value of %q is not base64", httpx.Truncate([]byte(key)))
		}
		if !utf8.Valid(val) && (key == "id" || key == "filename") {
			return nil, blob.ErrInvalidID
		}
		md[key] = string(val)
	}
	return md, nil
}

// metadataBlobID returns the blob id of an upload's metadata: its id, or
// its filename.
func metadataBlobID(md map[string]string) (string, bool) {
	id, ok := md["id"]
	if !ok {
		id, ok = md["filename"]
	}
	return id, ok
}

// errUnsupportedMedia is a write whose Content-Type is not tus's.
var errUnsupportedMedia = errors.New("tusapi: want Content-Type: application/offset+octet-stream")

// Fail answers an error of a tus request, so that a client sending a body
// the server did not read can read the answer ([httpx.RefuseBody]).
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, err error) {
	defer httpx.RefuseBody(w, r)()
	switch {
	case errors.Is(err, errUnsupportedMedia):
		httpx.WriteProblem(w, http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia, "tus writes are sent as Content-Type: application/offset+octet-stream")
	case errors.Is(err, upload.ErrNotFound):
		httpx.WriteProblem(w, http.StatusNotFound, codeUploadNotFound, "no upload has this id")
	case errors.Is(err, upload.ErrExpired):
		httpx.WriteProblem(w, http.StatusGone, codeUploadExpired, "the upload expired before it was finished; start a new one")
	case errors.Is(err, upload.ErrLocked):
		httpx.WriteProblem(w, http.StatusLocked, codeUploadLocked, "another request is writing this upload; ask its offset with HEAD and retry")
	case errors.Is(err, upload.ErrOffsetMismatch):
		httpx.WriteProblem(w, http.StatusConflict, codeOffsetMismatch, "Upload-Offset is not the upload's offset; ask it with HEAD")
	case errors.Is(err, upload.ErrChecksumMismatch):
		w.Header().Set("Cache-Control", "no-store")
		httpx.WriteTitledProblem(w, statusChecksumMismatch, "Checksum Mismatch", codeChecksumMismatch, "the bytes do not have the Upload-Checksum sent; nothing of them was kept")
	case errors.Is(err, upload.ErrTooLarge):
		w.Header().Set("Tus-Max-Size", strconv.FormatInt(h.uploads.MaxSize(), 10))
		httpx.WriteProblem(w, http.StatusRequestEntityTooLarge, httpx.CodeTooLarge, "the bytes exceed the upload's length or the server's size limit")
	case errors.Is(err, upload.ErrTooMany):
		httpx.WriteProblem(w, http.StatusTooManyRequests, codeTooManyUploads,
			"as many uploads are open as the server allows (MAX_OPEN_UPLOADS per key, MAX_OPEN_UPLOADS_TOTAL in all); finish or terminate one, or wait for one to expire")
	case errors.Is(err, upload.ErrInvalid):
		httpx.WriteProblem(w, http.StatusBadRequest, httpx.CodeInvalidRequest, strings.TrimPrefix(err.Error(), upload.ErrInvalid.Error()+": "))
	default:
		httpx.Fail(h.log, w, r, err)
	}
}
