package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/simpledrive/simpledrive/internal/blob"
	"github.com/simpledrive/simpledrive/internal/httpx"
)

// blobObject is the JSON form of a blob in every endpoint after the seed's
// (DESIGN section 7).
type blobObject struct {
	ID          string `json:"id"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
	CreatedAt   string `json:"created_at"`
}

func newBlobObject(b blob.Blob) blobObject {
	return blobObject{ID: b.ID, Size: b.Size, SHA256: b.SHA256, ContentType: b.ContentType, CreatedAt: timestamp(b)}
}

// meta serves GET /v1/blobs/{id}?meta=1: the blob object, from metadata.
func (a *API) meta(w http.ResponseWriter, r *http.Request, id string) {
	b, err := a.svc.Stat(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	setCacheHeaders(w, b)
	writeJSON(w, http.StatusOK, newBlobObject(b))
}

// put serves PUT /v1/blobs/{id}: the body is the blob's bytes, streamed to
// the backend whatever its size. With If-Match it replaces the blob
// (write and delete scopes; 412 when nothing matches), otherwise it
// creates one (409 when the id is taken).
func (a *API) put(w http.ResponseWriter, r *http.Request, id string) {
	if err := blob.ValidateID(id); err != nil {
		a.fail(w, r, err)
		return
	}
	if r.ContentLength > a.cfg.MaxUploadBytes {
		a.fail(w, r, httpx.ErrTooLarge)
		return
	}
	contentType, err := httpx.StoredType(r.Header.Get("Content-Type"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	digest, err := contentDigest(r.Header.Values("Content-Digest"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cond, err := putCondition(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body := http.MaxBytesReader(w, r.Body, a.cfg.MaxUploadBytes)
	u := blob.Upload{ID: id, Body: body, Size: r.ContentLength, ContentType: contentType, SHA256: digest}
	var b blob.Blob
	if cond.replace {
		b, err = a.svc.Replace(r.Context(), u, cond.matches)
	} else {
		b, err = a.svc.Store(r.Context(), u)
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			err = httpx.ErrTooLarge
		}
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", blobPrefix+url.PathEscape(b.ID))
	setCacheHeaders(w, b)
	writeJSON(w, http.StatusCreated, newBlobObject(b))
}

// storedType returns the media type a PUT stores (package httpx's,
// shared with tus).

// contentDigest parses the Content-Digest header (RFC 9530) of an upload
// and returns the SHA-256 it announces, or nil when none is sent. Digests
// in other algorithms are ignored, as the RFC allows; a header with
// nothing the server can check, or a malformed one, is an error.
func contentDigest(values []string) ([]byte, error) {
	if len(values) == 0 {
		return nil, nil
	}
	var sum []byte
	for member := range strings.SplitSeq(strings.Join(values, ","), ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok {
			return nil, httpx.InvalidRequest("Content-Digest: %q is not algorithm=:base64:", httpx.Truncate([]byte(member)))
		}
		if strings.ToLower(name) != "sha-256" {
			continue
		}
		if len(value) < 2 || value[0] != ':' || value[len(value)-1] != ':' {
			return nil, httpx.InvalidRequest("Content-Digest: the sha-256 value must be a byte sequence, :base64:")
		}
		d, err := base64.StdEncoding.Strict().DecodeString(value[1 : len(value)-1])
		if err != nil || len(d) != 32 {
			return nil, httpx.InvalidRequest("Content-Digest: the sha-256 value is not 32 bytes of base64")
		}
		if sum != nil && !bytes.Equal(sum, d) {
			return nil, httpx.InvalidRequest("Content-Digest: two different sha-256 values")
		}
		sum = d
	}
	if sum == nil {
		return nil, httpx.InvalidRequest("Content-Digest: only sha-256 is supported")
	}
	return sum, nil
}

// remove serves DELETE /v1/blobs/{id}.
func (a *API) remove(w http.ResponseWriter, r *http.Request, id string) {
	if err := a.svc.Delete(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listResponse is the body of GET /v1/blobs.
type listResponse struct {
	Blobs      []blobObject `json:"blobs"`
	Prefixes   []string     `json:"prefixes"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// defaultListLimit is the page size of a listing without limit.
const defaultListLimit = 100

// list serves GET /v1/blobs?prefix=&delimiter=&limit=&cursor=.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > blob.MaxListLimit {
			a.fail(w, r, httpx.InvalidRequest("limit must be an integer from 1 to %d", blob.MaxListLimit))
			return
		}
		limit = n
	}
	// The access decision narrowed the prefix to the key's (fromQuery).
	d := grantFrom(r).decision
	var page blob.Page
	if !d.ListNothing {
		var err error
		page, err = a.svc.List(r.Context(), blob.ListOptions{
			Prefix: d.ListPrefix, Delimiter: q.Get("delimiter"), Limit: limit, Cursor: q.Get("cursor"),
		})
		if err != nil {
			a.fail(w, r, err)
			return
		}
	}
	resp := listResponse{Blobs: make([]blobObject, 0, len(page.Blobs)), Prefixes: page.Prefixes, NextCursor: page.NextCursor}
	if resp.Prefixes == nil {
		resp.Prefixes = []string{}
	}
	for _, b := range page.Blobs {
		resp.Blobs = append(resp.Blobs, newBlobObject(b))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// blobQuery names the form of a GET or HEAD of /v1/blobs/{id} by its query
// q: "media" (alt=media), "meta" (meta=1) or "json" (the seed's form).
func blobQuery(q url.Values) (string, error) {
	switch alt := q.Get("alt"); {
	case alt == "media":
		return "media", nil
	case alt != "" && alt != "json":
		return "", httpx.InvalidRequest("alt must be media or json, got %q", httpx.Truncate([]byte(alt)))
	case q.Get("meta") == "1":
		return "meta", nil
	}
	return "json", nil
}
