package httpapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/upload"
)

// Resumable uploads: tus 1.0.0 (https://tus.io/protocols/resumable-upload)
// with the extensions creation, creation-with-upload, creation-defer-length,
// termination, expiration and checksum (sha256), implemented here over
// package upload rather than with tusd (see package upload for why).
//
//	OPTIONS /v1/uploads[/{upload_id}]   capabilities
//	POST    /v1/uploads                 create (and, with a body, write)
//	HEAD    /v1/uploads/{upload_id}     offset, length, metadata, expiry
//	PATCH   /v1/uploads/{upload_id}     write at Upload-Offset
//	DELETE  /v1/uploads/{upload_id}     terminate
//
// Errors are problem documents wherever the protocol lets a response have
// a body; 460 (checksum mismatch) is tus's own status.

const (
	uploadsPath   = "/v1/uploads"
	uploadsPrefix = "/v1/uploads/"

	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum"
	offsetStream  = "application/offset+octet-stream"
	// maxMetadataBytes bounds the Upload-Metadata header kept with an upload.
	maxMetadataBytes = 4 << 10
	// statusChecksumMismatch is tus's status for a write whose bytes fail
	// their Upload-Checksum.
	statusChecksumMismatch = 460
)

// tusHeader is on every response of the tus routes.
var tusHeader = http.Header{"Tus-Resumable": {tusVersion}}

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

// uploadsRoute serves the tus endpoints; rest is the path after
// /v1/uploads/ ("" for the collection).
func (a *API) uploadsRoute(w http.ResponseWriter, r *http.Request, rest string) {
	if a.cfg.Uploads == nil {
		writeProblem(w, http.StatusNotFound, codeNotFound, "resumable uploads are not configured")
		return
	}
	collection := rest == ""
	h := w.Header()
	if r.Method == http.MethodOptions {
		h.Set("Tus-Version", tusVersion)
		h.Set("Tus-Extension", tusExtensions)
		h.Set("Tus-Max-Size", strconv.FormatInt(a.cfg.Uploads.MaxSize(), 10))
		h.Set("Tus-Checksum-Algorithm", "sha256")
		h.Set("Tus-Resumable", tusVersion)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Tus-Resumable", tusVersion)
	methods := []string{http.MethodOptions, http.MethodHead, http.MethodPatch, http.MethodDelete}
	if collection {
		methods = []string{http.MethodOptions, http.MethodPost}
	}
	if !slices.Contains(methods, r.Method) {
		h.Set("Allow", strings.Join(methods, ", "))
		writeProblem(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, r.Method+" is not allowed here")
		return
	}
	if v := r.Header.Get("Tus-Resumable"); v != tusVersion {
		h.Set("Tus-Version", tusVersion)
		writeProblem(w, http.StatusPreconditionFailed, codeTusVersion, "send Tus-Resumable: 1.0.0; this server speaks tus 1.0.0 only")
		return
	}
	id := strings.TrimPrefix(rest, "/")
	switch r.Method {
	case http.MethodPost:
		a.createUpload(w, r)
	case http.MethodHead:
		a.headUpload(w, r, id)
	case http.MethodPatch:
		a.patchUpload(w, r, id)
	case http.MethodDelete:
		if err := a.cfg.Uploads.Terminate(r.Context(), id); err != nil {
			a.failUpload(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// createUpload serves POST /v1/uploads: creation, with the bytes of the
// body when it is application/offset+octet-stream (creation-with-upload).
func (a *API) createUpload(w http.ResponseWriter, r *http.Request) {
	length, err := uploadLength(r.Header, true)
	if err != nil {
		a.failUpload(w, r, err)
		return
	}
	raw := r.Header.Get("Upload-Metadata")
	md, err := parseMetadata(raw)
	if err != nil {
		a.failUpload(w, r, err)
		return
	}
	id, ok := metadataBlobID(md)
	if !ok {
		a.failUpload(w, r, invalidRequest("Upload-Metadata must carry the blob's id (key id, or filename)"))
		return
	}
	contentType, err := storedType(md["content_type"])
	if err == nil && md["content_type"] == "" && md["filetype"] != "" {
		contentType, err = storedType(md["filetype"]) // Uppy's and tus-js-client examples' key
	}
	if err != nil {
		a.failUpload(w, r, err)
		return
	}
	withBody := r.Header.Get("Content-Type") == offsetStream
	if !withBody && r.ContentLength > 0 {
		a.failUpload(w, r, errUnsupportedMedia)
		return
	}
	info, err := a.cfg.Uploads.Create(r.Context(), upload.New{
		BlobID: id, ContentType: contentType, Length: length, Metadata: raw, Creator: grantFrom(r).principal.KeyID,
	})
	if err != nil {
		a.failUpload(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Location", uploadsPrefix+info.ID)
	if withBody && r.ContentLength != 0 && !info.Finished {
		sum, err := uploadChecksum(r.Header)
		if err == nil {
			info, err = a.cfg.Uploads.Write(r.Context(), info.ID, upload.Write{Body: r.Body, Size: r.ContentLength, Length: -1, SHA256: sum})
		}
		if err != nil {
			a.failUpload(w, r, err) // the upload exists: Location lets the client resume
			return
		}
	}
	setUploadHeaders(h, info)
	w.WriteHeader(http.StatusCreated)
}

// headUpload serves HEAD /v1/uploads/{upload_id}.
func (a *API) headUpload(w http.ResponseWriter, r *http.Request, id string) {
	info, err := a.cfg.Uploads.Get(r.Context(), id)
	if err != nil {
		a.failUpload(w, r, err)
		return
	}
	h := w.Header()
	setUploadHeaders(h, info)
	if info.Length < 0 {
		h.Set("Upload-Defer-Length", "1")
	} else {
		h.Set("Upload-Length", strconv.FormatInt(info.Length, 10))
	}
	if info.Metadata != "" {
		h.Set("Upload-Metadata", info.Metadata)
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// patchUpload serves PATCH /v1/uploads/{upload_id}: the body is written at
// Upload-Offset.
func (a *API) patchUpload(w http.ResponseWriter, r *http.Request, id string) {
	if ct := r.Header.Get("Content-Type"); ct != offsetStream {
		a.failUpload(w, r, errUnsupportedMedia)
		return
	}
	offset, err := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		a.failUpload(w, r, invalidRequest("Upload-Offset must be a non-negative integer"))
		return
	}
	length, err := uploadLength(r.Header, false)
	if err != nil {
		a.failUpload(w, r, err)
		return
	}
	sum, err := uploadChecksum(r.Header)
	if err != nil {
		a.failUpload(w, r, err)
		return
	}
	info, err := a.cfg.Uploads.Write(r.Context(), id, upload.Write{
		Offset: offset, Body: r.Body, Size: r.ContentLength, Length: length, SHA256: sum,
	})
	if err != nil {
		if errors.Is(err, upload.ErrOffsetMismatch) {
			w.Header().Set("Upload-Offset", strconv.FormatInt(info.Offset, 10))
		}
		a.failUpload(w, r, err)
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
		return 0, invalidRequest("send Upload-Length or Upload-Defer-Length, not both")
	case v == "" && creation && deferred != "1":
		return 0, invalidRequest("send Upload-Length, or Upload-Defer-Length: 1")
	case v == "":
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v[0] == '+' {
		return 0, invalidRequest("Upload-Length must be a non-negative integer")
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
		return nil, invalidRequest("Upload-Checksum: only sha256 is supported (Tus-Checksum-Algorithm)")
	}
	sum, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(sum) != 32 {
		return nil, invalidRequest("Upload-Checksum: the sha256 value is not 32 bytes of base64")
	}
	return sum, nil
}

// parseMetadata parses Upload-Metadata: comma-separated pairs of a key and
// its base64 value (the value may be absent). Keys are unique ASCII
// without spaces or commas; values must be valid UTF-8 to be used.
func parseMetadata(header string) (map[string]string, error) {
	md := map[string]string{}
	if len(header) > maxMetadataBytes {
		return nil, invalidRequest("Upload-Metadata is longer than %d bytes", maxMetadataBytes)
	}
	if strings.TrimSpace(header) == "" {
		return md, nil
	}
	for pair := range strings.SplitSeq(header, ",") {
		key, enc, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" {
			return nil, invalidRequest("Upload-Metadata: an empty key")
		}
		if _, dup := md[key]; dup {
			return nil, invalidRequest("Upload-Metadata: key %q appears twice", truncate([]byte(key)))
		}
		val, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
		if err != nil {
			return nil, invalidRequest("Upload-Metadata: the value of %q is not base64", truncate([]byte(key)))
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
var errUnsupportedMedia = errors.New("httpapi: want Content-Type: application/offset+octet-stream")

// failUpload answers an error of a tus route, so that a client sending a
// body the server did not read can read it (refuseBody).
func (a *API) failUpload(w http.ResponseWriter, r *http.Request, err error) {
	defer refuseBody(w, r)()
	switch {
	case errors.Is(err, errUnsupportedMedia):
		writeProblem(w, http.StatusUnsupportedMediaType, codeUnsupportedMedia, "tus writes are sent as Content-Type: application/offset+octet-stream")
	case errors.Is(err, upload.ErrNotFound):
		writeProblem(w, http.StatusNotFound, codeUploadNotFound, "no upload has this id")
	case errors.Is(err, upload.ErrExpired):
		writeProblem(w, http.StatusGone, codeUploadExpired, "the upload expired before it was finished; start a new one")
	case errors.Is(err, upload.ErrLocked):
		writeProblem(w, http.StatusLocked, codeUploadLocked, "another request is writing this upload; ask its offset with HEAD and retry")
	case errors.Is(err, upload.ErrOffsetMismatch):
		writeProblem(w, http.StatusConflict, codeOffsetMismatch, "Upload-Offset is not the upload's offset; ask it with HEAD")
	case errors.Is(err, upload.ErrChecksumMismatch):
		w.Header().Set("Cache-Control", "no-store")
		writeTitledProblem(w, statusChecksumMismatch, "Checksum Mismatch", codeChecksumMismatch, "the bytes do not have the Upload-Checksum sent; nothing of them was kept")
	case errors.Is(err, upload.ErrTooLarge):
		w.Header().Set("Tus-Max-Size", strconv.FormatInt(a.cfg.Uploads.MaxSize(), 10))
		writeProblem(w, http.StatusRequestEntityTooLarge, codeTooLarge, "the bytes exceed the upload's length or the server's size limit")
	case errors.Is(err, upload.ErrTooMany):
		writeProblem(w, http.StatusTooManyRequests, codeTooManyUploads,
			"as many uploads are open as the server allows (MAX_OPEN_UPLOADS per key, MAX_OPEN_UPLOADS_TOTAL in all); finish or terminate one, or wait for one to expire")
	case errors.Is(err, upload.ErrInvalid):
		writeProblem(w, http.StatusBadRequest, codeInvalidRequest, strings.TrimPrefix(err.Error(), upload.ErrInvalid.Error()+": "))
	default:
		a.fail(w, r, err)
	}
}

// writeTitledProblem writes a problem document for a status net/http has
// no text for.
func writeTitledProblem(w http.ResponseWriter, status int, title, code, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	body := marshal(problem{Title: title, Status: status, Detail: detail, Code: code})
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
